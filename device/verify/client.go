package verify

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sextant-ml/sextant/clock"
)

// Limits bound the size of each fetched document (go-tuf's defaults). A
// zero field takes the default beside it.
type Limits struct {
	Root      int64 // 512 KB
	Timestamp int64 // 16 KB
	Snapshot  int64 // 2 MB
	Targets   int64 // 5 MB, top-level and each delegated role
	Director  int64 // 64 KB: one device's assignment
}

func (l Limits) withDefaults() Limits {
	def := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.Root, 512000)
	def(&l.Timestamp, 16384)
	def(&l.Snapshot, 2000000)
	def(&l.Targets, 5000000)
	def(&l.Director, 65536)
	return l
}

// Config configures a Client.
type Config struct {
	// ImageURL and DirectorURL are the repositories' base URLs.
	ImageURL, DirectorURL string
	// Device is this device's identifier, as the director names it.
	Device string
	// ImageRoot and DirectorRoot are the trusted roots shipped with the
	// app, used until the Store holds newer ones.
	ImageRoot, DirectorRoot []byte
	// Limits bound every fetch.
	Limits Limits
	// MaxRootRotations bounds the root versions fetched in one update
	// (default 32).
	MaxRootRotations int
}

// Client runs the Uptane check for one device. It is not safe for
// concurrent Updates.
type Client struct {
	cfg   Config
	fetch Fetcher
	store Store
	clk   clock.Clock
	hooks hooks
	// memo is the signature checks of the last update (memo.go), so that
	// an update finding nothing new does not repeat them; it also keeps
	// the shared parses of the documents they name.
	memo sigMemo
	// director is the director document last checked.
	director verifiedDirector
	// uncached (tests and benchmarks) parses and verifies every document
	// afresh and saves the director document every time, as before the
	// memo.
	uncached bool
}

// verifiedDirector is a director document whose signatures met the
// threshold of root's targets role: its bytes' SHA-256 and its parse.
type verifiedDirector struct {
	sum  [32]byte
	root *rootMeta
	doc  *targetsMeta
}

// New returns a client fetching with f, keeping trusted metadata in s and
// reading time from clk.
func New(cfg Config, f Fetcher, s Store, clk clock.Clock) (*Client, error) {
	if len(cfg.ImageRoot) == 0 || len(cfg.DirectorRoot) == 0 {
		return nil, fmt.Errorf("verify: config needs the image and director roots")
	}
	if cfg.Device == "" {
		return nil, fmt.Errorf("verify: config needs the device identifier")
	}
	cfg.Limits = cfg.Limits.withDefaults()
	if cfg.MaxRootRotations <= 0 {
		cfg.MaxRootRotations = 32
	}
	cfg.ImageURL = strings.TrimSuffix(cfg.ImageURL, "/")
	cfg.DirectorURL = strings.TrimSuffix(cfg.DirectorURL, "/")
	return &Client{cfg: cfg, fetch: f, store: s, clk: clk}, nil
}

// Names of documents in the Store.
const (
	storeImageRoot      = "image/root.json"
	storeTimestamp      = "image/timestamp.json"
	storeSnapshot       = "image/snapshot.json"
	storeDirectorRoot   = "director/root.json"
	storeDirectorTarget = "director/targets.json"
)

func storeTargets(role string) string { return "image/" + url.PathEscape(role) + ".json" }

// metadataPath mirrors delivery/signing.MetadataPath (a test holds them
// equal): consistent-snapshot names.
func metadataPath(role string, version int64) string {
	if role == "timestamp" {
		return "timestamp.json"
	}
	return strconv.FormatInt(version, 10) + "." + url.PathEscape(role) + ".json"
}

// directorTargetsPath mirrors delivery/signing.DirectorTargetsPath.
func directorTargetsPath(device string) string {
	return "devices/" + url.PathEscape(device) + "/targets.json"
}

// Result is what one Update verified.
type Result struct {
	// Targets are the assigned bundles both repositories agree on, one per
	// model, sorted by path.
	Targets []Target
	// DirectorVersion is the director document's version; DirectorExpires
	// when it expires.
	DirectorVersion int64
	DirectorExpires time.Time
}

