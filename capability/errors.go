package capability

import "fmt"

// SpecError is one problem New found in one capability. New returns every
// problem it finds, joined; the config package can place each at its
// position in the commissioning file through Index and Field.
type SpecError struct {
	// Index is the capability's position in the specs given to New.
	Index int
	// Name is the capability's name as written, possibly empty.
	Name string
	// Field names the field at fault: "name", "kind", "device", "point",
	// "points", "argument", "min" or "max".
	Field string
	// Err says what is wrong.
	Err error
}

// Error names the capability, the field and the problem.
func (e *SpecError) Error() string {
	if e.Name == "" {
		return fmt.Sprintf("capability #%d: %s: %v", e.Index+1, e.Field, e.Err)
	}
	return fmt.Sprintf("capability %q: %s: %v", e.Name, e.Field, e.Err)
}

// Unwrap returns the problem.
func (e *SpecError) Unwrap() error { return e.Err }

// AllowError is one problem New found in a principal's allow list.
type AllowError struct {
	// Principal is whose list it is.
	Principal Principal
	// Index is the entry's position in that list, or -1 for a problem with
	// the principal itself.
	Index int
	// Name is the entry as written.
	Name string
	// Err says what is wrong.
	Err error
}

// Error names the principal, the entry and the problem.
func (e *AllowError) Error() string {
	if e.Index < 0 {
		return fmt.Sprintf("capability: principal %q: %v", e.Principal, e.Err)
	}
	return fmt.Sprintf("capability: principal %q: allow %q: %v", e.Principal, e.Name, e.Err)
}

// Unwrap returns the problem.
func (e *AllowError) Unwrap() error { return e.Err }
