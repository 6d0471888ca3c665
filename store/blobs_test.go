package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/delivery"
)

func hexSum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func newBlobs(t *testing.T) *Blobs {
	t.Helper()
	b, err := NewBlobs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// blobFiles lists the files under a blob store's root, relative to it.
func blobFiles(t *testing.T, b *Blobs) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(b.dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(b.dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func TestBlobsPutOpen(t *testing.T) { eachBlobStore(t, testBlobsPutOpen) }

func testBlobsPutOpen(t *testing.T, b blobBackend) {
	ctx := t.Context()
	content := bytes.Repeat([]byte("sextant bundle "), 5000)
	want := delivery.Blob{SHA256: hexSum(content), Length: int64(len(content))}
	for _, announced := range []delivery.Blob{{}, want, {SHA256: want.SHA256}, {Length: want.Length}} {
		got, err := b.Put(ctx, bytes.NewReader(content), announced)
		if err != nil || got != want {
			t.Fatalf("Put(announced %+v) = %+v, %v; want %+v", announced, got, err, want)
		}
	}
	if files := b.files(t); len(files) != 1 || files[0] != filepath.Join("sha256", want.SHA256) {
		t.Fatalf("files = %v, want one at sha256/<hex>", files)
	}
	r, info, err := b.Open(ctx, want.SHA256)
	if err != nil || info != want {
		t.Fatalf("Open = %+v, %v", info, err)
	}
	defer r.Close()
	if _, ok := b.BlobStore.(*Blobs); !ok {
	} else if _, ok := r.(*os.File); !ok {
		t.Errorf("Open returns %T, want *os.File (sendfile for http.ServeContent)", r)
	}
	got, _ := io.ReadAll(r)
	if !bytes.Equal(got, content) {
		t.Fatal("content differs")
	}
	if st, err := b.Stat(ctx, want.SHA256); err != nil || st != want {
		t.Fatalf("Stat = %+v, %v", st, err)
	}
	if err := b.Delete(ctx, want.SHA256); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, want.SHA256); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	_, _, err = b.Open(ctx, want.SHA256)
	wantKind(t, err, delivery.ErrNotFound, "open deleted")
	_, err = b.Stat(ctx, want.SHA256)
	wantKind(t, err, delivery.ErrNotFound, "stat deleted")
}

func TestBlobsRejectMismatch(t *testing.T) { eachBlobStore(t, testBlobsRejectMismatch) }

func testBlobsRejectMismatch(t *testing.T, b blobBackend) {
	ctx := t.Context()
	content := []byte("genuine bundle bytes")
	good := delivery.Blob{SHA256: hexSum(content), Length: int64(len(content))}
	for name, c := range map[string]struct {
		data []byte
		want delivery.Blob
		kind error
	}{
		"wrong hash":      {[]byte("malicious bundle bytes"), delivery.Blob{SHA256: good.SHA256}, delivery.ErrIntegrity},
		"short":           {content[:10], good, delivery.ErrIntegrity},
		"long":            {append(append([]byte{}, content...), 'x'), good, delivery.ErrIntegrity},
		"bad address":     {content, delivery.Blob{SHA256: "../../etc/passwd"}, delivery.ErrInvalid},
		"negative length": {content, delivery.Blob{Length: -1}, delivery.ErrInvalid},
	} {
		_, err := b.Put(ctx, bytes.NewReader(c.data), c.want)
		if !errors.Is(err, c.kind) {
			t.Errorf("%s: err = %v, want %v", name, err, c.kind)
		}
	}
	if files := b.files(t); len(files) != 0 {
		t.Fatalf("rejected puts left files: %v", files)
	}
	for _, bad := range []string{"", "../x", good.SHA256[:63], "G" + good.SHA256[1:]} {
		if _, _, err := b.Open(ctx, bad); !errors.Is(err, delivery.ErrInvalid) {
			t.Errorf("Open(%q): err = %v, want ErrInvalid", bad, err)
		}
	}
}

// endless yields zero bytes forever, counting them.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	clear(p)
	e.n += int64(len(p))
	return len(p), nil
}

// TestBlobsEndlessData: an upload that never ends is cut one read past
// its announced length (or MaxLength) and stored nowhere.
func TestBlobsEndlessData(t *testing.T) { eachBlobStore(t, testBlobsEndlessData) }

func testBlobsEndlessData(t *testing.T, b blobBackend) {
	ctx := t.Context()
	src := &endless{}
	_, err := b.Put(ctx, src, delivery.Blob{Length: 1 << 20})
	wantKind(t, err, delivery.ErrIntegrity, "endless upload with a length")
	if src.n > 1<<20+64<<10 {
		t.Fatalf("read %d bytes of an endless upload announced at 1 MiB", src.n)
	}
	b.setMax(1 << 20)
	src = &endless{}
	_, err = b.Put(ctx, src, delivery.Blob{})
	wantKind(t, err, delivery.ErrInvalid, "endless upload over MaxLength")
	if src.n > 1<<20+64<<10 {
		t.Fatalf("read %d bytes past MaxLength", src.n)
	}
	_, err = b.Put(ctx, bytes.NewReader(nil), delivery.Blob{Length: 2 << 20})
	wantKind(t, err, delivery.ErrInvalid, "announced length over MaxLength")
	if files := b.files(t); len(files) != 0 {
		t.Fatalf("files left: %v", files)
	}
}

// TestBlobsPutStreams puts 64 MiB and checks the heap grew by far less:
// the blob is never held in memory.
func TestBlobsPutStreams(t *testing.T) { eachBlobStore(t, testBlobsPutStreams) }

func testBlobsPutStreams(t *testing.T, b blobBackend) {
	const size = 64 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got, err := b.Put(t.Context(), io.LimitReader(&endless{}, size), delivery.Blob{Length: size})
	runtime.ReadMemStats(&after)
	if err != nil || got.Length != size {
		t.Fatalf("Put = %+v, %v", got, err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > b.putAlloc {
		t.Fatalf("Put of %d MiB allocated %d bytes; want < %d", size>>20, alloc, b.putAlloc)
	}
}

func TestBlobsCancel(t *testing.T) { eachBlobStore(t, testBlobsCancel) }

func testBlobsCancel(t *testing.T, b blobBackend) {
	_, err := b.Put(ctxDone(), &endless{}, delivery.Blob{})
	if err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	if files := b.files(t); len(files) != 0 {
		t.Fatalf("files left: %v", files)
	}
}

// TestBlobsStaleTemp: NewBlobs removes what a crashed Put left behind and
// keeps the blobs.
func TestBlobsStaleTemp(t *testing.T) {
	dir := t.TempDir()
	b, err := NewBlobs(dir)
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("kept")
	if _, err := b.Put(t.Context(), bytes.NewReader(content), delivery.Blob{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tmp", "put-123"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err = NewBlobs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if files := blobFiles(t, b); len(files) != 1 || files[0] != filepath.Join("sha256", hexSum(content)) {
		t.Fatalf("after reopen files = %v", files)
	}
}

// TestBlobsServeContent: an opened blob serves ranges through
// http.ServeContent, as the server will.
func TestBlobsServeContent(t *testing.T) { eachBlobStore(t, testBlobsServeContent) }

func testBlobsServeContent(t *testing.T, b blobBackend) {
	ctx := t.Context()
	content := []byte("0123456789abcdefghij")
	info, err := b.Put(ctx, bytes.NewReader(content), delivery.Blob{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, _, err := b.Open(r.Context(), info.SHA256)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		defer f.Close()
		w.Header().Set("ETag", `"`+info.SHA256+`"`)
		http.ServeContent(w, r, "", time.Time{}, f)
	}))
	defer srv.Close()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	req.Header.Set("Range", "bytes=10-")
	req.Header.Set("If-Range", `"`+info.SHA256+`"`)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusPartialContent || string(body) != "abcdefghij" {
		t.Fatalf("range GET = %d %q", resp.StatusCode, body)
	}
}
