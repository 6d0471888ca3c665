package signing

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// fakeDoc is a document of n bytes at version v, for tests of the cache
// alone (no signing).
func fakeDoc(v int64, n int) Document {
	return Document{Version: v, Expires: t0.Add(24 * time.Hour), Data: make([]byte, n)}
}

// TestDocCacheBoundUnderDistinctDevices streams 10⁵ distinct devices
// through caches bounded in entries and in bytes: neither bound is ever
// exceeded, and the index, slots and byte count stay consistent.
func TestDocCacheBoundUnderDistinctDevices(t *testing.T) {
	for _, tc := range []struct {
		name     string
		entries  int
		maxBytes int64
	}{
		{"entries", 1000, 1 << 40},
		{"bytes", 1 << 20, 1 << 20},
		{"both", 3000, 2 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newDocCache(tc.entries, tc.maxBytes)
			var want int64
			for i := range 100_000 {
				dev := fmt.Sprintf("dev-%06d", i)
				c.mu.Lock()
				c.putLocked(dev, [32]byte{byte(i)}, fakeDoc(int64(i+1), 500+i%700))
				c.mu.Unlock()
				st := c.stats()
				if st.Entries > tc.entries || st.Bytes > tc.maxBytes {
					t.Fatalf("after %d devices: %d entries, %d bytes (bounds %d, %d)", i+1, st.Entries, st.Bytes, tc.entries, tc.maxBytes)
				}
				if i%997 == 0 {
					if _, doc, ok := c.get(dev); !ok || doc.Version != int64(i+1) {
						t.Fatalf("device %s just cached is missing", dev)
					}
				}
			}
			// Consistency: the byte count is the sum over the index, every
			// indexed slot names its device, free slots are empty.
			want = 0
			for dev, i := range c.index {
				s := &c.slots[i]
				if s.device != dev {
					t.Fatalf("slot %d holds %q, indexed as %q", i, s.device, dev)
				}
				want += docSize(s.device, s.doc)
			}
			if want != c.bytes {
				t.Fatalf("byte count %d, entries sum to %d", c.bytes, want)
			}
			for _, i := range c.free {
				if c.slots[i].device != "" {
					t.Fatalf("free slot %d holds %q", i, c.slots[i].device)
				}
			}
			if len(c.index)+len(c.free) != len(c.slots) {
				t.Fatalf("%d indexed + %d free != %d slots", len(c.index), len(c.free), len(c.slots))
			}
			st := c.stats()
			if st.Evictions != int64(100_000-st.Entries) {
				t.Fatalf("%d evictions with %d of 100000 cached", st.Evictions, st.Entries)
			}
			// The floor is at least every evicted version.
			if c.floor < int64(100_000-tc.entries) && tc.name == "entries" {
				t.Fatalf("floor %d below the evicted versions", c.floor)
			}
		})
	}
}

// TestDocCacheOversizedDocumentNotCached: a document larger than the byte
// bound on its own is served but not cached, and evicts nothing.
func TestDocCacheOversizedDocumentNotCached(t *testing.T) {
	c := newDocCache(10, 4096)
	c.mu.Lock()
	c.putLocked("small", [32]byte{1}, fakeDoc(1, 100))
	c.putLocked("huge", [32]byte{2}, fakeDoc(2, 8192))
	c.mu.Unlock()
	if _, _, ok := c.get("huge"); ok {
		t.Fatal("a document above the byte bound was cached")
	}
	if _, _, ok := c.get("small"); !ok {
		t.Fatal("caching an oversized document evicted another")
	}
}

