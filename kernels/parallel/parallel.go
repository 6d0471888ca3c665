// Package parallel is the fixed worker pool behind Sextant's optional
// intra-op parallelism: one product (a large GEMM, a wide GEMV) split into
// ranges that a few worker goroutines and the calling goroutine run at the
// same time. A worker polls for the next job for a while (about 50–200 µs)
// after each one before it parks, so the products of one Run, and
// back-to-back Runs, do not each pay a wake-up.
//
// # Threads
//
// New(threads) starts threads-1 workers once, when an engine Model is
// compiled; the caller of For is the remaining thread. The default is one
// thread, as on a phone: a nil Pool or a one-thread Pool runs every For
// inline, with no goroutines, channels or atomics. No goroutine is ever
// started per operation.
//
// # Calls
//
// For(p, n, args, body) splits the index range [0, n) into contiguous
// chunks, hands them out through an atomic counter (so a thread that is
// descheduled on a busy machine simply takes fewer chunks, and a worker the
// OS has not scheduled yet takes none and delays nothing) and returns when
// all are done. args is copied into storage the pool keeps per argument
// type, so a call does not allocate when body captures nothing: pass
// everything it needs through args. What args points to escapes to the
// heap, as the workers read it from other goroutines.
//
// One For runs on a pool at a time. A second caller that finds the pool busy
// (another session of the same model, or a body that calls For again) runs
// its range inline rather than waiting, so concurrent sessions never
// deadlock or queue behind each other. body must not panic: a panic on a
// worker goroutine ends the program.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// MaxThreads bounds New's thread count (and so keeps a job's chunk count,
// at most MaxThreads·chunksPerThread, within the 16 bits state gives it).
const MaxThreads = 256

// spinChecks is how many times For polls for a worker's last chunk before
// it parks (roughly 10–50 µs).
const spinChecks = 1 << 14

// chunksPerThread is how many chunks each thread gets on average: more than
// one, so threads slowed by other processes on shared cores take fewer.
const chunksPerThread = 4

// Pool is a fixed set of worker goroutines. Its methods and For are safe for
// concurrent use; a nil *Pool is a one-thread pool.
type Pool struct {
	threads int
	wake    []chan struct{} // one per worker, buffered: a value asks for help

	mu     sync.Mutex // held by the caller of the running For
	closed bool       // set under mu by Close
	gen    uint32     // jobs started, under mu

	// The running job: job and n are written under mu before state
	// publishes the job, and stay fixed while any of its chunks is taken
	// and not finished.
	job chunker
	n   int
	// state is gen<<32 | chunks<<16 | next: the job's generation, its
	// number of chunks and the next chunk to take. Taking a chunk is a
	// compare-and-swap on the whole word, so a worker that wakes late
	// cannot take a chunk of a job that has ended.
	state atomic.Uint64
	// left counts the chunks not yet finished; whoever finishes the last
	// one ends the job (a worker by sending on finished).
	left     atomic.Int32
	finished chan struct{}

	jobs []any // one *job[A] per argument type A used with this pool
}

// chunker runs chunk [lo, hi) of the current job.
type chunker interface {
	run(lo, hi int)
}

// job is the pool-owned storage of one argument type's calls.
type job[A any] struct {
	args A
	body func(A, int, int)
}

func (j *job[A]) run(lo, hi int) { j.body(j.args, lo, hi) }

// New returns a pool of threads threads (the caller counts as one), clamped
// to [1, MaxThreads]. With one thread it starts no goroutines. Close stops
// the workers.
func New(threads int) *Pool {
	threads = min(max(threads, 1), MaxThreads)
	p := &Pool{threads: threads}
	if threads > 1 {
		p.finished = make(chan struct{}, 1)
		p.wake = make([]chan struct{}, threads-1)
		for i := range p.wake {
			p.wake[i] = make(chan struct{}, 1)
			go p.worker(p.wake[i])
		}
	}
	return p
}

// Threads returns the number of threads For uses, counting the caller; 1 for
// a nil pool.
func (p *Pool) Threads() int {
	if p == nil {
		return 1
	}
	return p.threads
}

