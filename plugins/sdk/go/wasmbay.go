// Package wasmbay is the Wasmbay guest SDK for Go: plugin-world v1 and v2 without
// wit-bindgen.
//
// It implements the component model's canonical ABI for `toolsku:plugin-system`
// world `plugin-world` by hand, with the standard library only. The contract
// version is chosen when the plugin is built (`-tags wasmbay_wit2` for v2, nothing
// for v1); the plugin's own source is the same for both.
//
//	package main
//
//	import "wasmbay"
//
//	type echo struct{}
//
//	func (echo) Metadata() wasmbay.Metadata {
//		return wasmbay.Metadata{Name: "echo", Version: "1.0.0", Description: "Echoes its input"}
//	}
//
//	func (echo) Process(req wasmbay.Request) (wasmbay.Response, error) {
//		if req.Input == "" {
//			return wasmbay.Response{}, wasmbay.InvalidInput("input is empty")
//		}
//		wasmbay.Logf(wasmbay.LevelInfo, "echoing %d bytes", len(req.Input))
//		return wasmbay.Response{Output: req.Input}, nil
//	}
//
//	func init() { wasmbay.Register(echo{}) }
//
//	func main() {}
//
// A plugin registers itself in an init function: the module is a WASI reactor,
// so the runtime runs package initialisation once when the component starts and
// never calls main. `wasmbay build` compiles it with
// `GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared` and makes a component
// of it with `wasm-tools` and the WASI preview1 reactor adapter.
//
// The SDK reaches into the Go runtime (runtime.sbrk, see abi.go), so it is pinned
// to the Go version in GO_VERSION; the build warns when another Go is used.
package wasmbay

import (
	"errors"
	"fmt"
)

// Pair is one (key, value) entry of a configuration or of request options.
type Pair struct {
	Key, Value string
}

// Pairs is a list of entries, in the order the host sent them.
type Pairs []Pair

