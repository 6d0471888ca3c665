package signing

import (
	"sync"
	"sync/atomic"
)

// Default bounds of the director's document cache.
//
// Sizing: a director document naming one bundle is about 0.6 KB of signed
// JSON and costs, with its slot and index entry, about 0.8 KB of heap
// (TestDirectorCacheBytes measures it: 831 bytes, 795 accounted). Caching
// every device of a 10-million-device registry would take ≈ 8 GB per
// replica; the defaults keep at most 512 MiB, about 650,000 documents:
// every device that checked in during the last ~23 minutes at that
// registry's average rate (10⁷ devices every 6 hours ≈ 460 check-ins/s),
// which covers a check-in and the director fetch that follows it, bursts
// of re-checking devices, and a load test's working set. A device whose
// document was evicted gets a freshly signed one (≈ 0.1 ms of CPU) at its
// next check-in. The entry bound rarely binds first; it caps the index
// for unusually small documents.
const (
	DefaultDirectorCacheBytes   = 512 << 20
	DefaultDirectorCacheEntries = 1 << 20
)

// docOverhead approximates the heap a cached document costs beyond its
// bytes and its device's name: the slot, the index entry and the
// allocation headers.
const docOverhead = 192

// docCache holds one signed document per device, bounded in entries and
// bytes, evicting with CLOCK (second chance): a hit sets its slot's
// reference bit under the read lock, allocation-free; an insertion into a
// full cache advances the hand, clearing set bits, to the first slot
// whose bit is clear and reuses it. Recently used documents survive one
// sweep of the hand; a stream of devices seen once evicts only documents
// not read since the hand last passed.
type docCache struct {
	maxEntries int
	maxBytes   int64

	// mu guards every field below; reference bits are atomics so that hits
	// set them under the read lock.
	mu    sync.RWMutex
	index map[string]int32 // device → slot
	slots []docSlot
	free  []int32 // empty slots (Forget, a byte-bound eviction)
	hand  int
	bytes int64
	// floor is the highest version of a document this cache dropped: a
	// device signed again after eviction gets a larger one.
	floor int64
	// evictions counts documents dropped to stay within the bounds.
	evictions int64
}

type docSlot struct {
	device string // "" when the slot is free
	fp     [32]byte
	doc    Document
	ref    atomic.Bool
}

func newDocCache(maxEntries int, maxBytes int64) *docCache {
	return &docCache{maxEntries: maxEntries, maxBytes: maxBytes, index: map[string]int32{}}
}

func docSize(device string, doc Document) int64 {
	return int64(len(device)+len(doc.Data)) + docOverhead
}

// get returns the device's cached document and fingerprint, marking it
// used. It does not allocate.
func (c *docCache) get(device string) (fp [32]byte, doc Document, ok bool) {
	c.mu.RLock()
	i, ok := c.index[device]
	if ok {
		s := &c.slots[i]
		fp, doc = s.fp, s.doc
		if !s.ref.Load() {
			s.ref.Store(true)
		}
	}
	c.mu.RUnlock()
	return fp, doc, ok
}

// lastVersion returns the version a new document for device must exceed:
// its cached document's, or the highest evicted one's.
func (c *docCache) lastVersion(device string) int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if i, ok := c.index[device]; ok {
		return max(c.slots[i].doc.Version, c.floor)
	}
	return c.floor
}

// putLocked caches doc for device, evicting as the bounds require. A
// document larger than the byte bound on its own is not cached. c.mu must
// be held for writing.
func (c *docCache) putLocked(device string, fp [32]byte, doc Document) {
	size := docSize(device, doc)
	if i, ok := c.index[device]; ok {
		s := &c.slots[i]
		c.bytes += size - docSize(s.device, s.doc)
		s.fp, s.doc = fp, doc
		s.ref.Store(true)
		for c.bytes > c.maxBytes && len(c.index) > 1 {
			c.evictLocked(i)
		}
		return
	}
	if size > c.maxBytes || c.maxEntries <= 0 {
		return
	}
	for len(c.index) > 0 && (len(c.index) >= c.maxEntries || c.bytes+size > c.maxBytes) {
		c.evictLocked(-1)
	}
	var i int32
	if n := len(c.free); n > 0 {
		i, c.free = c.free[n-1], c.free[:n-1]
	} else {
		c.slots = append(c.slots, docSlot{})
		i = int32(len(c.slots) - 1)
	}
	s := &c.slots[i]
	s.device, s.fp, s.doc = device, fp, doc
	// A new entry starts unreferenced: a device seen once is the first
	// to go, a device read again survives a sweep.
	s.ref.Store(false)
	c.index[device] = i
	c.bytes += size
}

// evictLocked drops the first unreferenced document at or after the hand
// (never slot keep), clearing reference bits on the way.
func (c *docCache) evictLocked(keep int32) {
	for {
		if c.hand >= len(c.slots) {
			c.hand = 0
		}
		i := int32(c.hand)
		c.hand++
		s := &c.slots[i]
		if s.device == "" || i == keep {
			continue
		}
		if s.ref.Load() {
			s.ref.Store(false)
			continue
		}
		c.removeLocked(i)
		c.evictions++
		return
	}
}

// removeLocked frees slot i.
func (c *docCache) removeLocked(i int32) {
	s := &c.slots[i]
	c.floor = max(c.floor, s.doc.Version)
	c.bytes -= docSize(s.device, s.doc)
	delete(c.index, s.device)
	s.device, s.fp, s.doc = "", [32]byte{}, Document{}
	s.ref.Store(false)
	c.free = append(c.free, i)
}

// forget drops the device's document.
func (c *docCache) forget(device string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.index[device]; ok {
		c.removeLocked(i)
	}
}

// DirectorCacheStats describes the director's document cache.
type DirectorCacheStats struct {
	// Entries and Bytes are what it holds now (Bytes approximates heap).
	Entries int
	Bytes   int64
	// Evictions counts documents dropped to stay within the bounds.
	Evictions int64
}

func (c *docCache) stats() DirectorCacheStats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return DirectorCacheStats{Entries: len(c.index), Bytes: c.bytes, Evictions: c.evictions}
}
