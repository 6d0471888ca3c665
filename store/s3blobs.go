package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sextant-ml/sextant/delivery"
)

// S3Blobs is the content-addressed blob store on S3-compatible object
// storage: the blob with SHA-256 h is the object <Prefix>sha256/<h> in
// Bucket. Put streams the content through a hasher into a temporary
// object <Prefix>tmp/<random>, checks it, then copies it into place on the
// server side and removes the temporary one, so a blob's key always names
// its content; an interrupted Put leaves at worst a temporary object
// (give tmp/ a lifecycle rule to expire them). Several replicas may share
// a bucket: the same content is the same key.
type S3Blobs struct {
	client *minio.Client
	bucket string
	prefix string
	// MaxLength, when positive, caps the size of a blob Put accepts
	// without an announced length, and of any announced one.
	MaxLength int64
	// PartSize is the multipart part Put buffers when the length is not
	// announced (default and minimum 5 MiB, S3's smallest part).
	PartSize uint64
}

var _ delivery.BlobStore = (*S3Blobs)(nil)

// S3Config locates a bucket.
type S3Config struct {
	// Endpoint is the server's URL: https://host[:port] or, for a server
	// on loopback, http://….
	Endpoint string
	Bucket   string
	// Prefix, if set, is prepended to every key (for example "blobs/").
	Prefix string
	// AccessKey and SecretKey sign requests; empty means the standard
	// AWS environment variables and instance credentials.
	AccessKey, SecretKey string
	Region               string
}

// NewS3Blobs connects to cfg's bucket and checks that it exists.
func NewS3Blobs(ctx context.Context, cfg S3Config) (*S3Blobs, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("store: S3 endpoint %q: want http(s)://host[:port]", cfg.Endpoint)
	}
	creds := credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
	if cfg.AccessKey == "" {
		creds = credentials.NewChainCredentials([]credentials.Provider{&credentials.EnvAWS{}, &credentials.IAM{}})
	}
	c, err := minio.New(u.Host, &minio.Options{Creds: creds, Secure: u.Scheme == "https", Region: cfg.Region,
		BucketLookup: minio.BucketLookupPath})
	if err != nil {
		return nil, fmt.Errorf("store: S3 client: %w", err)
	}
	ok, err := c.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("store: S3 bucket %s at %s: %w", cfg.Bucket, cfg.Endpoint, err)
	}
	if !ok {
		return nil, fmt.Errorf("store: S3 bucket %s does not exist at %s", cfg.Bucket, cfg.Endpoint)
	}
	return &S3Blobs{client: c, bucket: cfg.Bucket, prefix: cfg.Prefix}, nil
}

// Key returns the object key of the blob with the given address.
func (b *S3Blobs) Key(sum string) (string, error) {
	if !delivery.ValidSHA256(sum) {
		return "", delivery.Errorf(delivery.ErrInvalid, "%q is not a SHA-256 content address", sum)
	}
	return b.prefix + "sha256/" + sum, nil
}