// Get returns the value of the first entry named key.
func (p Pairs) Get(key string) (string, bool) {
	for _, kv := range p {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return "", false
}

// Request is one call to process.
type Request struct {
	Input   string
	Options Pairs
	// RequestID is the caller's id for the request (v2 only); HasRequestID says
	// whether it sent one (never under v1).
	RequestID    string
	HasRequestID bool
}

// Option returns the value of option key, if the caller gave it.
func (r Request) Option(key string) (string, bool) { return r.Options.Get(key) }

// Response is what process answers on success.
type Response struct {
	Output string
	// Attributes are extra (key, value) results (v2 only; dropped under v1).
	Attributes Pairs
}

// CapabilityKind names what a capability request asks for.
type CapabilityKind uint8

const (
	CapFSRead CapabilityKind = iota
	CapFSWrite
	CapNetwork
	CapEnv
)

// Capability is something the plugin asks the user for, with the reason shown to
// them (reported in v2 metadata; ignored under v1). The host grants nothing by
// itself.
type Capability struct {
	Kind   CapabilityKind
	Target string // the guest path or variable name; empty for CapNetwork
	Reason string
}

// FSRead asks for read access to a folder, by the guest path the plugin expects.
func FSRead(path, reason string) Capability { return Capability{CapFSRead, path, reason} }

// FSWrite asks for read-write access to a folder, by guest path.
func FSWrite(path, reason string) Capability { return Capability{CapFSWrite, path, reason} }

// Network asks for outgoing network access.
func Network(reason string) Capability { return Capability{CapNetwork, "", reason} }

// Env asks for one environment variable, by name.
func Env(name, reason string) Capability { return Capability{CapEnv, name, reason} }

// Metadata describes the plugin.
type Metadata struct {
	Name, Version, Description string
	Capabilities               []Capability // v2 only
}

// HealthStatus is the answer to the v2 health probe.
type HealthStatus uint8

const (
	HealthOK HealthStatus = iota
	HealthDegraded
	HealthFailing
)

// Health is a health report; an empty Detail is sent as none.
type Health struct {
	Status HealthStatus
	Detail string
}

// Plugin is what a plugin implements. One instance serves one call at a time, so
// plain fields need no locking.
type Plugin interface {
	Metadata() Metadata
	Process(req Request) (Response, error)
}

// Initializer is implemented by plugins that read their configuration at start.
type Initializer interface {
	Initialize(config Pairs) error
}

// Shutdowner is implemented by plugins with something to clean up.
type Shutdowner interface {
	Shutdown() error
}

// HealthChecker is implemented by plugins that answer the v2 health probe
// themselves (otherwise the answer is HealthOK).
type HealthChecker interface {
	Health() Health
}

var registered Plugin

// Register names the plugin this component exports. Call it once, from an init
// function of package main.
func Register(p Plugin) {
	if registered != nil {
		panic("wasmbay: Register called twice")
	}
	registered = p
}

func plugin() Plugin {
	if registered == nil {
		panic("wasmbay: no plugin registered: call wasmbay.Register(yourPlugin) in an init function of package main")
	}
	return registered
}

// ErrorKind is the plugin-error case of an error (v2; v1 sends only the message).
type ErrorKind uint8

const (
	// KindInvalidInput: the request is wrong; retrying it will fail again.
	KindInvalidInput ErrorKind = iota
	// KindNotConfigured: configuration is missing or wrong; the user must fix it.
	KindNotConfigured
	// KindUnavailable: something the plugin needs is unavailable; a retry may succeed.
	KindUnavailable
	// KindInternal: a bug or unexpected state inside the plugin.
	KindInternal
)

// Error is a plugin error with its kind. Any other error a plugin returns is sent
// as KindInternal with its Error() text; an *Error wrapped inside it (errors.As)
// keeps its kind.
type Error struct {
	Kind    ErrorKind
	Message string
}

func (e *Error) Error() string { return e.Message }

// InvalidInput returns an error of kind KindInvalidInput (fmt.Sprintf formatting).
func InvalidInput(format string, args ...any) error {
	return &Error{KindInvalidInput, sprintf(format, args)}
}

// NotConfigured returns an error of kind KindNotConfigured.
func NotConfigured(format string, args ...any) error {
	return &Error{KindNotConfigured, sprintf(format, args)}
}

// Unavailable returns an error of kind KindUnavailable.
func Unavailable(format string, args ...any) error {
	return &Error{KindUnavailable, sprintf(format, args)}
}

// Internal returns an error of kind KindInternal.
func Internal(format string, args ...any) error {
	return &Error{KindInternal, sprintf(format, args)}
}

func sprintf(format string, args []any) string {
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}

// kindAndMessage is how an error goes over the wire: never an empty message.
func kindAndMessage(err error) (ErrorKind, string) {
	kind, message := KindInternal, err.Error()
	var e *Error
	if errors.As(err, &e) {
		kind = e.Kind
	}
	if message == "" {
		message = "error"
	}
	return kind, message
}

// Level is the level of a log line.
type Level uint8

const (
	LevelTrace Level = iota
	LevelDebug
	LevelInfo
	LevelWarn
	LevelError
)

var levelNames = [...]string{"trace", "debug", "info", "warn", "error"}

// String is the level's name in the contract ("info", ...).
func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return "info"
}

// Log sends one line to the host's log (the window's log view). Under v1 the host
// may refuse it: the error carries its reason.
func Log(level Level, message string) error { return hostLog(level, message) }

// Logf formats and logs one line, ignoring a refusal.
func Logf(level Level, format string, args ...any) {
	_ = hostLog(level, sprintf(format, args))
}

// GetConfig returns a configuration value (plain or a secret from the user's
// keyring), if the user set one.
func GetConfig(key string) (string, bool) { return hostGetConfig(key) }

// EmitEvent sends an event for the host (and the user's window) to see; the
// error carries the host's reason when it refuses.
func EmitEvent(eventType, payload string) error { return hostEmitEvent(eventType, payload) }

// HostError is the host's refusal of a host-api call; Error() is its reason.
type HostError struct {
	Call, Reason string
}

func (e *HostError) Error() string { return e.Reason }

func initialize(config Pairs) error {
	if p, ok := plugin().(Initializer); ok {
		return p.Initialize(config)
	}
	return nil
}

func shutdown() error {
	if p, ok := plugin().(Shutdowner); ok {
		return p.Shutdown()
	}
	return nil
}
