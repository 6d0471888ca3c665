package verify

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/delivery/signing"
	"github.com/sextant-ml/sextant/internal/heapstat"
)

// TestNoChangeUpdateRunsNoSignatureChecks: an update that finds nothing
// new answers every signature check from the memo and returns what an
// uncached client returns; new metadata is checked again.
func TestNoChangeUpdateRunsNoSignatureChecks(t *testing.T) {
	s := newRepoSim(t)
	s.publish("eta", "1.0.0", []byte("eta"))
	s.assign("dev-1", s.publish("next-place", "1.0.0", []byte("a")))
	c := s.client("dev-1")
	first, err := update(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if c.memo.checks == 0 {
		t.Fatal("the first update ran no signature checks")
	}
	c.memo.checks = 0
	second, err := update(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if c.memo.checks != 0 {
		t.Errorf("an update with nothing new ran %d signature checks, want 0", c.memo.checks)
	}
	u := s.client("dev-1")
	u.uncached = true
	want, err := update(t, u)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(first, want) || !slices.Equal(second, want) {
		t.Errorf("cached updates returned %v then %v, uncached %v", first, second, want)
	}
	// Another model's new version: a new timestamp and snapshot, both
	// checked; the unchanged targets documents are not.
	s.advance(time.Hour)
	s.publish("eta", "1.0.1", []byte("eta 2"))
	c.memo.checks = 0
	if _, err := update(t, c); err != nil {
		t.Fatal(err)
	}
	if c.memo.checks != 2 {
		t.Errorf("an update with a new timestamp and snapshot ran %d signature checks, want 2", c.memo.checks)
	}
	// The memo keeps only what the last update used.
	if n := len(c.memo.cur) + len(c.memo.last); n > 12 {
		t.Errorf("memo holds %d checks after an update", n)
	}
}

// TestMemoIsPerSigner: bytes that passed under one root are checked again
// under another, and fail there when its keys do not sign them.
func TestMemoIsPerSigner(t *testing.T) {
	s := newRepoSim(t)
	ts := s.image["timestamp.json"]
	var m sigMemo
	t1, err := newTrusted(s.imageRoot, s.clk.Now(), &hooks{}, &m)
	if err != nil {
		t.Fatal(err)
	}
	if err := t1.UpdateTimestamp(ts, false); err != nil {
		t.Fatal(err)
	}
	nk, _ := signing.GenerateKey("timestamp", rand.Reader)
	files, err := s.repo.RotateKeys(s.clk.Now(), "timestamp", []*signing.Key{nk}, []*signing.Key{s.root})
	if err != nil {
		t.Fatal(err)
	}
	t2, err := newTrusted(files[0].Data, s.clk.Now(), &hooks{}, &m)
	if err != nil {
		t.Fatal(err)
	}
	if err := t2.UpdateTimestamp(ts, false); !errors.Is(err, ErrSignature) {
		t.Errorf("timestamp signed by the rotated-out key under the new root: %v, want ErrSignature", err)
	}
	// Under the old root it still passes, from the memo.
	m.checks = 0
	t3, err := newTrusted(s.imageRoot, s.clk.Now(), &hooks{}, &m)
	if err != nil {
		t.Fatal(err)
	}
	if err := t3.UpdateTimestamp(ts, false); err != nil || m.checks != 0 {
		t.Errorf("same timestamp, same root: %v after %d checks, want nil after 0", err, m.checks)
	}
}

// TestSharedParses: the same bytes share one parse; other bytes do not.
func TestSharedParses(t *testing.T) {
	s := newRepoSim(t)
	data := s.image["timestamp.json"]
	env1, ts1, err := parseShared[fileMeta](data, "timestamp", true)
	if err != nil {
		t.Fatal(err)
	}
	env2, ts2, err := parseShared[fileMeta](slices.Clone(data), "timestamp", true)
	if err != nil {
		t.Fatal(err)
	}
	if env1 != env2 || ts1 != ts2 {
		t.Error("the same bytes parsed twice")
	}
	other := withVersion(t, data, ts1.Version+1)
	_, ts3, err := parseShared[fileMeta](other, "timestamp", true)
	if err != nil {
		t.Fatal(err)
	}
	if ts3 == ts1 || ts3.Version != ts1.Version+1 {
		t.Errorf("other bytes: version %d, shared %v", ts3.Version, ts3 == ts1)
	}
	// As another type the bytes are parsed (and here refused) afresh.
	if _, _, err := parseShared[fileMeta](data, "snapshot", true); !errors.Is(err, ErrMalformed) {
		t.Errorf("timestamp parsed as snapshot: %v", err)
	}
}

// TestNoChangeUpdateSkipsDirectorSave: the director document is saved only
// when it changes.
func TestNoChangeUpdateSkipsDirectorSave(t *testing.T) {
	s := newRepoSim(t)
	s.assign("dev-1", s.publish("next-place", "1.0.0", []byte("a")))
	st := &countingStore{}
	c, err := New(Config{ImageURL: simImage, DirectorURL: simDirector, Device: "dev-1", ImageRoot: s.imageRoot, DirectorRoot: s.dirRoot},
		s, st, s.clk)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := c.Update(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if st.saves[storeDirectorTarget] != 1 {
		t.Errorf("director document saved %d times in two updates with one document, want 1", st.saves[storeDirectorTarget])
	}
	s.advance(time.Minute)
	s.assign("dev-1", s.publish("next-place", "1.0.1", []byte("b")))
	if paths, err := update(t, c); err != nil || !slices.Equal(paths, []string{"next-place/1.0.1.sxm"}) {
		t.Fatal(paths, err)
	}
	if st.saves[storeDirectorTarget] != 2 {
		t.Errorf("a new director document: saved %d times in all, want 2", st.saves[storeDirectorTarget])
	}
}

type countingStore struct {
	MemStore
	saves map[string]int
}

func (s *countingStore) Save(name string, data []byte) error {
	if s.saves == nil {
		s.saves = map[string]int{}
	}
	s.saves[name]++
	return s.MemStore.Save(name, data)
}

// BenchmarkUpdateNoChange is one device's update that finds nothing new
// (the director document, timestamp and stored metadata all as verified
// before): uncached is the behaviour before the memo (every document parsed
// and verified, the director document saved), cached the memo. The trusted
// metadata is in a directory as on a phone (store=dir, synced writes
// included) or in memory (store=mem: CPU alone).
func BenchmarkUpdateNoChange(b *testing.B) {
	for _, store := range []string{"dir", "mem"} {
		for _, uncached := range []bool{true, false} {
			b.Run(fmt.Sprintf("store=%s/uncached=%v", store, uncached), func(b *testing.B) {
				s := newRepoSim(b)
				s.publish("eta", "1.0.0", []byte("eta"))
				for i := range 3 {
					s.publish("next-place", fmt.Sprintf("1.0.%d", i), []byte{byte(i)})
				}
				s.assign("dev-1", s.publish("next-place", "1.1.0", []byte("current")))
				var st Store = &MemStore{}
				if store == "dir" {
					st = DirStore{Dir: b.TempDir()}
				}
				c, err := New(Config{ImageURL: simImage, DirectorURL: simDirector, Device: "dev-1",
					ImageRoot: s.imageRoot, DirectorRoot: s.dirRoot}, s, st, s.clk)
				if err != nil {
					b.Fatal(err)
				}
				c.uncached = uncached
				ctx := context.Background()
				if _, err := c.Update(ctx); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					res, err := c.Update(ctx)
					if err != nil || len(res.Targets) != 1 {
						b.Fatal(res, err)
					}
				}
			})
		}
	}
}

// TestClientMemory: a client that has updated keeps little on the heap
// between updates (the memo, its own director document, no copy of the
// image metadata another client already parsed), so that a simulator can
// hold 10⁵ of them.
func TestClientMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("updates many clients")
	}
	s := newRepoSim(t)
	s.publish("eta", "1.0.0", []byte("eta"))
	b := s.publish("next-place", "1.0.0", []byte("a"))
	const n = 300
	devices := make([]string, n)
	for i := range devices {
		devices[i] = fmt.Sprintf("device-%06d", i)
		s.assign(devices[i], b)
	}
	per := func(uncached bool) float64 {
		cs := make([]*Client, n)
		before := heapstat.Live()
		for i := range cs {
			c, err := New(Config{ImageURL: simImage, DirectorURL: simDirector, Device: devices[i], ImageRoot: s.imageRoot, DirectorRoot: s.dirRoot},
				s, discardStore{}, s.clk)
			if err != nil {
				t.Fatal(err)
			}
			c.uncached = uncached
			for range 2 {
				if _, err := c.Update(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			cs[i] = c
		}
		clear(s.read)
		after := heapstat.Live()
		runtime.KeepAlive(cs)
		return (float64(after) - float64(before)) / n
	}
	uncached, cached := per(true), per(false)
	t.Logf("heap per client between updates: %.0f B uncached, %.0f B with the memo", uncached, cached)
	if cached-uncached > 4096 {
		t.Errorf("the memo keeps %.0f B per client, want under 4 KiB", cached-uncached)
	}
}

// discardStore keeps nothing: every update starts from the shipped roots,
// so what a client holds is all in memory.
type discardStore struct{}

func (discardStore) Load(string) ([]byte, error) { return nil, nil }
func (discardStore) Save(string, []byte) error   { return nil }
func (discardStore) Delete(string) error         { return nil }

// TestConcurrentClientsShareParses: clients on several goroutines update
// with shared parses (run with -race).
func TestConcurrentClientsShareParses(t *testing.T) {
	s := newRepoSim(t)
	b := s.publish("next-place", "1.0.0", []byte("a"))
	var cs []*Client
	for i := range 8 {
		dev := fmt.Sprintf("dev-%d", i)
		s.assign(dev, b)
		cs = append(cs, s.client(dev))
	}
	var fetch sync.Mutex // repoSim's read counts are not safe for concurrent use
	f := fetcherFunc(func(ctx context.Context, url string, max int64) ([]byte, error) {
		fetch.Lock()
		defer fetch.Unlock()
		return s.Fetch(ctx, url, max)
	})
	var wg sync.WaitGroup
	errs := make([]error, len(cs))
	for i, c := range cs {
		c.fetch = f
		wg.Go(func() {
			for range 5 {
				res, err := c.Update(context.Background())
				if err == nil && (len(res.Targets) != 1 || res.Targets[0].Path != b.Path()) {
					err = fmt.Errorf("targets %+v", res.Targets)
				}
				if err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

type fetcherFunc func(ctx context.Context, url string, max int64) ([]byte, error)

func (f fetcherFunc) Fetch(ctx context.Context, url string, max int64) ([]byte, error) {
	return f(ctx, url, max)
}

// TestTamperedStoreIsCheckedAgain: the memo goes by bytes, not by name: a
// stored document replaced after an update (here a director document and
// a timestamp with raised versions and so broken signatures) is checked
// again and, failing, is no rollback floor.
func TestTamperedStoreIsCheckedAgain(t *testing.T) {
	s := newRepoSim(t)
	b := s.publish("next-place", "1.0.0", []byte("a"))
	doc := s.assign("dev-1", b)
	st := &MemStore{}
	c, err := New(Config{ImageURL: simImage, DirectorURL: simDirector, Device: "dev-1", ImageRoot: s.imageRoot, DirectorRoot: s.dirRoot},
		s, st, s.clk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := update(t, c); err != nil {
		t.Fatal(err)
	}
	st.Save(storeDirectorTarget, withVersion(t, doc, versionOf(t, doc)+100))
	ts := s.image["timestamp.json"]
	st.Save(storeTimestamp, withVersion(t, ts, versionOf(t, ts)+100))
	c.memo.checks = 0
	paths, err := update(t, c)
	if err != nil || !slices.Equal(paths, []string{b.Path()}) {
		t.Fatalf("after the store was tampered with: %v %v, want %s", paths, err, b.Path())
	}
	if c.memo.checks != 2 {
		t.Errorf("%d signature checks, want 2 (the two tampered documents)", c.memo.checks)
	}
	// The genuine director document is back in the store.
	if got, _ := st.Load(storeDirectorTarget); string(got) != string(doc) {
		t.Error("the tampered director document was kept")
	}
}
