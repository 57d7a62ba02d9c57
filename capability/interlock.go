package capability

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// argsIdent is the identifier under which an interlock reads the call's
// arguments: args.value.
const argsIdent = "args"

// maxInterlockNodes bounds the size of one interlock expression.
const maxInterlockNodes = 256

// interlock is one compiled interlock of a capability.
type interlock struct {
	src  string
	prog *vm.Program
	// points are the "device.point" keys it reads, sorted; args the
	// argument names.
	points []string
	args   []string
}

// InterlockError is an interlock that does not compile. Line and Column
// count from 1 within the expression.
type InterlockError struct {
	// Index is the interlock's position in the capability's list.
	Index        int
	Line, Column int
	Err          error
}

// Error says where in the expression the problem is.
func (e *InterlockError) Error() string {
	return fmt.Sprintf("interlock #%d: %d:%d: %v", e.Index+1, e.Line, e.Column, e.Err)
}

// Unwrap returns the problem.
func (e *InterlockError) Unwrap() error { return e.Err }

// argKinds maps each argument a capability takes to whether it is
// boolean.
type argKinds map[string]bool

// CheckInterlocks compiles the interlocks of s against devices and returns
// one *InterlockError for each that does not compile: a syntax error, an
// unknown device.point or argument, a builtin that is not offered, or a
// result that is not boolean. The config package reports them with their
// positions; New refuses them the same way.
func CheckInterlocks(s Spec, devices []drivers.DeviceConfig) []*InterlockError {
	var errs []*InterlockError
	kinds := specArgKinds(s, devices)
	for i, src := range s.Interlocks {
		if _, err := compileInterlock(i, src, devices, kinds); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// specArgKinds derives the argument kinds of a spec from its devices, as
// far as it can; New checks the spec itself.
func specArgKinds(s Spec, devices []drivers.DeviceConfig) argKinds {
	point := func(dev, pt string) (drivers.PointConfig, bool) {
		for i := range devices {
			if devices[i].Name == dev {
				return devices[i].Point(pt)
			}
		}
		return drivers.PointConfig{}, false
	}
	kinds := argKinds{}
	switch s.Kind {
	case KindWrite:
		name := s.Argument
		if name == "" {
			name = defaultArgument
		}
		pt, _ := point(s.Device, s.Point)
		kinds[name] = isBool(pt)
	case KindSequence:
		for _, a := range s.Arguments {
			kinds[a.Name] = false
		}
		for _, st := range s.Steps {
			if pt, ok := point(st.Device, st.Point); ok && st.Argument != "" && isBool(pt) {
				kinds[st.Argument] = true
			}
		}
	}
	return kinds
}

// compileInterlock compiles one interlock. Point values are float64 or
// bool by the point's type; arguments likewise.
func compileInterlock(index int, src string, devices []drivers.DeviceConfig, kinds argKinds) (*interlock, *InterlockError) {
	fail := func(line, col int, err error) (*interlock, *InterlockError) {
		return nil, &InterlockError{Index: index, Line: line, Column: col, Err: err}
	}
	if strings.TrimSpace(src) == "" {
		return fail(1, 1, errors.New("empty expression"))
	}
	env := make(map[string]any)
	idents := make(map[string]map[string]string) // device ident -> point ident -> key
	for _, d := range devices {
		di := identOf(d.Name)
		if idents[di] == nil {
			idents[di] = make(map[string]string)
		}
		for _, p := range d.All() {
			key := d.Name + "." + p.Name
			idents[di][identOf(p.Name)] = key
			if isBool(p) {
				env[key] = false
			} else {
				env[key] = 0.0
			}
		}
	}
	argKeys := make(map[string]string, len(kinds))
	for name, b := range kinds {
		key := argsIdent + "." + name
		argKeys[identOf(name)] = key
		if b {
			env[key] = false
		} else {
			env[key] = 0.0
		}
	}
	p := &namePatcher{idents: idents, args: argKeys, used: map[string]bool{}}
	prog, err := expr.Compile(src,
		expr.Env(env),
		expr.AsBool(),
		expr.Patch(p),
		expr.DisableAllBuiltins(),
		expr.EnableBuiltin("abs"), expr.EnableBuiltin("min"), expr.EnableBuiltin("max"),
		expr.EnableBuiltin("ceil"), expr.EnableBuiltin("floor"), expr.EnableBuiltin("round"),
		expr.MaxNodes(maxInterlockNodes),
	)
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			return fail(max(fe.Line, 1), fe.Column+1, errors.New(fe.Message))
		}
		return fail(1, 1, err)
	}
	il := &interlock{src: src, prog: prog}
	for key := range p.used {
		if name, ok := strings.CutPrefix(key, argsIdent+"."); ok && kinds != nil {
			if _, isArg := kinds[name]; isArg {
				il.args = append(il.args, name)
				continue
			}
		}
		il.points = append(il.points, key)
	}
	slices.Sort(il.points)
	slices.Sort(il.args)
	return il, nil
}

// identOf is how a device, point or argument name is written in an
// expression: '-' becomes '_'.
func identOf(name string) string { return strings.ReplaceAll(name, "-", "_") }

// namePatcher rewrites device.point and args.NAME member accesses into the
// flat keys of the evaluation environment, and records which it used.
type namePatcher struct {
	idents map[string]map[string]string
	args   map[string]string
	used   map[string]bool
}

// Visit patches one node.
func (p *namePatcher) Visit(node *ast.Node) {
	m, ok := (*node).(*ast.MemberNode)
	if !ok || m.Method {
		return
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok {
		return
	}
	prop, ok := m.Property.(*ast.StringNode)
	if !ok {
		return
	}
	var key string
	if id.Value == argsIdent {
		key, ok = p.args[prop.Value]
	} else {
		key, ok = p.idents[id.Value][prop.Value]
	}
	if !ok {
		// Left as it is, the checker reports the unknown name.
		key = id.Value + "." + prop.Value
	}
	p.used[key] = true
	n := &ast.IdentifierNode{Value: key}
	ast.Patch(node, n)
	// Problems point at the device or args name, not at the dot.
	n.SetLocation(id.Location())
}

// holds evaluates the interlock in env on machine m. An error (a value of
// the wrong type at run time) counts as not holding.
func (il *interlock) holds(m *vm.VM, env map[string]any) (bool, error) {
	out, err := m.Run(il.prog, env)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	return ok && b, nil
}
