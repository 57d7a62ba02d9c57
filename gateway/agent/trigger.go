package agent

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
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
	if strings.TrimSpace(reset) != "" {
		if c.reset, err = CompileExpr(reset); err != nil {
			return nil, fmt.Errorf("agent: condition reset: %w", err)
		}
	}
	return c, nil
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
	env := live.env()
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

// env is the live values as an expression environment: env["tank"]["level"].
// Only good values are present.
func (l *Live) env() map[string]any {
	l.mu.RLock()
	defer l.mu.RUnlock()
	env := make(map[string]any, len(l.devices))
	for _, d := range l.devices {
		var m map[string]any
		d.each(func(name string, v drivers.Value) {
			if m == nil {
				m = make(map[string]any)
				env[d.name] = m
			}
			m[name] = v.Any()
		})
	}
	return env
}
