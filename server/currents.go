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
//
// An expired list is reloaded by one check-in while the others go on with
// the expired one (for at most the reload's duration): a slow store must
// not stall every check-in every ttl. After invalidate, or before the first
// load, there is nothing to fall back to, and check-ins wait for the
// reload.
type currents struct {
	store delivery.Registry
	clk   clock.Clock
	ttl   time.Duration

	// mu guards the fields after it, and is held during a reload after
	// invalidate so that one check-in reloads while the others wait.
	mu     sync.Mutex
	loaded time.Time
	list   []current
	// valid says list may be served while expired (false before the first
	// load and after invalidate).
	valid bool
	// refreshing is set while a check-in reloads an expired list.
	refreshing bool
	// gen counts invalidations; a reload started before one is discarded.
	gen uint64
}

func newCurrents(r delivery.Registry, clk clock.Clock, ttl time.Duration) *currents {
	return &currents{store: r, clk: clk, ttl: ttl}
}

func (c *currents) invalidate() {
	c.mu.Lock()
	c.loaded, c.valid = time.Time{}, false
	c.gen++
	c.mu.Unlock()
}

func (c *currents) get(ctx context.Context) ([]current, error) {
	c.mu.Lock()
	now := c.clk.Now()
	if c.valid && (now.Sub(c.loaded) < c.ttl || c.refreshing) {
		list := c.list
		c.mu.Unlock()
		return list, nil
	}
	if !c.valid {
		// Nothing to fall back to: reload holding mu.
		defer c.mu.Unlock()
		list, err := c.load(ctx)
		if err != nil {
			return nil, err
		}
		c.list, c.loaded, c.valid = list, now, true
		return list, nil
	}
	// Expired: this check-in reloads; the others serve the expired list.
	c.refreshing = true
	gen, stale := c.gen, c.list
	c.mu.Unlock()
	list, err := c.load(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshing = false
	if err != nil {
		// Keep serving the expired list; the next check-in retries.
		return stale, nil
	}
	if c.gen == gen {
		c.list, c.loaded = list, now
	}
	return list, nil
}

// load reads every model's current version from the store.
func (c *currents) load(ctx context.Context) ([]current, error) {
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
