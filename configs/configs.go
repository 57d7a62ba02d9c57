// Package configs holds the files that ship inside the binary: the JSON
// schema of the commissioning file, the demo gateway's config and the script
// its scripted brain plays.
//
// The files are plain bytes; package gateway/config parses and validates
// them. This package imports nothing but embed, so that holding the files
// costs no start-up time.
package configs

import "embed"

// FS holds schema.json, demo.yaml, demo-script.json and example.yaml, at the
// root. A config parsed from FS finds the files it names (such as the demo's
// script) beside it.
//
//go:embed schema.json demo.yaml demo-script.json example.yaml
var FS embed.FS

// Schema returns the JSON schema (draft 2020-12) of the commissioning file.
func Schema() []byte { return read("schema.json") }

// Demo returns the demo gateway's commissioning file.
func Demo() []byte { return read("demo.yaml") }

// DemoScript returns the script the demo's scripted brain plays.
func DemoScript() []byte { return read("demo-script.json") }

// Example returns the commented production-style example config.
func Example() []byte { return read("example.yaml") }

// read returns a copy of an embedded file, so that no caller can change what
// another one reads. The names are fixed by the embed directive above, so a
// missing file cannot happen at run time.
func read(name string) []byte {
	b, err := FS.ReadFile(name)
	if err != nil {
		return nil
	}
	return b
}
