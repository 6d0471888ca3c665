package updater

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/device/store"
	"github.com/sextant-ml/sextant/device/transport/httptransport"
)

// TestDownloadMemory200MB downloads a 200 MB blob (served from disk with
// http.ServeContent) and samples the process's memory as it goes: the Go
// heap in use stays under 32 MiB and the runtime's memory from the OS
// (Sys) grows by under 16 MiB.
func TestDownloadMemory200MB(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and downloads 200 MB; skipped with -short")
	}
	const size = 200_000_000
	dir := t.TempDir()
	src := filepath.Join(dir, "blob")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	w := bufio.NewWriterSize(f, 1<<20)
	block := make([]byte, 1<<20)
	r := rand.NewChaCha8([32]byte{1})
	for left := size; left > 0; left -= len(block) {
		r.Read(block)
		n := min(left, len(block))
		w.Write(block[:n])
		h.Write(block[:n])
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	block = nil
	sum := hex.EncodeToString(h.Sum(nil))

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(src)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		w.Header().Set("ETag", `"`+sum+`"`)
		http.ServeContent(w, r, "", time.Time{}, f)
	}))
	defer srv.Close()
	st, err := store.Open(nil, filepath.Join(dir, "store"), 0)
	if err != nil {
		t.Fatal(err)
	}
	u, err := New(st, Config{Verifier: &verifier{}, BlobURL: func(string) string { return srv.URL }, Transport: httptransport.New(srv.Client())})
	if err != nil {
		t.Fatal(err)
	}

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var mu sync.Mutex
	var peakHeap, peakSys uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&m)
			mu.Lock()
			peakHeap, peakSys = max(peakHeap, m.HeapInuse), max(peakSys, m.Sys)
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	start := time.Now()
	err = u.fetch(context.Background(), blob{url: srv.URL, part: filepath.Join(st.DownloadDir(), "big.part"), length: size, sha256: sum, model: "big", version: "1.0.0"})
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	t.Logf("200 MB in %v: peak heap in use %.1f MiB (%.1f at start), peak runtime Sys %.1f MiB (%.1f at start)",
		el.Round(time.Millisecond), float64(peakHeap)/(1<<20), float64(base.HeapInuse)/(1<<20), float64(peakSys)/(1<<20), float64(base.Sys)/(1<<20))
	// Run alone, Sys (the whole test process, server included) stays near
	// 12 MiB; after other tests it starts higher and never shrinks, so
	// check the heap's peak and Sys's growth.
	if peakHeap > 32<<20 || peakSys-base.Sys > 16<<20 {
		t.Errorf("heap in use peaked at %d bytes and Sys grew by %d: over the 32 MiB bound", peakHeap, peakSys-base.Sys)
	}
	if u.Fetched() != size {
		t.Errorf("fetched %d bytes", u.Fetched())
	}
}
