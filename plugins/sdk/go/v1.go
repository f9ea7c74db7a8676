//go:build !wasmbay_wit2

package wasmbay

// plugin-world v1 (`toolsku:plugin-system`, unversioned): exports and imports.

import "unsafe"

// WITVersion is the major version of the contract this build speaks.
const WITVersion = 1

//go:wasmimport toolsku:plugin-system/host-api log-message
func importLogMessage(level, message string, ret unsafe.Pointer)

//go:wasmimport toolsku:plugin-system/host-api get-config
func importGetConfig(key string, ret unsafe.Pointer)

//go:wasmimport toolsku:plugin-system/host-api emit-event
func importEmitEvent(eventType, payload string, ret unsafe.Pointer)

func hostLog(level Level, message string) error {
	at := importArea()
	importLogMessage(level.String(), message, addr(at))
	return takeResultError("log-message", at)
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

// result<_, string>: u8 case, string@4.
func unitResult(at uintptr, err error) uint32 {
	if err != nil {
		_, message := kindAndMessage(err)
		putU8(at, 1)
		putString(at+4, message)
	}
	return uint32(at)
}

//go:wasmexport toolsku:plugin-system/plugin-api#initialize
func exportInitialize(cfgPtr, cfgLen uint32) uint32 {
	at := beginExport()
	config := liftPairs(cfgPtr, cfgLen)
	released()
	return unitResult(at, initialize(config))
}

//go:wasmexport toolsku:plugin-system/plugin-api#shutdown
func exportShutdown() uint32 {
	return unitResult(beginExport(), shutdown())
}

// process-response: output@0, success@8 (u8), error-message option<string>@12.
//
//go:wasmexport toolsku:plugin-system/plugin-api#process
func exportProcess(inPtr, inLen, optPtr, optLen uint32) uint32 {
	at := beginExport()
	req := Request{Input: liftString(inPtr, inLen), Options: liftPairs(optPtr, optLen)}
	released()
	res, err := plugin().Process(req)
	if err != nil {
		_, message := kindAndMessage(err)
		putString(at, "")
		putU8(at+12, 1)
		putString(at+16, message)
	} else {
		putString(at, res.Output)
		putU8(at+8, 1)
	}
	return uint32(at)
}

// plugin-metadata: name@0, version@8, description@16.
//
//go:wasmexport toolsku:plugin-system/plugin-api#get-metadata
func exportGetMetadata() uint32 {
	at := beginExport()
	md := plugin().Metadata()
	putString(at, md.Name)
	putString(at+8, md.Version)
	putString(at+16, md.Description)
	return uint32(at)
}
