package parallel

import (
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fill is the body the tests split: it counts every index it is given.
type fill struct {
	hits []atomic.Int32
	bad  *atomic.Int32 // ranges that were empty or out of order
}

func fillBody(f fill, lo, hi int) {
	if lo >= hi || lo < 0 || hi > len(f.hits) {
		f.bad.Add(1)
		return
	}
	for i := lo; i < hi; i++ {
		f.hits[i].Add(1)
	}
}

func checkOnce(t *testing.T, f fill) {
	t.Helper()
	if b := f.bad.Load(); b != 0 {
		t.Fatalf("%d bad ranges", b)
	}
	for i := range f.hits {
		if h := f.hits[i].Load(); h != 1 {
			t.Fatalf("index %d of %d covered %d times", i, len(f.hits), h)
		}
	}
}

func TestForCoversRangeOnce(t *testing.T) {
	for _, threads := range []int{0, 1, 2, 3, 8} {
		p := New(threads)
		for _, n := range []int{0, 1, 2, 3, 7, 31, 32, 33, 1000} {
			f := fill{hits: make([]atomic.Int32, n), bad: new(atomic.Int32)}
			For(p, n, f, fillBody)
			checkOnce(t, f)
		}
		p.Close()
	}
	var nilPool *Pool
	f := fill{hits: make([]atomic.Int32, 10), bad: new(atomic.Int32)}
	For(nilPool, 10, f, fillBody)
	checkOnce(t, f)
	if nilPool.Threads() != 1 {
		t.Fatalf("nil pool has %d threads", nilPool.Threads())
	}
}

func TestThreadsClamped(t *testing.T) {
	for _, c := range []struct{ in, want int }{{-3, 1}, {0, 1}, {1, 1}, {4, 4}, {MaxThreads + 5, MaxThreads}} {
		p := New(c.in)
		if got := p.Threads(); got != c.want {
			t.Errorf("New(%d).Threads() = %d, want %d", c.in, got, c.want)
		}
		p.Close()
	}
}

// TestWorkersShareTheWork checks that chunks really run on more than one
// goroutine: every chunk blocks until a second one has started.
func TestWorkersShareTheWork(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs GOMAXPROCS ≥ 2")
	}
	p := New(2)
	defer p.Close()
	var running atomic.Int32
	var overlapped atomic.Bool
	p.For(2, func(lo, hi int) {
		running.Add(1)
		deadline := time.Now().Add(5 * time.Second)
		for running.Load() < 2 && time.Now().Before(deadline) {
			runtime.Gosched()
		}
		overlapped.Store(running.Load() >= 2)
	})
	if !overlapped.Load() {
		t.Fatal("the two chunks never ran at the same time")
	}
}

// TestConcurrentAndNestedCallers runs For from many goroutines at once and
// from inside a body: busy pools run inline, nothing deadlocks, every range
// is covered once.
func TestConcurrentAndNestedCallers(t *testing.T) {
	p := New(3)
	defer p.Close()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < 50; r++ {
				outer := fill{hits: make([]atomic.Int32, 64), bad: new(atomic.Int32)}
				inner := make([]fill, 64)
				for i := range inner {
					inner[i] = fill{hits: make([]atomic.Int32, 16), bad: new(atomic.Int32)}
				}
				p.For(64, func(lo, hi int) {
					fillBody(outer, lo, hi)
					for i := lo; i < hi; i++ {
						For(p, 16, inner[i], fillBody)
					}
				})
				checkOnce(t, outer)
				for _, f := range inner {
					checkOnce(t, f)
				}
			}
		}()
	}
	wg.Wait()
}

func TestForAllocatesNothing(t *testing.T) {
	for _, threads := range []int{1, 2, 4} {
		p := New(threads)
		f := fill{hits: make([]atomic.Int32, 256), bad: new(atomic.Int32)}
		For(p, 256, f, fillBody) // first use of the argument type allocates its slot
		if a := testing.AllocsPerRun(200, func() { For(p, 256, f, fillBody) }); a != 0 {
			t.Errorf("threads=%d: For allocates %v times per call", threads, a)
		}
		var sum atomic.Int64
		body := func(lo, hi int) { sum.Add(int64(hi - lo)) }
		p.For(10, body)
		if a := testing.AllocsPerRun(200, func() { p.For(100, body) }); a != 0 {
			t.Errorf("threads=%d: Pool.For allocates %v times per call", threads, a)
		}
		if got := sum.Load(); got != 10+201*100 {
			t.Errorf("threads=%d: body covered %d indices, want %d", threads, got, 10+201*100)
		}
		p.Close()
	}
}

// workers counts the live goroutines started by New, waiting up to five
// seconds for the count to reach want (closed pools' workers exit
// asynchronously).
func workers(want int) int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		n := strings.Count(string(buf), "created by github.com/sextant-ml/sextant/kernels/parallel.New")
		if n == want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCloseStopsWorkers(t *testing.T) {
	if n := workers(0); n != 0 {
		t.Fatalf("%d workers of closed pools still running", n)
	}
	p := New(5)
	if n := workers(4); n != 4 {
		t.Fatalf("New(5) started %d workers, want 4", n)
	}
	p.Close()
	p.Close()
	if n := workers(0); n != 0 {
		t.Fatalf("%d workers left after Close", n)
	}
	f := fill{hits: make([]atomic.Int32, 9), bad: new(atomic.Int32)}
	For(p, 9, f, fillBody) // a closed pool still works, inline
	checkOnce(t, f)
	if n := workers(0); n != 0 {
		t.Fatalf("For on a closed pool started %d workers", n)
	}
}

func BenchmarkForOverhead(b *testing.B) {
	for _, threads := range []int{1, 2} {
		p := New(threads)
		b.Run(map[int]string{1: "threads=1", 2: "threads=2"}[threads], func(b *testing.B) {
			var sink atomic.Int64
			body := func(lo, hi int) { sink.Add(int64(hi - lo)) }
			for b.Loop() {
				p.For(64, body)
			}
		})
		p.Close()
	}
}
