package tables

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/parquet-go/parquet-go"
)

// The tables are computed in chunks of whole users, cut from the input
// file where a user ends once the chunk holds Config.ChunkRows (default
// chunkRows) input rows (visits or trips). Users are independent, and a
// chunk's examples form one row group of each split, so workers compute
// and encode chunks in parallel and the calling goroutine appends them to
// the files in file order. The cuts depend only on the data, so the output
// files are the same bytes whatever Config.Workers is.
const chunkRows = 1 << 15

// chunkSize is Config.ChunkRows or its default.
func chunkSize(n int) int {
	if n <= 0 {
		return chunkRows
	}
	return n
}

// workers is the number of chunk goroutines for n (0 or less: GOMAXPROCS).
func workers(n int) int {
	if n <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return n
}

// chunks streams the rows of the Parquet table at path, in file order, and
// cuts them into chunks of whole users (userOf; a user's rows are
// contiguous) of at least size rows. Each row is converted with conv as
// it is read (the reader reuses its buffers), each chunk is computed by a
// worker's work function (newWorker is called once per worker goroutine,
// for its private state) and handed to done on the calling goroutine, in
// file order. With one worker everything runs on the calling goroutine.
// At most 2×workers chunks are read and not yet done, so memory is bounded
// by the chunk size and the workers, whatever the input's length.
func chunks[R, V, O any](ctx context.Context, path string, nworkers, size int, userOf func(*R) int64, conv func(*R) V,
	newWorker func() func([]V) (O, error), done func(O) error) error {
	nworkers = workers(nworkers)
	if nworkers == 1 {
		work := newWorker()
		return readChunks(ctx, path, size, userOf, conv, true, func(c []V) error {
			o, err := work(c)
			if err != nil {
				return err
			}
			return done(o)
		})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		seq  int
		rows []V
	}
	type result struct {
		seq int
		out O
		err error
	}
	window := 2 * nworkers
	tokens := make(chan struct{}, window) // a token per chunk read and not yet done
	jobs := make(chan job)
	results := make(chan result, window)
	var readErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(jobs)
		seq := 0
		readErr = readChunks(ctx, path, size, userOf, conv, false, func(c []V) error {
			select {
			case tokens <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case jobs <- job{seq, c}:
			case <-ctx.Done():
				return ctx.Err()
			}
			seq++
			return nil
		})
	}()
	for range nworkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work := newWorker()
			for j := range jobs {
				out, err := work(j.rows)
				select {
				case results <- result{j.seq, out, err}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(results)
	}()
	pending := make(map[int]result, window)
	next := 0
	var err error
	for r := range results {
		if err != nil {
			continue // draining after a failure
		}
		pending[r.seq] = r
		for {
			p, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			<-tokens
			if err = p.err; err == nil {
				err = done(p.out)
			}
			if err != nil {
				cancel()
				break
			}
		}
	}
	if err != nil {
		return err
	}
	if readErr != nil {
		return readErr
	}
	if len(pending) > 0 {
		return fmt.Errorf("tables: %s: %d chunks computed and not committed", path, len(pending))
	}
	return ctx.Err()
}

// readChunks streams path's rows and calls emit with each chunk of whole
// users of at least size rows (the last may be smaller). With reuse
// the next chunk reuses the slice (emit is done with it when it returns);
// else each chunk has its own.
func readChunks[R, V any](ctx context.Context, path string, size int, userOf func(*R) int64, conv func(*R) V,
	reuse bool, emit func([]V) error) error {
	var chunk []V
	cur, started := int64(0), false
	err := readAll(path, func(r *R) error {
		if id := userOf(r); !started || id != cur {
			if len(chunk) >= size {
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := emit(chunk); err != nil {
					return err
				}
				if reuse {
					chunk = chunk[:0]
				} else {
					chunk = make([]V, 0, cap(chunk))
				}
			}
			cur, started = id, true
		}
		chunk = append(chunk, conv(r))
		return nil
	})
	if err != nil {
		return err
	}
	if len(chunk) > 0 {
		return emit(chunk)
	}
	return nil
}

// readAll streams every row of a Parquet table to fn.
func readAll[T any](path string, fn func(*T) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("tables: %w", err)
	}
	defer f.Close()
	r := parquet.NewGenericReader[T](f)
	defer r.Close()
	buf := make([]T, 4096)
	for {
		n, err := r.Read(buf)
		for i := 0; i < n; i++ {
			if e := fn(&buf[i]); e != nil {
				return e
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tables: %s: %w", path, err)
		}
	}
}
