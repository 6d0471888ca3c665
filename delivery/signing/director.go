package signing

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// DirectorConfig configures a Director. The zero value is usable.
type DirectorConfig struct {
	// Expiry is how long a device's director document stays valid
	// (default 24 hours).
	Expiry time.Duration
	// RenewBefore is how long before expiry a cached document is re-signed
	// (default half of Expiry).
	RenewBefore time.Duration
	// RootExpiry is how long the director's root stays valid (default 365
	// days).
	RootExpiry time.Duration
	// CacheBytes and CacheEntries bound the cache of signed documents
	// (defaults DefaultDirectorCacheBytes and DefaultDirectorCacheEntries;
	// doccache.go says how they were sized). CacheBytes counts each
	// document's bytes plus a fixed per-entry overhead.
	CacheBytes   int64
	CacheEntries int
}

func (c DirectorConfig) withDefaults() DirectorConfig {
	if c.Expiry <= 0 {
		c.Expiry = 24 * time.Hour
	}
	if c.RenewBefore <= 0 || c.RenewBefore >= c.Expiry {
		c.RenewBefore = c.Expiry / 2
	}
	if c.RootExpiry <= 0 {
		c.RootExpiry = 365 * 24 * time.Hour
	}
	if c.CacheBytes <= 0 {
		c.CacheBytes = DefaultDirectorCacheBytes
	}
	if c.CacheEntries <= 0 {
		c.CacheEntries = DefaultDirectorCacheEntries
	}
	return c
}

// Assignment is what one device should run: at most one bundle per model.
type Assignment struct {
	// Device is the device's identifier; the signed document names it, so
	// it cannot be replayed to another device.
	Device string
	// Bundles are the assigned bundles.
	Bundles []Bundle
}

// fingerprint identifies an assignment's content, whatever the order of
// its bundles: the SHA-256 of its bundles' digests in sorted order (the
// digest itself for one bundle). It does
// not allocate for assignments of up to maxStackBundles bundles with names
// within the 128 bytes names may have.
func (a Assignment) fingerprint() [32]byte {
	if len(a.Bundles) == 1 {
		// The common case: the bundle's digest is the fingerprint (a
		// collision with a longer assignment's would be a SHA-256
		// preimage).
		return a.Bundles[0].digest()
	}
	var stack [maxStackBundles][32]byte
	ds := stack[:0]
	if len(a.Bundles) > maxStackBundles {
		ds = make([][32]byte, 0, len(a.Bundles))
	}
	for i := range a.Bundles {
		ds = append(ds, a.Bundles[i].digest())
	}
	slices.SortFunc(ds, func(x, y [32]byte) int { return bytes.Compare(x[:], y[:]) })
	var buf [maxStackBundles * 32]byte
	return sha256.Sum256(flatten(buf[:0], ds))
}

// maxStackBundles is how many bundles fingerprint handles on the stack.
const maxStackBundles = 8

func flatten(dst []byte, ds [][32]byte) []byte {
	for i := range ds {
		dst = append(dst, ds[i][:]...)
	}
	return dst
}

// digest is the SHA-256 of what the director signs about b: its model,
// version (which name its target path), length and content hash.
func (b *Bundle) digest() [32]byte {
	var stack [2*128 + 2 + 8 + 32]byte
	buf := append(stack[:0], b.Model...)
	buf = append(buf, 0)
	buf = append(buf, b.Version...)
	buf = append(buf, 0)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(b.Length))
	buf = append(buf, b.SHA256[:]...)
	return sha256.Sum256(buf)
}

// Document is a signed director targets document for one device.
type Document struct {
	// Version increases with every document signed for the device.
	Version int64
	// Expires is when devices stop trusting it.
	Expires time.Time
	// Data is the signed JSON.
	Data []byte
}

// Director signs per-device targets documents with its online key and
// caches them per assignment, within DirectorConfig's bounds. It is safe
// for concurrent use.
type Director struct {
	cfg   DirectorConfig
	clk   clock.Clock
	keys  []*Key
	cache *docCache
	creds *DeviceCredentials
	// signed counts documents signed (for tests and metrics).
	signed atomic.Int64
}

// NewDirector returns a director signing with keys (the "director" role's
// online keys, which the director root lists for its targets role).
func NewDirector(cfg DirectorConfig, clk clock.Clock, keys []*Key) (*Director, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("signing: director: no keys")
	}
	for _, k := range keys {
		if !k.CanSign() {
			return nil, fmt.Errorf("signing: director key %s: %w", short(k.ID), ErrNoPrivateKey)
		}
	}
	creds, err := NewDeviceCredentials(keys[0])
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Director{cfg: cfg, clk: clk, keys: keys, cache: newDocCache(cfg.CacheEntries, cfg.CacheBytes), creds: creds}, nil
}