// Update refreshes both repositories and returns the bundles the director
// assigns that the image repository vouches for. Any failed check fails the
// whole update (errors.Is(err, ErrVerification) and the specific error);
// the trusted state saved so far stays valid.
func (c *Client) Update(ctx context.Context) (*Result, error) {
	now := c.clk.Now()
	c.memo.begin()
	defer c.memo.end()
	dir, err := c.updateDirector(ctx, now)
	if err != nil {
		return nil, err
	}
	img, err := c.updateImage(ctx, now)
	if err != nil {
		return nil, err
	}
	res := &Result{DirectorVersion: dir.Version, DirectorExpires: dir.Expires}
	for _, p := range slices.Sorted(maps.Keys(dir.Targets)) {
		imgTarget, err := c.findImageTarget(ctx, img, p)
		if err != nil {
			if errors.Is(err, ErrNotListed) && c.hooks.skipAgreement {
				t, _ := imageTarget(p, dir.Targets[p])
				res.Targets = append(res.Targets, t)
				continue
			}
			return nil, err
		}
		if c.hooks.skipAgreement {
			t, _ := imageTarget(p, dir.Targets[p])
			res.Targets = append(res.Targets, t)
			continue
		}
		t, err := agree(p, dir.Targets[p], imgTarget)
		if err != nil {
			return nil, err
		}
		res.Targets = append(res.Targets, t)
	}
	return res, nil
}

func (c *Client) limit(n int64) int64 {
	if c.hooks.skipLengthLimit {
		return 1 << 40
	}
	return n
}

func (c *Client) get(ctx context.Context, base, p string, max int64) ([]byte, error) {
	data, err := c.fetch.Fetch(ctx, base+"/"+p, c.limit(max))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > c.limit(max) {
		return nil, fail(ErrTooLarge, fmt.Sprintf("%s is %d bytes, limit %d", p, len(data), max))
	}
	return data, nil
}

// trustedRoot loads the stored root (or the shipped one) and walks the
// remote root chain forward, saving each new root.
func (c *Client) trustedRoot(ctx context.Context, now time.Time, base, storeName string, shipped []byte) (*Trusted, bool, error) {
	data, err := c.store.Load(storeName)
	if err != nil {
		return nil, false, err
	}
	var t *Trusted
	if data != nil {
		t, err = newTrusted(data, now, &c.hooks, c.sigMemo())
	}
	if data == nil || err != nil {
		if t, err = newTrusted(shipped, now, &c.hooks, c.sigMemo()); err != nil {
			return nil, false, fmt.Errorf("verify: shipped root: %w", err)
		}
	}
	start := t.root
	for range c.cfg.MaxRootRotations {
		next, err := c.get(ctx, base, metadataPath("root", t.root.Version+1), c.cfg.Limits.Root)
		if errors.Is(err, ErrNotFound) {
			break
		}
		if err != nil {
			return nil, false, err
		}
		if err := t.UpdateRoot(next); err != nil {
			return nil, false, err
		}
		if err := c.store.Save(storeName, next); err != nil {
			return nil, false, err
		}
	}
	if err := t.FinishRoot(); err != nil {
		return nil, false, err
	}
	rotated := !sameRole(start, t.root, "timestamp") || !sameRole(start, t.root, "snapshot")
	return t, rotated && !c.hooks.skipRotationReset, nil
}

// updateImage refreshes the image repository's root, timestamp, snapshot
// and top-level targets.
func (c *Client) updateImage(ctx context.Context, now time.Time) (*Trusted, error) {
	t, rotated, err := c.trustedRoot(ctx, now, c.cfg.ImageURL, storeImageRoot, c.cfg.ImageRoot)
	if err != nil {
		return nil, err
	}
	if rotated {
		// §5.3.11: forget the timestamp and snapshot the old keys signed.
		if err := c.store.Delete(storeTimestamp); err != nil {
			return nil, err
		}
		if err := c.store.Delete(storeSnapshot); err != nil {
			return nil, err
		}
	}
	if local, _ := c.store.Load(storeTimestamp); local != nil {
		_ = t.UpdateTimestamp(local, true) // a bad local copy is no floor
	}
	ts, err := c.get(ctx, c.cfg.ImageURL, metadataPath("timestamp", 0), c.cfg.Limits.Timestamp)
	if err != nil {
		return nil, err
	}
	before := t.timestamp
	if err := t.UpdateTimestamp(ts, false); err != nil {
		return nil, err
	}
	if t.timestamp != before {
		if err := c.store.Save(storeTimestamp, ts); err != nil {
			return nil, err
		}
	} else if t.expired(&t.timestamp.header) {
		return nil, fail(ErrExpired, fmt.Sprintf("timestamp v%d expired", t.timestamp.Version))
	}

	current := false
	if local, _ := c.store.Load(storeSnapshot); local != nil {
		current, _ = t.UpdateSnapshot(local, true)
	}
	if !current {
		snap, err := c.get(ctx, c.cfg.ImageURL, metadataPath("snapshot", t.SnapshotVersion()), c.cfg.Limits.Snapshot)
		if err != nil {
			return nil, err
		}
		if _, err := t.UpdateSnapshot(snap, false); err != nil {
			return nil, err
		}
		if err := c.store.Save(storeSnapshot, snap); err != nil {
			return nil, err
		}
	}
	if err := c.loadTargets(ctx, t, "targets", t.UpdateTargets); err != nil {
		return nil, err
	}
	return t, nil
}

