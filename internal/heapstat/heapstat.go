// Package heapstat measures the live Go heap, for the tests that hold
// memory to a bound as a population grows.
package heapstat

import "runtime"

// Live is the heap still reachable after two full collections (the
// second empties sync.Pool's victim caches), in bytes.
func Live() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
