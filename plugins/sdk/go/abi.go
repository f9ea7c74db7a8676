package wasmbay

// Canonical ABI plumbing shared by v1 and v2 (wasm32 layouts: strings and lists
// are (ptr, len) pairs of u32; variants a u8 case then the payload at alignment 4).
//
// Memory is the delicate part. The host allocates argument memory by calling
// cabi_realloc while it copies arguments in, when the guest may call no import;
// Go's allocator can read the WASI clock, so cabi_realloc must never touch the Go
// heap. And the WASI preview1 adapter allocates its state during the runtime's own
// start (_initialize), before the Go heap exists. Both therefore get memory the Go
// runtime reserved for them with runtime.sbrk, which hands out address space the
// Go heap never uses: cabi_realloc_adapter (wit-component gives the adapter that
// export instead of cabi_realloc) from an arena that is never reset, cabi_realloc
// from a bump arena that is reset as soon as an export (or an import's result) has
// been copied into Go values. Results go the other way in Go-heap values that stay
// reachable (keep) until the next export starts, long after the host has read them.

import (
	"unsafe"
)

//go:linkname runtimeSbrk runtime.sbrk
func runtimeSbrk(n uintptr) unsafe.Pointer

// arena is a bump allocator over one sbrk'd block; a bigger request moves it to a
// new block (the old one stays valid: memory from sbrk is never given back).
type arena struct {
	base, off, size uintptr
}

const arenaChunk = 64 << 10

//go:nosplit
func (a *arena) alloc(size, align uintptr) uintptr {
	if align == 0 {
		align = 1
	}
	at := (a.base + a.off + align - 1) &^ (align - 1)
	if a.base == 0 || at+size > a.base+a.size {
		want := uintptr(arenaChunk)
		for want < size+align {
			want *= 2
		}
		p := uintptr(runtimeSbrk(want))
		if p == 0 {
			return 0 // out of memory: the host traps on the null pointer
		}
		a.base, a.off, a.size = p, 0, want
		at = (p + align - 1) &^ (align - 1)
	}
	a.off = at + size - a.base
	return at
}

var argArena, adapterArena arena

//go:nosplit
func realloc(a *arena, old, oldSize, align, newSize uint32) uint32 {
	if newSize == 0 {
		return align
	}
	p := a.alloc(uintptr(newSize), uintptr(align))
	if p != 0 && old != 0 && oldSize != 0 {
		n := oldSize
		if newSize < n {
			n = newSize
		}
		dst := unsafe.Slice((*byte)(unsafe.Pointer(p)), n)
		src := unsafe.Slice((*byte)(unsafe.Pointer(uintptr(old))), n)
		copy(dst, src)
	}
	return uint32(p)
}

//go:wasmexport cabi_realloc
//go:nosplit
func cabiRealloc(old, oldSize, align, newSize uint32) uint32 {
	return realloc(&argArena, old, oldSize, align, newSize)
}

//go:wasmexport cabi_realloc_adapter
//go:nosplit
func cabiReallocAdapter(old, oldSize, align, newSize uint32) uint32 {
	return realloc(&adapterArena, old, oldSize, align, newSize)
}

// released says the host's argument memory has been copied into Go values.
func released() { argArena.off = 0 }

// keep holds every result value the host has yet to read (until the next export).
var keep []any

// ret is the export return area (one call at a time per instance).
var ret [4]uint64

// beginExport drops the previous call's results and returns the cleared area.
func beginExport() uintptr {
	keep = keep[:0]
	ret = [4]uint64{}
	return uintptr(unsafe.Pointer(&ret))
}

func addr(p uintptr) unsafe.Pointer { return unsafe.Pointer(p) }

func u8(at uintptr) uint8           { return *(*uint8)(addr(at)) }
func u32(at uintptr) uint32         { return *(*uint32)(addr(at)) }
func putU8(at uintptr, v uint8)     { *(*uint8)(addr(at)) = v }
func putU32(at uintptr, v uint32)   { *(*uint32)(addr(at)) = v }

// liftString copies a string the host placed in guest memory into the Go heap.
func liftString(ptr, n uint32) string {
	if n == 0 {
		return ""
	}
	return string(unsafe.Slice((*byte)(addr(uintptr(ptr))), n))
}

// liftPairs copies list<tuple<string, string>> (16-byte elements).
func liftPairs(ptr, n uint32) Pairs {
	if n == 0 {
		return nil
	}
	out := make(Pairs, n)
	for i := range out {
		e := uintptr(ptr) + 16*uintptr(i)
		out[i] = Pair{liftString(u32(e), u32(e+4)), liftString(u32(e+8), u32(e+12))}
	}
	return out
}

// putString writes (ptr, len) of s at `at` and keeps s alive for the host.
func putString(at uintptr, s string) {
	if len(s) == 0 {
		putU32(at, 1)
		putU32(at+4, 0)
		return
	}
	keep = append(keep, s)
	putU32(at, uint32(uintptr(unsafe.Pointer(unsafe.StringData(s)))))
	putU32(at+4, uint32(len(s)))
}

// list allocates a zeroed, kept list of n elements of size bytes (alignment 4) and
// writes its (ptr, len) at `at`; returns its address.
func list(at uintptr, n, size int) uintptr {
	if n == 0 {
		putU32(at, 4)
		putU32(at+4, 0)
		return 4
	}
	words := make([]uint32, (n*size+3)/4)
	keep = append(keep, words)
	p := uintptr(unsafe.Pointer(&words[0]))
	putU32(at, uint32(p))
	putU32(at+4, uint32(n))
	return p
}

func putPairs(at uintptr, pairs Pairs) {
	p := list(at, len(pairs), 16)
	for i, kv := range pairs {
		putString(p+16*uintptr(i), kv.Key)
		putString(p+16*uintptr(i)+8, kv.Value)
	}
}

// importRet is the return area the guest hands to host imports.
var importRet [4]uint32

func importArea() uintptr {
	importRet = [4]uint32{}
	return uintptr(unsafe.Pointer(&importRet))
}

// takeOptionString lifts option<string> (u8 case, string@4) from an import's
// return area and releases the host's memory.
func takeOptionString(at uintptr) (string, bool) {
	if u8(at) == 0 {
		return "", false
	}
	s := liftString(u32(at+4), u32(at+8))
	released()
	return s, true
}

// takeResultError lifts result<_, string> from an import's return area.
func takeResultError(call string, at uintptr) error {
	reason, failed := takeOptionString(at) // same layout: u8 case, string@4
	if !failed {
		return nil
	}
	return &HostError{Call: call, Reason: reason}
}
