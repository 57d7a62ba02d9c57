package capability

// SchemaVerdicts parses args and returns the verdict of the hand check
// Decide makes and that of the compiled JSON schema on the named
// capability; parsed is false when the text does not parse or names no
// capability.
func SchemaVerdicts(g *Gate, name, args string) (hand, schema, parsed bool) {
	e, ok := g.entries[name]
	if !ok {
		return false, false, false
	}
	v, err := parseArgs(args)
	if err != nil {
		return false, false, false
	}
	return e.argsMatch(v), e.schema.Validate(v) == nil, true
}
