// json-tool: formats, minifies, validates and queries JSON, written in Go with the
// Wasmbay Go SDK (standard library only). See README.md.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"wasmbay"
)

type jsonTool struct {
	indent int // the default indent (config "indent")
}

func (t *jsonTool) Metadata() wasmbay.Metadata {
	return wasmbay.Metadata{
		Name:        "json-tool",
		Version:     "1.0.0",
		Description: "Formats, minifies, validates and queries JSON (op=format|minify|validate|get)",
	}
}

func (t *jsonTool) Initialize(config wasmbay.Pairs) error {
	t.indent = 2
	if value, ok := config.Get("indent"); ok {
		n, err := parseIndent(value)
		if err != nil {
			return wasmbay.NotConfigured("config indent: %v", err)
		}
		t.indent = n
	}
	return nil
}

func parseIndent(value string) (int, error) {
	n, err := strconv.Atoi(value)
	if err != nil || n < 0 || n > 8 {
		return 0, fmt.Errorf("must be an integer 0..8, got %q", value)
	}
	return n, nil
}

func (t *jsonTool) Process(req wasmbay.Request) (wasmbay.Response, error) {
	op, indent, path := "format", t.indent, ""
	for _, kv := range req.Options {
		switch kv.Key {
		case "op":
			op = kv.Value
		case "indent":
			n, err := parseIndent(kv.Value)
			if err != nil {
				return wasmbay.Response{}, wasmbay.InvalidInput("option indent %v", err)
			}
			indent = n
		case "path":
			path = kv.Value
		default:
			return wasmbay.Response{}, wasmbay.InvalidInput("unknown option %q (use op, indent, path)", kv.Key)
		}
	}
	input := []byte(req.Input)
	value, err := decode(input)
	if err != nil {
		return wasmbay.Response{}, err
	}
	var out string
	switch op {
	case "format":
		var buf bytes.Buffer
		if indent == 0 {
			err = json.Compact(&buf, input)
		} else {
			err = json.Indent(&buf, bytes.TrimSpace(input), "", strings.Repeat(" ", indent))
		}
		out = buf.String()
	case "minify":
		var buf bytes.Buffer
		err = json.Compact(&buf, input)
		out = buf.String()
	case "validate":
		out = "valid JSON: " + describe(value)
	case "get":
		if path == "" {
			return wasmbay.Response{}, wasmbay.InvalidInput("op=get needs a path option, e.g. path=items.0.name")
		}
		found, err := lookup(value, path)
		if err != nil {
			return wasmbay.Response{}, err
		}
		value = found
		if s, ok := found.(string); ok {
			out = s
		} else {
			b, _ := json.Marshal(found)
			out = string(b)
		}
	default:
		return wasmbay.Response{}, wasmbay.InvalidInput("unknown op %q (use format, minify, validate, get)", op)
	}
	if err != nil {
		return wasmbay.Response{}, wasmbay.Internal("%s: %v", op, err)
	}
	wasmbay.Logf(wasmbay.LevelDebug, "%s: %d bytes in, %d bytes out", op, len(input), len(out))
	return wasmbay.Response{Output: out, Attributes: wasmbay.Pairs{
		{Key: "type", Value: kind(value)},
		{Key: "bytes-in", Value: strconv.Itoa(len(input))},
		{Key: "bytes-out", Value: strconv.Itoa(len(out))},
	}}, nil
}

// decode parses exactly one JSON value, reporting the line and column of an error.
func decode(input []byte) (any, error) {
	if len(bytes.TrimSpace(input)) == 0 {
		return nil, wasmbay.InvalidInput("empty input: expected a JSON value")
	}
	dec := json.NewDecoder(bytes.NewReader(input))
	dec.UseNumber()
	var value any
	err := dec.Decode(&value)
	if err == nil {
		rest := input[dec.InputOffset():]
		if trimmed := bytes.TrimLeft(rest, " \t\r\n"); len(trimmed) > 0 {
			at := dec.InputOffset() + int64(len(rest)-len(trimmed))
			return nil, invalidAt(input, at+1, "unexpected data after the JSON value")
		}
		return value, nil
	}
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return nil, invalidAt(input, syntax.Offset, syntax.Error())
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, invalidAt(input, int64(len(input))+1, "unexpected end of input")
	}
	return nil, wasmbay.InvalidInput("invalid JSON: %v", err)
}

func invalidAt(input []byte, offset int64, message string) error {
	// offset counts the bytes up to and including the offending character; past the
	// end it points just after the last one.
	past := 0
	if offset > int64(len(input)) {
		offset, past = int64(len(input)), 1
	}
	before := input[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	column := len([]rune(string(before[bytes.LastIndexByte(before, '\n')+1:]))) + past
	if column == 0 {
		column = 1
	}
	return wasmbay.InvalidInput("invalid JSON at line %d, column %d: %s", line, column, message)
}

// lookup follows a dotted path: object keys by name, array elements by index.
func lookup(value any, path string) (any, error) {
	walked := ""
	for _, step := range strings.Split(path, ".") {
		if walked != "" {
			walked += "."
		}
		walked += step
		switch v := value.(type) {
		case map[string]any:
			next, ok := v[step]
			if !ok {
				return nil, wasmbay.InvalidInput("path %s: no key %q", walked, step)
			}
			value = next
		case []any:
			i, err := strconv.Atoi(step)
			if err != nil || i < 0 || i >= len(v) {
				return nil, wasmbay.InvalidInput("path %s: index %q out of range (array of %d)", walked, step, len(v))
			}
			value = v[i]
		default:
			return nil, wasmbay.InvalidInput("path %s: %s has no members", walked, kind(v))
		}
	}
	return value, nil
}

func kind(value any) string {
	switch value.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	default:
		return "null"
	}
}

func describe(value any) string {
	switch v := value.(type) {
	case map[string]any:
		return fmt.Sprintf("object with %d keys", len(v))
	case []any:
		return fmt.Sprintf("array of %d elements", len(v))
	default:
		return kind(v)
	}
}

func init() { wasmbay.Register(&jsonTool{}) }

func main() {}
