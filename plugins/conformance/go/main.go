// The Go conformance sample: implements tests/core/conformance/SPEC.md with the
// Wasmbay Go SDK. The same source builds for plugin-world v1 and v2.
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"wasmbay"
)

type conformance struct {
	greeting string
}

func (c *conformance) Metadata() wasmbay.Metadata {
	return wasmbay.Metadata{
		Name:        "conformance-go",
		Version:     "1.0.0",
		Description: "Wasmbay conformance sample (Go)",
		Capabilities: []wasmbay.Capability{
			wasmbay.FSRead("/data", "read:PATH reads files the user shares"),
		},
	}
}

func (c *conformance) Initialize(config wasmbay.Pairs) error {
	if _, reject := config.Get("reject"); reject {
		return wasmbay.NotConfigured("rejected by config")
	}
	c.greeting = "hello"
	if g, ok := config.Get("greeting"); ok {
		c.greeting = g
	}
	wasmbay.Logf(wasmbay.LevelInfo, "initialized with %d config entries", len(config))
	return nil
}

func (c *conformance) Process(req wasmbay.Request) (wasmbay.Response, error) {
	command, arg, _ := strings.Cut(req.Input, ":")
	res := wasmbay.Response{Attributes: wasmbay.Pairs{{Key: "lang", Value: "go"}}}
	switch {
	case command == "echo" && strings.Contains(req.Input, ":"):
		res.Output = arg
	case req.Input == "options":
		sorted := append(wasmbay.Pairs(nil), req.Options...)
		sort.Slice(sorted, func(i, j int) bool {
			if sorted[i].Key != sorted[j].Key {
				return sorted[i].Key < sorted[j].Key
			}
			return sorted[i].Value < sorted[j].Value
		})
		parts := make([]string, len(sorted))
		for i, kv := range sorted {
			parts[i] = kv.Key + "=" + kv.Value
		}
		res.Output = strings.Join(parts, ";")
	case command == "config" && strings.Contains(req.Input, ":"):
		value, ok := wasmbay.GetConfig(arg)
		if !ok {
			value = "<none>"
		}
		res.Output = value
	case req.Input == "greeting":
		res.Output = c.greeting
		if res.Output == "" {
			res.Output = "<uninitialized>"
		}
	case req.Input == "log":
		for level := wasmbay.LevelTrace; level <= wasmbay.LevelError; level++ {
			wasmbay.Logf(level, "conformance %s", level)
		}
		res.Output = "logged 5"
	case command == "event" && strings.Contains(req.Input, ":"):
		eventType, payload, found := strings.Cut(arg, ":")
		if !found {
			return res, wasmbay.InvalidInput("expected event:TYPE:PAYLOAD")
		}
		if err := wasmbay.EmitEvent(eventType, payload); err != nil {
			return res, wasmbay.Unavailable("emit-event failed: %v", err)
		}
		res.Output = "emitted"
	case req.Input == "fail":
		return res, wasmbay.InvalidInput("requested failure")
	case command == "read" && strings.Contains(req.Input, ":"):
		data, err := os.ReadFile(arg)
		if err != nil {
			return res, wasmbay.Unavailable("cannot read %s: %v", arg, unwrapPath(err))
		}
		res.Output = string(data)
	case req.Input == "trap":
		conformanceTrap()
	case req.Input == "request-id":
		res.Output = "<none>"
		if req.HasRequestID {
			res.Output = req.RequestID
		}
	default:
		return res, wasmbay.InvalidInput("unknown command: %s", req.Input)
	}
	return res, nil
}

// conformanceTrap crashes the plugin: a Go panic is a trap (SPEC.md, "trap").
//
//go:noinline
func conformanceTrap() {
	panic("requested trap")
}

// unwrapPath drops the "open PATH: " prefix os adds, leaving the reason.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return fmt.Errorf("%w", err)
}

func (c *conformance) Shutdown() error {
	wasmbay.Logf(wasmbay.LevelInfo, "conformance shutdown")
	return nil
}

func (c *conformance) Health() wasmbay.Health {
	return wasmbay.Health{Status: wasmbay.HealthOK, Detail: "ready"}
}

func init() { wasmbay.Register(&conformance{}) }

func main() {}
