// {{title}}: a Wasmbay plugin in Go, with the Wasmbay Go SDK (package wasmbay).
//
// Implement wasmbay.Plugin (plus Initializer, Shutdowner or HealthChecker if you
// need them) and register it in an init function; `wasmbay build` compiles it for
// the contract version in wasmbay.toml (the same source serves v1 and v2). Only
// the standard library is available (no module proxy); files in granted folders
// open with os.ReadFile and friends by their guest path.
package main

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"wasmbay"
)

type greeter struct {
	greeting string
}

func (g *greeter) Metadata() wasmbay.Metadata {
	return wasmbay.Metadata{
		Name:        "{{name}}",
		Version:     "0.1.0",
		Description: "Greets whoever you name",
		// v2: ask for what the plugin needs, with a reason the user will read:
		// Capabilities: []wasmbay.Capability{wasmbay.FSRead("/data", "reads the files you pick")},
	}
}

func (g *greeter) Initialize(config wasmbay.Pairs) error {
	g.greeting = "Hello"
	if value, ok := config.Get("greeting"); ok {
		g.greeting = value
	}
	if strings.TrimSpace(g.greeting) == "" {
		return wasmbay.NotConfigured("the greeting is empty: set it with `wasmbay config ID greeting=Hi`")
	}
	wasmbay.Logf(wasmbay.LevelInfo, "{{name}} ready (greeting: %s)", g.greeting)
	return nil
}

func (g *greeter) Process(req wasmbay.Request) (wasmbay.Response, error) {
	if req.Input == "" {
		return wasmbay.Response{}, wasmbay.InvalidInput("input is empty: type a name")
	}
	return wasmbay.Response{
		Output: g.greeting + ", " + req.Input + "!",
		// v2 only; dropped under v1
		Attributes: wasmbay.Pairs{{Key: "chars", Value: strconv.Itoa(utf8.RuneCountInString(req.Input))}},
	}, nil
}

func (g *greeter) Shutdown() error {
	wasmbay.Logf(wasmbay.LevelInfo, "{{name}} shutting down")
	return nil
}

func init() { wasmbay.Register(&greeter{}) }

// main is never called: the component is a reactor whose exports the host calls.
func main() {}