// Document returns the device's signed document for its assignment: the
// cached one while the assignment is unchanged and the document is not
// within RenewBefore of expiry, a newly signed one otherwise. Versions are
// the signing time in Unix milliseconds, or one more than the device's
// last document (or than any document the cache evicted) if that is
// larger, so they keep increasing across evictions, and across server
// restarts that lose the cache — unless the server restarts within the
// millisecond it last signed, or its clock steps back. A cached answer
// does not allocate.
func (d *Director) Document(a Assignment) (Document, error) {
	fp := a.fingerprint()
	now := d.clk.Now()
	if cfp, doc, ok := d.cache.get(a.Device); ok && cfp == fp && now.Before(doc.Expires.Add(-d.cfg.RenewBefore)) {
		return doc, nil
	}
	for _, b := range a.Bundles {
		if err := b.check(); err != nil {
			return Document{}, err
		}
	}
	last := d.cache.lastVersion(a.Device)
	for {
		doc, err := d.sign(now, max(now.UnixMilli(), last+1), a)
		if err != nil {
			return Document{}, err
		}
		cur, done := d.store(a.Device, fp, doc)
		if done {
			return cur, nil
		}
		// A concurrent check-in cached another assignment's document with
		// this version or a later one: sign after it.
		last = cur.Version
	}
}

// store caches doc unless a concurrent call cached a document as new or
// newer: it returns that one, done, if it is for the same assignment, and
// not done otherwise.
func (d *Director) store(device string, fp [32]byte, doc Document) (Document, bool) {
	c := d.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.index[device]; ok {
		if cur := &c.slots[i]; cur.doc.Version >= doc.Version {
			return cur.doc, cur.fp == fp
		}
	}
	c.putLocked(device, fp, doc)
	d.signed.Add(1)
	return doc, true
}

// Forget drops a device's cached document (a deregistered device).
func (d *Director) Forget(device string) { d.cache.forget(device) }

// Signed returns how many documents the director has signed.
func (d *Director) Signed() int64 { return d.signed.Load() }

// Credentials returns the authority of the device credentials this
// director's (first) key vouches for (credential.go).
func (d *Director) Credentials() *DeviceCredentials { return d.creds }

// CacheStats describes the document cache.
func (d *Director) CacheStats() DirectorCacheStats { return d.cache.stats() }

func (d *Director) sign(now time.Time, version int64, a Assignment) (Document, error) {
	t := metadata.Targets(expiry(now, d.cfg.Expiry))
	t.Signed.Version = version
	t.Signed.UnrecognizedFields = map[string]any{"device": a.Device}
	for _, b := range a.Bundles {
		tf := metadata.TargetFile()
		tf.Length = b.Length
		tf.Hashes = metadata.Hashes{"sha256": b.SHA256[:]}
		var err error
		if tf.Custom, err = rawJSON(directorCustom{Model: b.Model, Version: b.Version}); err != nil {
			return Document{}, err
		}
		tf.Path = b.Path()
		t.Signed.Targets[b.Path()] = tf
	}
	ids := make([]string, len(d.keys))
	for i, k := range d.keys {
		ids[i] = k.ID
	}
	if err := signMeta(t, "director-targets", ids, 1, d.keys); err != nil {
		return Document{}, err
	}
	data, err := t.ToBytes(false)
	if err != nil {
		return Document{}, fmt.Errorf("signing: encode director document: %w", err)
	}
	return Document{Version: version, Expires: t.Signed.Expires, Data: data}, nil
}

// InitDirectorRoot makes the director repository's root version 1: root
// role keyed by the (offline) root keys, targets, snapshot and timestamp
// roles keyed by the director's online keys. Devices ship it beside the
// image repository's root.
func InitDirectorRoot(cfg DirectorConfig, now time.Time, rootKeys, directorKeys []*Key) (File, error) {
	cfg = cfg.withDefaults()
	root, err := newRoot(now, cfg.RootExpiry, map[string][]*Key{
		"root": rootKeys, "targets": directorKeys, "snapshot": directorKeys, "timestamp": directorKeys,
	}, func(string) int { return 1 })
	if err != nil {
		return File{}, err
	}
	if err := signRootWith(root, nil, rootKeys); err != nil {
		return File{}, err
	}
	return rootFile("director-root", root)
}

// RotateDirectorRoot returns the director root after current with role's
// keys replaced ("root", or "director" for the online director key, which
// keys targets, snapshot and timestamp), signed by rootSigners (old and,
// for a root rotation, new root keys).
func RotateDirectorRoot(cfg DirectorConfig, now time.Time, current []byte, role string, newKeys, rootSigners []*Key) (File, error) {
	cfg = cfg.withDefaults()
	prev, err := metadata.Root().FromBytes(current)
	if err != nil {
		return File{}, fmt.Errorf("signing: director root: %w", err)
	}
	if role == "root" {
		next, err := rotatedRoot(prev, now, cfg.RootExpiry, "root", newKeys, 1, append(slices.Clone(rootSigners), newKeys...))
		if err != nil {
			return File{}, err
		}
		return rootFile("director-root", next)
	}
	if role != "director" {
		return File{}, fmt.Errorf("signing: director root: no role %q", role)
	}
	// Replace the three online roles' keys in one version.
	next, err := rotatedRoot(prev, now, cfg.RootExpiry, "targets", newKeys, 1, rootSigners)
	if err != nil {
		return File{}, err
	}
	for _, r := range []string{"snapshot", "timestamp"} {
		for _, id := range slices.Clone(next.Signed.Roles[r].KeyIDs) {
			if err := next.Signed.RevokeKey(id, r); err != nil {
				return File{}, err
			}
		}
		for _, k := range newKeys {
			if err := next.Signed.AddKey(k.tufKey(), r); err != nil {
				return File{}, err
			}
		}
	}
	if err := signRootWith(next, prev, rootSigners); err != nil {
		return File{}, err
	}
	return rootFile("director-root", next)
}
