package server

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/signing"
)

// current is a model's current version as the director assigns it.
type current struct {
	bundle signing.Bundle
	// deltas are the version's delta artifacts (deltas.go).
	deltas []delivery.Artifact
}

// currents caches every model's current version for check-ins, reloading
// from the store at most once per ttl (so replicas see each other's changes
// within ttl) and at once after a change made through this server.
type currents struct {
	store delivery.Registry
	clk   clock.Clock
	ttl   time.Duration

	// mu guards loaded and list, and is held while reloading so that one
	// check-in reloads while the others wait for its result.
	mu     sync.Mutex
	loaded time.Time
	list   []current
}

func newCurrents(r delivery.Registry, clk clock.Clock, ttl time.Duration) *currents {
	return &currents{store: r, clk: clk, ttl: ttl}
}

func (c *currents) invalidate() {
	c.mu.Lock()
	c.loaded = time.Time{}
	c.mu.Unlock()
}

func (c *currents) get(ctx context.Context) ([]current, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clk.Now()
	if !c.loaded.IsZero() && now.Sub(c.loaded) < c.ttl {
		return c.list, nil
	}
	models, err := c.store.ListModels(ctx)
	if err != nil {
		return nil, err
	}
	var list []current
	for _, m := range models {
		if m.Current == "" {
			continue
		}
		v, err := c.store.GetVersion(ctx, m.Name, m.Current)
		if errors.Is(err, delivery.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		cur, err := currentOf(v)
		if err != nil {
			return nil, err
		}
		if cur.deltas, err = deltasOf(ctx, c.store, v); err != nil {
			return nil, err
		}
		list = append(list, cur)
	}
	c.list, c.loaded = list, now
	return list, nil
}

func currentOf(v delivery.Version) (current, error) {
	b := signing.Bundle{Model: v.Model, Version: v.Version, Length: v.Length}
	sum, err := hex.DecodeString(v.SHA256)
	if err != nil || len(sum) != 32 {
		return current{}, errors.New("server: stored version has a malformed sha256")
	}
	copy(b.SHA256[:], sum)
	var m struct {
		MinRuntimeVersion string   `json:"min_runtime_version"`
		Ops               []string `json:"ops"`
	}
	if len(v.Manifest) > 0 {
		if err := json.Unmarshal(v.Manifest, &m); err != nil {
			return current{}, errors.New("server: stored manifest is not JSON")
		}
	}
	b.MinRuntimeVersion, b.Ops = m.MinRuntimeVersion, m.Ops
	return current{bundle: b}, nil
}
