package agent

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// Condition is a trigger over live values: an expression such as
// `tank.level < 20 || tank.temperature > 70`, where each "device.point" is
// the point's latest good value. It fires when it becomes true, then not
// again until it has re-armed and its cooldown has passed. It re-arms when
// its reset expression is true (hysteresis: `tank.level > 25`), or, with no
// reset expression, as soon as it is false. A point with no good value
// makes the expression false and does not re-arm it.
type Condition struct {
	when, reset *vm.Program
	reads       reads // the values the expressions read
	cooldown    time.Duration
	every       time.Duration

	mu    sync.Mutex
	armed bool
	last  time.Time // when it last fired
}

// DefaultCheckEvery is how often a condition is evaluated.
const DefaultCheckEvery = 250 * time.Millisecond

// CompileCondition compiles a condition. Reset may be empty; every is how
// often it is checked (zero: DefaultCheckEvery).
func CompileCondition(when, reset string, cooldown, every time.Duration) (*Condition, error) {
	c := &Condition{cooldown: cooldown, every: every, armed: true}
	if c.every <= 0 {
		c.every = DefaultCheckEvery
	}
	var err error
	if c.when, err = CompileExpr(when); err != nil {
		return nil, fmt.Errorf("agent: condition: %w", err)
	}
	c.reads = readsOf(c.when)
	if strings.TrimSpace(reset) != "" {
		if c.reset, err = CompileExpr(reset); err != nil {
			return nil, fmt.Errorf("agent: condition reset: %w", err)
		}
		c.reads.add(readsOf(c.reset))
	}
	return c, nil
}

// reads is what an expression reads of the live values: for each device it
// names, the points it names, or nil when it uses the device as a whole.
// A condition is evaluated four times a second: its environment holds what
// it reads, not every value of a gateway of 100,000 points.
type reads map[string]map[string]bool

// add merges o into r.
func (r reads) add(o reads) {
	for dev, pts := range o {
		switch cur, seen := r[dev]; {
		case seen && cur == nil:
		case pts == nil:
			r[dev] = nil
		default:
			if cur == nil {
				cur = make(map[string]bool)
				r[dev] = cur
			}
			for p := range pts {
				cur[p] = true
			}
		}
	}
}

// readsOf walks a compiled expression for the device.point values it
// reads.
func readsOf(p *vm.Program) reads {
	v := &readsVisitor{r: reads{}, bases: map[*ast.IdentifierNode]bool{}}
	root := p.Node()
	ast.Walk(&root, v)
	// Children are visited before their parents: an identifier is known
	// to be the device of a device.point only once the walk is done.
	for _, id := range v.idents {
		if !v.bases[id] {
			v.r[id.Value] = nil
		}
	}
	return v.r
}

type readsVisitor struct {
	r      reads
	idents []*ast.IdentifierNode
	bases  map[*ast.IdentifierNode]bool // identifiers used as device.point's device
}

func (v *readsVisitor) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		v.idents = append(v.idents, n)
	case *ast.MemberNode:
		id, ok := n.Node.(*ast.IdentifierNode)
		prop, isName := n.Property.(*ast.StringNode)
		if !ok || !isName {
			return
		}
		v.bases[id] = true
		v.r.add(reads{id.Value: {prop.Value: true}})
	}
}

// CompileExpr compiles one boolean expression over "device.point" values.
func CompileExpr(src string) (*vm.Program, error) {
	if strings.TrimSpace(src) == "" {
		return nil, fmt.Errorf("empty expression")
	}
	return expr.Compile(src, expr.AsBool(), expr.AllowUndefinedVariables())
}

// Fire evaluates the condition against the live values at now and reports
// whether an episode should start.
func (c *Condition) Fire(live *Live, now time.Time) bool {
	env := live.env(c.reads)
	on, ok := eval(c.when, env)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.armed {
		if c.reset != nil {
			if r, rok := eval(c.reset, env); rok && r {
				c.armed = true
			}
		} else if ok && !on {
			c.armed = true
		}
		if !c.armed {
			return false
		}
	}
	if !ok || !on {
		return false
	}
	if !c.last.IsZero() && now.Sub(c.last) < c.cooldown {
		return false // stays armed: fires once the cooldown has passed
	}
	c.armed = false
	c.last = now
	return true
}

// eval runs a program; ok is false when it fails (a value missing).
func eval(p *vm.Program, env map[string]any) (result, ok bool) {
	out, err := expr.Run(p, env)
	if err != nil {
		return false, false
	}
	b, isBool := out.(bool)
	return b, isBool
}

// env is the live values r reads as an expression environment:
// env["tank"]["level"]. Only good values are present.
func (l *Live) env(r reads) map[string]any {
	l.mu.RLock()
	defer l.mu.RUnlock()
	env := make(map[string]any, len(r))
	for dev, points := range r {
		d := l.devices[dev]
		if d == nil {
			continue
		}
		m := make(map[string]any, len(points))
		if points == nil {
			d.each(func(name string, v drivers.Value) { m[name] = v.Any() })
		}
		for p := range points {
			if i, ok := d.position(p); ok {
				if v := d.vals[i]; v.seen && v.quality == drivers.QualityGood {
					m[p] = v.value.Any()
				}
			}
		}
		if len(m) > 0 {
			env[dev] = m
		}
	}
	return env
}
