// Command capi is Sextant's C ABI: built with go build -buildmode=c-archive
// (a static library, libsextant.a) or -buildmode=c-shared (libsextant.so), it
// exports the functions sextant.h declares — open a .sxm bundle, inspect its
// inputs and outputs, predict into caller-owned buffers, close — for hosts
// that are not Go: Swift and Objective-C apps through a module map, Android
// apps through a JNI shim, any C or C++ program. docs/host-integration.md
// shows each route.
//
// # The ABI
//
// Errors are sextant_status codes plus a message written into a buffer the
// caller passes (err, errlen). A model is an opaque sextant_model handle,
// a small C allocation holding a cgo.Handle to the Go state, so no Go
// pointer ever crosses to C. Inputs and outputs are dense row-major float32
// tensors in caller memory: sextant_predict copies the inputs into the
// session's aligned tensors (the engine reads inputs in place and needs them
// aligned and unchanging), runs, and copies the outputs out, so the library
// keeps no pointer to the caller's buffers after a call returns.
//
// sextant_set_exposure registers the process's exposure callback (the Go
// SDK's Config.Exposure): a C function pointer and a user pointer, called
// through a small C trampoline once per model version, on the thread of
// the first successful sextant_predict of that version, after the handle's
// lock is released; an optional state file (bounded, fuzzed) remembers the
// versions exposed across processes.
//
// # Threads
//
// Each handle owns one engine.Session guarded by a mutex: calls on one handle
// from several threads are safe and serialized. A host wanting parallel
// inference opens the bundle once per thread; the memory-mapped weights are
// shared between handles by the page cache.
//
// # Header
//
// sextant.h is written by hand, with const where the library only reads and
// with documentation; the header the Go tool generates next to the library
// declares the same functions without const. TestHeaderMatchesGenerated keeps
// the two in step, and the cgo preamble includes sextant.h with
// SEXTANT_TYPES_ONLY so that both declare one set of types.
//
// The package is not linked by phone builds of the Go SDK (a Go app imports
// the device packages directly); it is only the boundary for other languages.
package main

// main is required by -buildmode=c-archive and c-shared and never runs.
func main() {}
