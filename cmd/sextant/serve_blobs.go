package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/store"
)

// openBlobs opens `sextant serve`'s blob store: a directory, or an
// S3-compatible bucket named s3://BUCKET[/PREFIX]?endpoint=URL[&region=R]
// whose credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
// (or the instance's role). Replicas share a bucket; each would have its
// own directory.
func openBlobs(ctx context.Context, spec string) (delivery.BlobStore, error) {
	if !strings.HasPrefix(spec, "s3://") {
		return store.NewBlobs(spec)
	}
	cfg, err := parseS3(spec)
	if err != nil {
		return nil, err
	}
	return store.NewS3Blobs(ctx, cfg)
}

func parseS3(spec string) (store.S3Config, error) {
	u, err := url.Parse(spec)
	if err != nil || u.Host == "" {
		return store.S3Config{}, fmt.Errorf("serve: --blobs %q: want s3://BUCKET[/PREFIX]?endpoint=URL", spec)
	}
	q := u.Query()
	cfg := store.S3Config{Bucket: u.Host, Endpoint: q.Get("endpoint"), Region: q.Get("region")}
	if p := strings.Trim(u.Path, "/"); p != "" {
		cfg.Prefix = p + "/"
	}
	if cfg.Endpoint == "" {
		return store.S3Config{}, fmt.Errorf("serve: --blobs %q: the endpoint parameter is required (https://s3.REGION.amazonaws.com for AWS)", spec)
	}
	return cfg, nil
}