func newBoundedDirector(t testing.TB, k testKeys, clk *manualClock, entries int) *Director {
	t.Helper()
	d, err := NewDirector(DirectorConfig{CacheEntries: entries}, clk, []*Key{k.director})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDirectorHotDevicesStayCached: devices that keep checking in stay hits
// while a stream of devices seen once passes through a full cache.
func TestDirectorHotDevicesStayCached(t *testing.T) {
	k := newTestKeys(t)
	clk := &manualClock{now: t0}
	d := newBoundedDirector(t, k, clk, 100)
	a := func(dev string) Assignment {
		return Assignment{Device: dev, Bundles: []Bundle{bundle("next-place", "1.0.0", "a")}}
	}
	hot := make([]Document, 20)
	for i := range hot {
		doc, err := d.Document(a(fmt.Sprintf("hot-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		hot[i] = doc
	}
	signedHot := d.Signed()
	for i := range 1000 {
		if _, err := d.Document(a(fmt.Sprintf("cold-%d", i))); err != nil {
			t.Fatal(err)
		}
		if i%20 == 0 {
			for j := range hot {
				doc, err := d.Document(a(fmt.Sprintf("hot-%d", j)))
				if err != nil {
					t.Fatal(err)
				}
				if doc.Version != hot[j].Version {
					t.Fatalf("after %d cold devices hot-%d was re-signed (v%d, was v%d)", i, j, doc.Version, hot[j].Version)
				}
			}
		}
	}
	if got, want := d.Signed(), signedHot+1000; got != want {
		t.Fatalf("signed %d documents, want %d (one per cold device)", got, want)
	}
	st := d.CacheStats()
	if st.Entries > 100 || st.Evictions < 900 {
		t.Fatalf("cache %+v, bound 100", st)
	}
}

// TestDirectorReSignsAfterEviction: an evicted device's next document is
// signed anew, verifies against the director root, names the device, and
// has a larger version than the evicted one even on a clock that did not
// move, whether its assignment changed meanwhile or not.
func TestDirectorReSignsAfterEviction(t *testing.T) {
	k := newTestKeys(t)
	clk := &manualClock{now: t0}
	d := newBoundedDirector(t, k, clk, 4)
	rootFile, err := InitDirectorRoot(DirectorConfig{}, t0, []*Key{k.root}, []*Key{k.director})
	if err != nil {
		t.Fatal(err)
	}
	root, err := metadata.Root().FromBytes(rootFile.Data)
	if err != nil {
		t.Fatal(err)
	}
	verify := func(doc Document, dev string, b Bundle) {
		t.Helper()
		md, err := metadata.Targets().FromBytes(doc.Data)
		if err != nil {
			t.Fatal(err)
		}
		if err := root.VerifyDelegate("targets", md); err != nil {
			t.Fatalf("document does not verify: %v", err)
		}
		if md.Signed.UnrecognizedFields["device"] != dev || md.Signed.Version != doc.Version {
			t.Fatalf("document names %v v%d, want %s v%d", md.Signed.UnrecognizedFields["device"], md.Signed.Version, dev, doc.Version)
		}
		tf, ok := md.Signed.Targets[b.Path()]
		if !ok || tf.Length != b.Length {
			t.Fatalf("document lacks %s", b.Path())
		}
	}
	evict := func() {
		for i := range 8 {
			if _, err := d.Document(Assignment{Device: fmt.Sprintf("other-%d", i), Bundles: []Bundle{bundle("m", "1", "x")}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	b1, b2 := bundle("next-place", "1.0.0", "a"), bundle("next-place", "1.0.1", "b")
	first, err := d.Document(Assignment{Device: "dev-1", Bundles: []Bundle{b1}})
	if err != nil {
		t.Fatal(err)
	}
	verify(first, "dev-1", b1)
	evict()
	if _, _, ok := d.cache.get("dev-1"); ok {
		t.Fatal("dev-1 was not evicted")
	}
	n := d.Signed()
	same, err := d.Document(Assignment{Device: "dev-1", Bundles: []Bundle{b1}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Signed() != n+1 || same.Version <= first.Version {
		t.Fatalf("after eviction: v%d after v%d, %d signed", same.Version, first.Version, d.Signed()-n)
	}
	verify(same, "dev-1", b1)
	evict()
	changed, err := d.Document(Assignment{Device: "dev-1", Bundles: []Bundle{b2}})
	if err != nil {
		t.Fatal(err)
	}
	if changed.Version <= same.Version {
		t.Fatalf("changed assignment after eviction: v%d after v%d", changed.Version, same.Version)
	}
	verify(changed, "dev-1", b2)
	// And now it is a hit again.
	again, err := d.Document(Assignment{Device: "dev-1", Bundles: []Bundle{b2}})
	if err != nil || again.Version != changed.Version {
		t.Fatalf("re-signed document not cached: v%d, %v", again.Version, err)
	}
}

// TestDirectorFingerprintOrderFree: an assignment is the same whatever the
// order of its bundles; any change of name, length or hash is another.
func TestDirectorFingerprintOrderFree(t *testing.T) {
	x, y := bundle("a", "1", "x"), bundle("b", "2", "y")
	ab := Assignment{Bundles: []Bundle{x, y}}.fingerprint()
	if ba := (Assignment{Bundles: []Bundle{y, x}}).fingerprint(); ab != ba {
		t.Fatal("bundle order changed the fingerprint")
	}
	for _, other := range []Bundle{bundle("a", "1", "z"), bundle("a", "11", "x"), bundle("aa", "1", "x"), {Model: "a", Version: "1", Length: 2, SHA256: x.SHA256}} {
		if (Assignment{Bundles: []Bundle{other, y}}).fingerprint() == ab {
			t.Fatalf("%+v has the fingerprint of %+v", other, x)
		}
	}
	// Model/version boundaries matter: ("a", "b1") is not ("ab", "1").
	if (Assignment{Bundles: []Bundle{{Model: "a", Version: "b1", Length: 1}}}).fingerprint() ==
		(Assignment{Bundles: []Bundle{{Model: "ab", Version: "1", Length: 1}}}).fingerprint() {
		t.Fatal("name boundary ignored")
	}
	many := make([]Bundle, 12) // beyond the stack arrays
	for i := range many {
		many[i] = bundle(fmt.Sprintf("m%d", i), "1", fmt.Sprint(i))
	}
	fwd := Assignment{Bundles: many}.fingerprint()
	rev := make([]Bundle, len(many))
	for i := range many {
		rev[len(many)-1-i] = many[i]
	}
	if (Assignment{Bundles: rev}).fingerprint() != fwd {
		t.Fatal("order changed the fingerprint of 12 bundles")
	}
}

// TestDirectorCachedHitDoesNotAllocate: the check-in hot path's document
// lookup allocates nothing.
func TestDirectorCachedHitDoesNotAllocate(t *testing.T) {
	k := newTestKeys(t)
	clk := &manualClock{now: t0}
	d := newBoundedDirector(t, k, clk, 0)
	a := Assignment{Device: "dev-1", Bundles: []Bundle{bundle("next-place", "1.0.0", "a"), bundle("eta", "2.0.0", "b")}}
	if _, err := d.Document(a); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := d.Document(a); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("a cached document costs %v allocations", n)
	}
}

// TestDirectorConcurrentDevices: many goroutines on overlapping devices and
// changing assignments through a small cache (run with -race): every
// answer is a document for the asked device and assignment, and a
// device's versions never go back.
func TestDirectorConcurrentDevices(t *testing.T) {
	k := newTestKeys(t)
	clk := &manualClock{now: t0}
	d := newBoundedDirector(t, k, clk, 16)
	bundles := []Bundle{bundle("next-place", "1.0.0", "a"), bundle("next-place", "1.0.1", "b")}
	var mu sync.Mutex
	last := map[string]int64{}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 150 {
				dev := fmt.Sprintf("dev-%d", (g*7+i)%40)
				b := bundles[(i/10)%2]
				doc, err := d.Document(Assignment{Device: dev, Bundles: []Bundle{b}})
				if err != nil {
					t.Error(err)
					return
				}
				md, err := metadata.Targets().FromBytes(doc.Data)
				if err != nil || md.Signed.UnrecognizedFields["device"] != dev {
					t.Errorf("asked for %s, got a document for %v (%v)", dev, md.Signed.UnrecognizedFields["device"], err)
					return
				}
				if _, ok := md.Signed.Targets[b.Path()]; !ok {
					t.Errorf("%s: document lacks its assignment %s", dev, b.Path())
					return
				}
				mu.Lock()
				last[dev] = max(last[dev], doc.Version)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	st := d.CacheStats()
	if st.Entries > 16 {
		t.Fatalf("cache holds %d entries, bound 16", st.Entries)
	}
	for dev, v := range last {
		if _, doc, ok := d.cache.get(dev); ok && doc.Version < v {
			t.Fatalf("%s: cached v%d older than served v%d", dev, doc.Version, v)
		}
	}
}

// TestDirectorCacheBytes measures the heap a cached document costs and
// checks the byte bound's accounting is within a factor of two of it
// (the figure doccache.go's sizing note quotes).
func TestDirectorCacheBytes(t *testing.T) {
	k := newTestKeys(t)
	clk := &manualClock{now: t0}
	d := newBoundedDirector(t, k, clk, 0)
	const n = 2000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		a := Assignment{Device: fmt.Sprintf("d%032x", i), Bundles: []Bundle{bundle("next-place", "1.0.0", "a")}}
		if _, err := d.Document(a); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := float64(after.HeapAlloc-before.HeapAlloc) / n
	accounted := float64(d.CacheStats().Bytes) / n
	t.Logf("per cached document: %.0f bytes of heap, %.0f accounted", heap, accounted)
	if heap > 2*accounted || accounted > 2*heap {
		t.Fatalf("accounting %.0f bytes per document, heap %.0f", accounted, heap)
	}
	runtime.KeepAlive(d)
}