// Put implements delivery.BlobStore. It reads at most one byte past the
// announced length (or MaxLength) and holds at most one part in memory.
func (b *S3Blobs) Put(ctx context.Context, r io.Reader, want delivery.Blob) (delivery.Blob, error) {
	limit, err := putLimit(want, b.MaxLength)
	if err != nil {
		return delivery.Blob{}, err
	}
	if limit > 0 {
		r = io.LimitReader(r, limit+1)
	}
	var rnd [12]byte
	rand.Read(rnd[:])
	tmp := b.prefix + "tmp/" + hex.EncodeToString(rnd[:])
	h := sha256.New()
	src := &countingReader{r: io.TeeReader(ctxReader{ctx, r}, h)}
	size, body := int64(-1), io.Reader(src)
	if want.Length > 0 {
		// The request carries exactly the announced bytes; one more left
		// in r means the content is longer.
		size, body = want.Length, io.LimitReader(src, want.Length)
	}
	part := max(b.PartSize, 5<<20)
	info, err := b.client.PutObject(ctx, b.bucket, tmp, body, size, minio.PutObjectOptions{
		PartSize: part, ContentType: "application/octet-stream", DisableContentSha256: true})
	// Whatever happens next, the temporary object goes.
	defer b.client.RemoveObject(context.WithoutCancel(ctx), b.bucket, tmp, minio.RemoveObjectOptions{})
	if err != nil {
		if ctx.Err() != nil {
			return delivery.Blob{}, fmt.Errorf("store: put blob: %w", ctx.Err())
		}
		if size > 0 && src.n < size {
			return delivery.Blob{}, delivery.Errorf(delivery.ErrIntegrity, "blob is shorter than its announced %d bytes", want.Length)
		}
		return delivery.Blob{}, fmt.Errorf("store: put blob: %w", err)
	}
	n := info.Size
	if size > 0 {
		var one [1]byte
		if m, _ := io.ReadFull(src, one[:]); m > 0 {
			n++
		}
	}
	got := delivery.Blob{SHA256: hex.EncodeToString(h.Sum(nil)), Length: n}
	if err := checkPut(want, got, limit, b.MaxLength); err != nil {
		return delivery.Blob{}, err
	}
	key, _ := b.Key(got.SHA256)
	// Same content, same key: replacing an existing blob is harmless.
	_, err = b.client.CopyObject(ctx, minio.CopyDestOptions{Bucket: b.bucket, Object: key},
		minio.CopySrcOptions{Bucket: b.bucket, Object: tmp})
	if err != nil {
		return delivery.Blob{}, fmt.Errorf("store: put blob: copy into place: %w", err)
	}
	return got, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Open implements delivery.BlobStore; the reader fetches ranges as it is
// read and sought.
func (b *S3Blobs) Open(ctx context.Context, sum string) (delivery.BlobReader, delivery.Blob, error) {
	key, err := b.Key(sum)
	if err != nil {
		return nil, delivery.Blob{}, err
	}
	obj, err := b.client.GetObject(ctx, b.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, delivery.Blob{}, fmt.Errorf("store: open blob: %w", err)
	}
	st, err := obj.Stat()
	if err != nil {
		obj.Close()
		return nil, delivery.Blob{}, b.statErr(sum, err)
	}
	return obj, delivery.Blob{SHA256: sum, Length: st.Size}, nil
}

func (b *S3Blobs) statErr(sum string, err error) error {
	if minio.ToErrorResponse(err).Code == minio.NoSuchKey || minio.ToErrorResponse(err).StatusCode == 404 {
		return delivery.Errorf(delivery.ErrNotFound, "blob %s not found", sum)
	}
	return fmt.Errorf("store: blob %s: %w", sum, err)
}

// Stat implements delivery.BlobStore.
func (b *S3Blobs) Stat(ctx context.Context, sum string) (delivery.Blob, error) {
	key, err := b.Key(sum)
	if err != nil {
		return delivery.Blob{}, err
	}
	st, err := b.client.StatObject(ctx, b.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return delivery.Blob{}, b.statErr(sum, err)
	}
	return delivery.Blob{SHA256: sum, Length: st.Size}, nil
}

// Delete implements delivery.BlobStore.
func (b *S3Blobs) Delete(ctx context.Context, sum string) error {
	key, err := b.Key(sum)
	if err != nil {
		return err
	}
	if err := b.client.RemoveObject(ctx, b.bucket, key, minio.RemoveObjectOptions{}); err != nil && b.statErr(sum, err) == nil {
		return fmt.Errorf("store: delete blob: %w", err)
	}
	return nil
}

// PresignedURL returns a URL that fetches the blob without credentials
// until expiry, for devices to download from the object store (or a CDN
// in front of it) instead of through the server. The blob must exist.
func (b *S3Blobs) PresignedURL(ctx context.Context, sum string, expiry time.Duration) (*url.URL, error) {
	if _, err := b.Stat(ctx, sum); err != nil {
		return nil, err
	}
	key, _ := b.Key(sum)
	u, err := b.client.PresignedGetObject(ctx, b.bucket, key, expiry, nil)
	if err != nil {
		return nil, fmt.Errorf("store: presign blob %s: %w", sum, err)
	}
	return u, nil
}

// keys lists the object keys under the prefix (tests).
func (b *S3Blobs) keys(ctx context.Context) ([]string, error) {
	var out []string
	for o := range b.client.ListObjects(ctx, b.bucket, minio.ListObjectsOptions{Prefix: b.prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, o.Err
		}
		out = append(out, strings.TrimPrefix(o.Key, b.prefix))
	}
	return out, nil
}
