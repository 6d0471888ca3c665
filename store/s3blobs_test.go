package store

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/delivery"
)

// blobBackend is one blob store under the blob suite.
type blobBackend struct {
	delivery.BlobStore
	// files lists the stored objects relative to the store's root.
	files func(t *testing.T) []string
	// setMax sets MaxLength.
	setMax func(int64)
	// putAlloc bounds what Put of 64 MiB may allocate.
	putAlloc uint64
}

// eachBlobStore runs fn on the file-system store and on the S3 one.
func eachBlobStore(t *testing.T, fn func(t *testing.T, b blobBackend)) {
	t.Run("files", func(t *testing.T) {
		b := newBlobs(t)
		fn(t, blobBackend{BlobStore: b, files: func(t *testing.T) []string { return blobFiles(t, b) },
			setMax: func(n int64) { b.MaxLength = n }, putAlloc: 1 << 20})
	})
	t.Run("s3", func(t *testing.T) {
		b := newS3Blobs(t)
		fn(t, blobBackend{BlobStore: b, files: func(t *testing.T) []string {
			keys, err := b.keys(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for i, k := range keys {
				keys[i] = filepath.FromSlash(k)
			}
			return keys
		}, setMax: func(n int64) { b.MaxLength = n }, putAlloc: 16 << 20})
	})
}

// versitygw finds the S3 gateway the S3 tests run against: on PATH or in
// GOBIN / GOPATH/bin, where `go install` puts it.
func versitygw(t *testing.T) string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	for _, dir := range []string{os.Getenv("GOBIN"), filepath.Join(goPath(), "bin")} {
		if p := filepath.Join(dir, "versitygw"); dir != "" && isExec(p) {
			return p
		}
	}
	const how = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"
	if os.Getenv("CI") == "true" {
		t.Fatalf("versitygw is required in CI (test.sh installs it): %s", how)
	}
	t.Skipf("versitygw not found; install it with: %s", how)
	return ""
}

func goPath() string {
	if p := os.Getenv("GOPATH"); p != "" {
		return filepath.SplitList(p)[0]
	}
	h, _ := os.UserHomeDir()
	return filepath.Join(h, "go")
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// newS3Blobs starts a versitygw S3 gateway on loopback over a fresh
// directory (posix backend, bucket "blobs") and returns a store on it;
// the gateway stops when t ends.
func newS3Blobs(t *testing.T) *S3Blobs {
	t.Helper()
	bin := versitygw(t)
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "blobs"), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--access", "sextant", "--secret", "sextant-secret-key", "--port", addr, "--quiet",
		"posix", "--sidecar", t.TempDir(), root)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not listen on %s within 10 s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, err := NewS3Blobs(t.Context(), S3Config{Endpoint: "http://" + addr, Bucket: "blobs", Prefix: "sx/",
		AccessKey: "sextant", SecretKey: "sextant-secret-key", Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestS3PresignedURL: a presigned URL fetches the blob with no
// credentials (a device, or a CDN in front of the bucket); an absent blob
// gets none.
func TestS3PresignedURL(t *testing.T) {
	ctx := t.Context()
	b := newS3Blobs(t)
	content := []byte("bundle for a CDN")
	info, err := b.Put(ctx, bytes.NewReader(content), delivery.Blob{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := b.PresignedURL(ctx, info.SHA256, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Equal(got, content) {
		t.Fatalf("GET presigned = %d %q", resp.StatusCode, got)
	}
	_, err = b.PresignedURL(ctx, hexSum([]byte("absent")), time.Minute)
	wantKind(t, err, delivery.ErrNotFound, "presign absent")
}
