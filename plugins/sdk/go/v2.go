//go:build wasmbay_wit2

package wasmbay

// plugin-world v2 (`toolsku:plugin-system@2.0.0`): exports and imports.

import "unsafe"

// WITVersion is the major version of the contract this build speaks.
const WITVersion = 2

//go:wasmimport toolsku:plugin-system/host-api@2.0.0 log
func importLog(level uint32, message string)

//go:wasmimport toolsku:plugin-system/host-api@2.0.0 get-config
func importGetConfig(key string, ret unsafe.Pointer)

//go:wasmimport toolsku:plugin-system/host-api@2.0.0 emit-event
func importEmitEvent(eventType, payload string, ret unsafe.Pointer)

func hostLog(level Level, message string) error {
	if level > LevelError {
		level = LevelInfo
	}
	importLog(uint32(level), message)
	return nil
}

func hostGetConfig(key string) (string, bool) {
	at := importArea()
	importGetConfig(key, addr(at))
	return takeOptionString(at)
}

func hostEmitEvent(eventType, payload string) error {
	at := importArea()
	importEmitEvent(eventType, payload, addr(at))
	return takeResultError("emit-event", at)
}

// plugin-error: u8 case, string@4.
func putPluginError(at uintptr, err error) {
	kind, message := kindAndMessage(err)
	if kind > KindInternal {
		kind = KindInternal
	}
	putU8(at, uint8(kind))
	putString(at+4, message)
}

// result<_, plugin-error>: u8 case, plugin-error@4.
func unitResult(at uintptr, err error) uint32 {
	if err != nil {
		putU8(at, 1)
		putPluginError(at+4, err)
	}
	return uint32(at)
}

//go:wasmexport toolsku:plugin-system/plugin-api@2.0.0#initialize
func exportInitialize(cfgPtr, cfgLen uint32) uint32 {
	at := beginExport()
	config := liftPairs(cfgPtr, cfgLen)
	released()
	return unitResult(at, initialize(config))
}

//go:wasmexport toolsku:plugin-system/plugin-api@2.0.0#shutdown
func exportShutdown() uint32 {
	return unitResult(beginExport(), shutdown())
}

// result<process-response, plugin-error>: u8 case; ok: output@4, attributes@12;
// err: plugin-error@4.
//
//go:wasmexport toolsku:plugin-system/plugin-api@2.0.0#process
func exportProcess(inPtr, inLen, optPtr, optLen, ridSome, ridPtr, ridLen uint32) uint32 {
	at := beginExport()
	req := Request{Input: liftString(inPtr, inLen), Options: liftPairs(optPtr, optLen)}
	if ridSome != 0 {
		req.RequestID, req.HasRequestID = liftString(ridPtr, ridLen), true
	}
	released()
	res, err := plugin().Process(req)
	if err != nil {
		putU8(at, 1)
		putPluginError(at+4, err)
	} else {
		putString(at+4, res.Output)
		putPairs(at+12, res.Attributes)
	}
	return uint32(at)
}

// plugin-metadata: name@0, version@8, description@16, capabilities@24;
// capability-request (20 bytes): capability (u8 case, string@4), reason@12.
//
//go:wasmexport toolsku:plugin-system/plugin-api@2.0.0#get-metadata
func exportGetMetadata() uint32 {
	at := beginExport()
	md := plugin().Metadata()
	putString(at, md.Name)
	putString(at+8, md.Version)
	putString(at+16, md.Description)
	p := list(at+24, len(md.Capabilities), 20)
	for i, c := range md.Capabilities {
		e := p + 20*uintptr(i)
		kind := c.Kind
		if kind > CapEnv {
			kind = CapNetwork
		}
		putU8(e, uint8(kind))
		if kind != CapNetwork {
			putString(e+4, c.Target)
		}
		putString(e+12, c.Reason)
	}
	return uint32(at)
}

// health-report: status u8@0, detail option<string>@4 (u8 case, string@8).
//
//go:wasmexport toolsku:plugin-system/plugin-api@2.0.0#health
func exportHealth() uint32 {
	at := beginExport()
	h := Health{Status: HealthOK}
	if checker, ok := plugin().(HealthChecker); ok {
		h = checker.Health()
	}
	if h.Status > HealthFailing {
		h.Status = HealthFailing
	}
	putU8(at, uint8(h.Status))
	if h.Detail != "" {
		putU8(at+4, 1)
		putString(at+8, h.Detail)
	}
	return uint32(at)
}
