package signing

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
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

// fingerprint identifies an assignment's content.
func (a Assignment) fingerprint() [32]byte {
	bs := slices.Clone(a.Bundles)
	slices.SortFunc(bs, func(x, y Bundle) int { return strings.Compare(x.Path(), y.Path()) })
	h := sha256.New()
	var n [8]byte
	for _, b := range bs {
		h.Write([]byte(b.Path()))
		h.Write([]byte{0})
		binary.LittleEndian.PutUint64(n[:], uint64(b.Length))
		h.Write(n[:])
		h.Write(b.SHA256[:])
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
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
// caches them per assignment. It is safe for concurrent use.
type Director struct {
	cfg  DirectorConfig
	clk  clock.Clock
	keys []*Key

	// mu guards cache and signed.
	mu     sync.Mutex
	cache  map[string]*directorEntry // by device
	signed int64                     // documents signed (for tests and metrics)
}

type directorEntry struct {
	fp  [32]byte
	doc Document
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
	return &Director{cfg: cfg.withDefaults(), clk: clk, keys: keys, cache: map[string]*directorEntry{}}, nil
}

// Document returns the device's signed document for its assignment: the
// cached one while the assignment is unchanged and the document is not
// within RenewBefore of expiry, a newly signed one otherwise. Versions are
// the signing time in Unix milliseconds (or one more than the last, if
// larger), so they keep increasing across server restarts that lose the
// cache — unless the server restarts within the millisecond it last signed,
// or its clock steps back.
func (d *Director) Document(a Assignment) (Document, error) {
	for _, b := range a.Bundles {
		if err := b.check(); err != nil {
			return Document{}, err
		}
	}
	fp := a.fingerprint()
	now := d.clk.Now()
	d.mu.Lock()
	e := d.cache[a.Device]
	if e != nil && e.fp == fp && now.Before(e.doc.Expires.Add(-d.cfg.RenewBefore)) {
		doc := e.doc
		d.mu.Unlock()
		return doc, nil
	}
	version := now.UnixMilli()
	if e != nil && e.doc.Version >= version {
		version = e.doc.Version + 1
	}
	d.mu.Unlock()

	doc, err := d.sign(now, version, a)
	if err != nil {
		return Document{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if cur := d.cache[a.Device]; cur != nil && cur.doc.Version >= doc.Version {
		// A concurrent check-in signed first; serve what it cached.
		if cur.fp == fp {
			return cur.doc, nil
		}
	}
	d.cache[a.Device] = &directorEntry{fp: fp, doc: doc}
	d.signed++
	return doc, nil
}

// Forget drops a device's cached document (a deregistered device).
func (d *Director) Forget(device string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.cache, device)
}

// Signed returns how many documents the director has signed.
func (d *Director) Signed() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.signed
}

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