// Close stops the workers after the running For, if any, returns. Later
// calls of For run inline. Close is idempotent.
func (p *Pool) Close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	for _, w := range p.wake {
		close(w)
	}
}

// workerSpinChecks is how many times an idle worker polls for a new job
// before it parks (roughly 50–200 µs). A parked worker costs the next job a
// futex wake-up, and on a virtual machine an idle vCPU may take tens of
// microseconds to run again: long enough to miss most of a 100 µs GEMM.
// Polling a little after each job keeps the worker on hand for the next
// product of the same Run and for back-to-back Runs.
const workerSpinChecks = 1 << 16

// worker helps with the current job, if any, per wake-up, and after each
// job polls for the next one for a while before it parks.
func (p *Pool) worker(wake <-chan struct{}) {
	for {
		for i := 0; i < workerSpinChecks; i++ {
			if w := p.state.Load(); w&0xffff < w>>16&0xffff {
				if p.work() {
					p.finished <- struct{}{}
				}
				i = 0
			} else if i&1023 == 1023 {
				runtime.Gosched() // let other goroutines have this P
			}
		}
		if _, ok := <-wake; !ok {
			return
		}
		if p.work() {
			p.finished <- struct{}{}
		}
	}
}

// work takes chunks of the current job until none are left, and reports
// whether it finished the job's last chunk.
func (p *Pool) work() (last bool) {
	for {
		w := p.state.Load()
		chunks, c := int(w>>16&0xffff), int(w&0xffff)
		if c >= chunks {
			return last
		}
		if !p.state.CompareAndSwap(w, w+1) {
			continue
		}
		// Chunk c is [c·n/chunks, (c+1)·n/chunks): sizes differ by at most one.
		n := p.n
		p.job.run(c*n/chunks, (c+1)*n/chunks)
		last = p.left.Add(-1) == 0
	}
}

// For calls body(args, lo, hi) over disjoint ranges covering [0, n) and
// returns when every call has returned. It runs body(args, 0, n) inline
// when p has one thread, n < 2, p is closed, or p is busy with another For.
// The caller takes chunks too and waits only for chunks a worker has
// started, never for a worker the OS has not yet scheduled. Once the pool
// has seen argument type A, For does not allocate.
func For[A any](p *Pool, n int, args A, body func(args A, lo, hi int)) {
	if n <= 0 {
		return
	}
	if p == nil || p.threads == 1 || n == 1 || !p.mu.TryLock() {
		body(args, 0, n)
		return
	}
	if p.closed {
		p.mu.Unlock()
		body(args, 0, n)
		return
	}
	j := jobOf[A](p)
	j.args, j.body = args, body
	chunks := min(n, p.threads*chunksPerThread)
	p.job, p.n = j, n
	p.left.Store(int32(chunks))
	p.gen++
	p.state.Store(uint64(p.gen)<<32 | uint64(chunks)<<16)
	for _, w := range p.wake[:min(p.threads-1, chunks-1)] {
		select {
		case w <- struct{}{}:
		default: // it has a wake-up pending already
		}
	}
	if !p.work() {
		// A worker holds the last chunks, usually microseconds from done:
		// spin a little before parking, which costs a futex wake-up and,
		// for a goroutine locked to its thread, a hand-off of the P.
		for i := 0; i < spinChecks && p.left.Load() != 0; i++ {
			// poll
		}
		<-p.finished // a worker finished the last chunk
	}
	// Drop the references so the pool does not keep the caller's data alive.
	var zero A
	j.args, j.body, p.job = zero, nil, nil
	p.mu.Unlock()
}

// For is the package function For for a body that takes no arguments. It
// does not allocate when body is made once (a closure built per call
// allocates at the call site, not in For).
func (p *Pool) For(n int, body func(lo, hi int)) {
	For(p, n, body, callBody)
}

func callBody(body func(lo, hi int), lo, hi int) { body(lo, hi) }

// jobOf returns the pool's storage for argument type A, creating it on
// first use. p.mu is held.
func jobOf[A any](p *Pool) *job[A] {
	for _, j := range p.jobs {
		if j, ok := j.(*job[A]); ok {
			return j
		}
	}
	j := new(job[A])
	p.jobs = append(p.jobs, j)
	return j
}
