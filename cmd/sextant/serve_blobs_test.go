package main

import (
	"testing"

	"github.com/sextant-ml/sextant/store"
)

func TestParseS3Blobs(t *testing.T) {
	cfg, err := parseS3("s3://bundles/prod/eu?endpoint=http://127.0.0.1:7070&region=eu-west-1")
	want := store.S3Config{Bucket: "bundles", Prefix: "prod/eu/", Endpoint: "http://127.0.0.1:7070", Region: "eu-west-1"}
	if err != nil || cfg != want {
		t.Fatalf("parse = %+v, %v; want %+v", cfg, err, want)
	}
	if cfg, err := parseS3("s3://bundles?endpoint=https://s3.amazonaws.com"); err != nil || cfg.Prefix != "" {
		t.Fatalf("no prefix: %+v, %v", cfg, err)
	}
	for _, bad := range []string{"s3://bundles/x", "s3:///x?endpoint=http://h"} {
		if _, err := parseS3(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := openBlobs(t.Context(), "s3://b?endpoint=ftp://h"); err == nil {
		t.Error("a non-HTTP endpoint was accepted")
	}
}
