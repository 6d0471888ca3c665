package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/device/delta"
)

// AssignedDelta is a delta the device may fetch instead of the whole
// bundle: it rebuilds the assigned version from the version the device
// has installed (From). It is offered in the check-in answer only, not in
// signed metadata: the device verifies the rebuilt bundle against the
// signed target (length and SHA-256) and falls back to the full bundle if
// it does not match, and takes a delta only when it is shorter than the
// bundle, so an offer cannot install anything or feed endless data.
type AssignedDelta struct {
	From   string `json:"from"`
	SHA256 string `json:"sha256"`
	Length int64  `json:"length"`
	URL    string `json:"url"`
}

// maxDeltaPercent is the largest delta kept, in percent of the bundle: a
// delta that saves less is not worth a decode on the device (and another
// way for an update to fail before the fallback to the bundle).
const maxDeltaPercent = 90

// makeDelta computes, at publish, a delta from the model's previous
// version to v with device/delta (zstd, the previous bundle as dictionary)
// when both bundles are at most delta.MaxBundle bytes, and records it as a
// delta artifact if it is at most maxDeltaPercent of v's bundle. A failure is logged and
// costs only the delta: the publish has happened.
func (s *Server) makeDelta(ctx context.Context, v delivery.Version) {
	if err := s.tryDelta(ctx, v); err != nil {
		s.log.WarnContext(ctx, "delta not made", slog.String("model", v.Model), slog.String("version", v.Version), slog.Any("err", err))
	}
}

func (s *Server) tryDelta(ctx context.Context, v delivery.Version) error {
	if v.Length > delta.MaxBundle {
		return nil
	}
	versions, err := s.store.ListVersions(ctx, v.Model)
	if err != nil {
		return err
	}
	var prev *delivery.Version
	for i := range versions {
		if versions[i].Version == v.Version {
			break
		}
		prev = &versions[i]
	}
	if prev == nil || prev.Length > delta.MaxBundle {
		return nil
	}
	base, err := s.readBlob(ctx, prev.SHA256, prev.Length)
	if err != nil {
		return err
	}
	next, err := s.readBlob(ctx, v.SHA256, v.Length)
	if err != nil {
		return err
	}
	var baseSum [32]byte
	if _, err := hex.Decode(baseSum[:], []byte(prev.SHA256)); err != nil {
		return fmt.Errorf("server: base hash: %w", err)
	}
	var buf bytes.Buffer
	if err := delta.Encode(&buf, base, baseSum, next); err != nil {
		return err
	}
	if int64(buf.Len()) > v.Length*maxDeltaPercent/100 {
		return nil // saves too little: devices take the bundle
	}
	sum := sha256.Sum256(buf.Bytes())
	blob, err := s.blobs.Put(ctx, bytes.NewReader(buf.Bytes()), delivery.Blob{SHA256: hex.EncodeToString(sum[:]), Length: int64(buf.Len())})
	if err != nil {
		return err
	}
	_, err = s.store.PutArtifact(ctx, delivery.Artifact{SHA256: blob.SHA256, Length: blob.Length, MediaType: delivery.MediaDelta,
		Kind: delivery.KindDelta, Model: v.Model, Version: v.Version, From: prev.Version})
	return err
}

// readBlob reads a whole blob of at most delta.MaxBundle bytes.
func (s *Server) readBlob(ctx context.Context, sum string, length int64) ([]byte, error) {
	rc, _, err := s.blobs.Open(ctx, sum)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, length+1))
	if err != nil {
		return nil, fmt.Errorf("server: read blob: %w", err)
	}
	if int64(len(b)) != length {
		return nil, fmt.Errorf("server: blob %s is %d bytes, want %d", sum, len(b), length)
	}
	return b, nil
}

// deltasOf returns the delta artifacts of a version (loaded with the
// current versions, not per check-in).
func deltasOf(ctx context.Context, r delivery.Registry, v delivery.Version) ([]delivery.Artifact, error) {
	arts, err := r.ListArtifacts(ctx, v.Model, v.Version)
	if err != nil {
		return nil, err
	}
	var out []delivery.Artifact
	for _, a := range arts {
		if a.Kind == delivery.KindDelta {
			out = append(out, a)
		}
	}
	return out, nil
}

// offerDeltas returns the deltas of c that apply to the installed version.
func (c *current) offerDeltas(installed, blobURL string) []AssignedDelta {
	var out []AssignedDelta
	for _, a := range c.deltas {
		if installed != "" && a.From == installed {
			out = append(out, AssignedDelta{From: a.From, SHA256: a.SHA256, Length: a.Length, URL: blobURL + a.SHA256})
		}
	}
	return out
}