// loadTargets trusts a targets role, from the store when it holds the
// version the snapshot lists, else fetched.
func (c *Client) loadTargets(ctx context.Context, t *Trusted, role string, update func([]byte) error) error {
	if local, _ := c.store.Load(storeTargets(role)); local != nil {
		if update(local) == nil {
			return nil
		}
	}
	data, err := c.get(ctx, c.cfg.ImageURL, metadataPath(role, t.MetaVersion(role)), c.cfg.Limits.Targets)
	if err != nil {
		return err
	}
	if err := update(data); err != nil {
		return err
	}
	return c.store.Save(storeTargets(role), data)
}

// findImageTarget looks a path up in top-level targets, then in the
// delegated roles whose paths cover it, in order, stopping at a terminating
// one.
func (c *Client) findImageTarget(ctx context.Context, t *Trusted, p string) (targetFile, error) {
	if tf, ok := t.targets.Targets[p]; ok {
		return tf, nil
	}
	if t.targets.Delegations != nil {
		for _, dr := range t.targets.Delegations.Roles {
			if !slices.ContainsFunc(dr.Paths, func(pat string) bool { return matchPath(pat, p) }) {
				continue
			}
			name := dr.Name
			if err := c.loadTargets(ctx, t, name, func(b []byte) error { return t.UpdateDelegated(name, b) }); err != nil {
				return targetFile{}, err
			}
			if tf, ok := t.delegated[name].Targets[p]; ok {
				return tf, nil
			}
			if dr.Terminating {
				break
			}
		}
	}
	return targetFile{}, fail(ErrNotListed, p)
}

// updateDirector refreshes the director's root and this device's targets
// document.
func (c *Client) updateDirector(ctx context.Context, now time.Time) (*targetsMeta, error) {
	t, _, err := c.trustedRoot(ctx, now, c.cfg.DirectorURL, storeDirectorRoot, c.cfg.DirectorRoot)
	if err != nil {
		return nil, err
	}
	var prev *targetsMeta
	prevData, err := c.store.Load(storeDirectorTarget)
	if err != nil {
		return nil, err
	}
	if prevData != nil {
		if p, err := c.directorDoc(t, prevData); err == nil {
			prev = p
		}
	}
	data, err := c.get(ctx, c.cfg.DirectorURL, directorTargetsPath(c.cfg.Device), c.cfg.Limits.Director)
	if err != nil {
		return nil, err
	}
	d, err := c.directorDoc(t, data)
	if err != nil {
		return nil, err
	}
	if d.Device != c.cfg.Device && !c.hooks.skipDeviceBinding {
		return nil, fail(ErrWrongDevice, fmt.Sprintf("document for %q", d.Device))
	}
	if prev != nil && !c.hooks.skipRollback {
		if d.Version < prev.Version || d.Version == prev.Version && string(data) != string(prevData) {
			return nil, fail(ErrRollback, fmt.Sprintf("director targets version %d after %d", d.Version, prev.Version))
		}
	}
	if t.expired(&d.header) {
		return nil, fail(ErrExpired, fmt.Sprintf("director targets v%d expired %s", d.Version, d.Expires.Format(time.RFC3339)))
	}
	// The store already holds these bytes when they are the ones loaded
	// above: saving them again would only cost a synced write.
	if c.uncached || string(data) != string(prevData) {
		if err := c.store.Save(storeDirectorTarget, data); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// directorDoc parses a director document and checks its signatures under
// t's root. The document it last checked is kept (without its envelope),
// so the same bytes under the same root are not parsed or checked again;
// it is this device's own, so it is not shared (memo.go).
func (c *Client) directorDoc(t *Trusted, data []byte) (*targetsMeta, error) {
	var sum [32]byte
	if !c.uncached {
		sum = sha256.Sum256(data)
		if k := c.director; k.doc != nil && k.sum == sum && k.root == t.root {
			return k.doc, nil
		}
	}
	var d targetsMeta
	env, err := parse(data, "targets", &d)
	if err != nil {
		return nil, err
	}
	if t.hooks.skipSignatures {
		return &d, nil
	}
	c.memo.checks++
	if err := verifySignatures(env, "director targets", t.root.Keys, t.root.Roles["targets"]); err != nil {
		return nil, err
	}
	if !c.uncached {
		c.director = verifiedDirector{sum: sum, root: t.root, doc: &d}
	}
	return &d, nil
}

// sigMemo is the memo Trusted states use: none when uncached.
func (c *Client) sigMemo() *sigMemo {
	if c.uncached {
		return nil
	}
	return &c.memo
}
