package signing

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Repository is the image repository's current metadata. It is safe for
// concurrent use.
//
// The CLI (holding the offline keys) calls Init, AddBundle and RotateKeys;
// the server calls Open, Apply on what the CLI uploads, and Refresh on a
// timer with the online keys.
type Repository struct {
	cfg Config

	// mu guards every field below.
	mu        sync.Mutex
	root      *metadata.Metadata[metadata.RootType]
	targets   *metadata.Metadata[metadata.TargetsType]
	delegated map[string]*metadata.Metadata[metadata.TargetsType] // by role name
	snapshot  *metadata.Metadata[metadata.SnapshotType]           // nil before the first Refresh
	timestamp *metadata.Metadata[metadata.TimestampType]
	// onlineRotated is set when a rotation makes the current snapshot or
	// timestamp unverifiable, so the next Refresh re-signs both.
	onlineRotated bool
}

// RoleKeys are the keys of the image repository's top-level roles. Init
// needs the private halves of Root and Targets; Snapshot and Timestamp may
// be public only.
type RoleKeys struct {
	Root, Targets, Snapshot, Timestamp []*Key
}

// Init creates a repository: root version 1 and an empty top-level targets
// version 1, signed with the offline keys. The server makes the first
// snapshot and timestamp with Refresh.
func Init(cfg Config, now time.Time, keys RoleKeys) (*Repository, []File, error) {
	cfg = cfg.withDefaults()
	root, err := newRoot(now, cfg.RootExpiry, map[string][]*Key{
		"root": keys.Root, "targets": keys.Targets, "snapshot": keys.Snapshot, "timestamp": keys.Timestamp,
	}, cfg.threshold)
	if err != nil {
		return nil, nil, err
	}
	if err := signRootWith(root, nil, keys.Root); err != nil {
		return nil, nil, err
	}
	r := &Repository{cfg: cfg, root: root, delegated: map[string]*metadata.Metadata[metadata.TargetsType]{}}
	r.targets = metadata.Targets(expiry(now, cfg.TargetsExpiry))
	r.targets.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}, Roles: []metadata.DelegatedRole{}}
	if err := r.signTargetsLocked("targets", r.targets, keys.Targets); err != nil {
		return nil, nil, err
	}
	rf, err := rootFile("root", root)
	if err != nil {
		return nil, nil, err
	}
	tf, err := targetsFile("targets", r.targets)
	if err != nil {
		return nil, nil, err
	}
	return r, []File{rf, tf}, nil
}

// Open loads a repository from the latest document of each role, keyed by
// role name ("root", "targets", "targets/<model>", "snapshot",
// "timestamp"; snapshot and timestamp may be missing). Each document is
// checked against its delegator's keys.
func Open(cfg Config, latest map[string][]byte) (*Repository, error) {
	r := &Repository{cfg: cfg.withDefaults(), delegated: map[string]*metadata.Metadata[metadata.TargetsType]{}}
	var err error
	if r.root, err = metadata.Root().FromBytes(latest["root"]); err != nil {
		return nil, fmt.Errorf("signing: open root: %w", err)
	}
	if err := r.root.VerifyDelegate("root", r.root); err != nil {
		return nil, fmt.Errorf("signing: open root: %w", err)
	}
	if r.targets, err = metadata.Targets().FromBytes(latest["targets"]); err != nil {
		return nil, fmt.Errorf("signing: open targets: %w", err)
	}
	if err := r.root.VerifyDelegate("targets", r.targets); err != nil {
		return nil, fmt.Errorf("signing: open targets: %w", err)
	}
	for role, data := range latest {
		switch role {
		case "root", "targets":
		case "snapshot":
			if r.snapshot, err = metadata.Snapshot().FromBytes(data); err != nil {
				return nil, fmt.Errorf("signing: open snapshot: %w", err)
			}
		case "timestamp":
			if r.timestamp, err = metadata.Timestamp().FromBytes(data); err != nil {
				return nil, fmt.Errorf("signing: open timestamp: %w", err)
			}
		default:
			d, err := metadata.Targets().FromBytes(data)
			if err != nil {
				return nil, fmt.Errorf("signing: open %s: %w", role, err)
			}
			if err := r.targets.VerifyDelegate(role, d); err != nil {
				return nil, fmt.Errorf("signing: open %s: %w", role, err)
			}
			r.delegated[role] = d
		}
	}
	if r.snapshot != nil && r.root.VerifyDelegate("snapshot", r.snapshot) != nil ||
		r.timestamp != nil && r.root.VerifyDelegate("timestamp", r.timestamp) != nil {
		r.onlineRotated = true
	}
	return r, nil
}

// Root returns the current root metadata (the trust anchor to ship in apps).
func (r *Repository) Root() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, _ := r.root.ToBytes(false)
	return b
}

// Latest returns the latest document of every role, keyed by role name, as
// Open takes them.
func (r *Repository) Latest() map[string][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]byte{}
	out["root"], _ = r.root.ToBytes(false)
	out["targets"], _ = r.targets.ToBytes(false)
	for role, d := range r.delegated {
		out[role], _ = d.ToBytes(false)
	}
	if r.snapshot != nil {
		out["snapshot"], _ = r.snapshot.ToBytes(false)
	}
	if r.timestamp != nil {
		out["timestamp"], _ = r.timestamp.ToBytes(false)
	}
	return out
}

// Bundles lists a model's genuine bundles.
func (r *Repository) Bundles(model string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.delegated[ModelRole(model)]
	if d == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(d.Signed.Targets))
}

// Expires returns the expiry of each role's current document.
func (r *Repository) Expires() map[string]time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]time.Time{"root": r.root.Signed.Expires, "targets": r.targets.Signed.Expires}
	for role, d := range r.delegated {
		out[role] = d.Signed.Expires
	}
	if r.snapshot != nil {
		out["snapshot"] = r.snapshot.Signed.Expires
	}
	if r.timestamp != nil {
		out["timestamp"] = r.timestamp.Signed.Expires
	}
	return out
}

// signTargetsLocked signs top-level or delegated targets with keys
// authorized for role.
func (r *Repository) signTargetsLocked(role string, t *metadata.Metadata[metadata.TargetsType], keys []*Key) error {
	if role == "targets" {
		if err := signMeta(t, role, r.root.Signed.Roles["targets"].KeyIDs, r.root.Signed.Roles["targets"].Threshold, keys); err != nil {
			return err
		}
		return r.root.VerifyDelegate("targets", t)
	}
	for _, d := range r.targets.Signed.Delegations.Roles {
		if d.Name == role {
			if err := signMeta(t, role, d.KeyIDs, d.Threshold, keys); err != nil {
				return err
			}
			return r.targets.VerifyDelegate(role, t)
		}
	}
	return fmt.Errorf("signing: %s: %w", role, ErrUnknownModel)
}

// AddBundle lists a genuine bundle in its model's delegated role, signed
// with the targets keys (offline: the CLI calls this). A model seen for the
// first time gets a delegation in top-level targets, which is re-signed too.
// The returned files go to the server, which Applies them.
func (r *Repository) AddBundle(now time.Time, b Bundle, targetsKeys []*Key) ([]File, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	role := ModelRole(b.Model)
	var files []File
	d := r.delegated[role]
	if d == nil {
		top, err := r.withDelegationLocked(now, role, b.Model, targetsKeys)
		if err != nil {
			return nil, err
		}
		f, err := targetsFile("targets", top)
		if err != nil {
			return nil, err
		}
		r.targets = top
		files = append(files, f)
		d = metadata.Targets(expiry(now, r.cfg.TargetsExpiry))
		d.Signed.Version = 0
	}
	next, err := metadata.Targets().FromBytes(mustBytes(d))
	if err != nil {
		return nil, err
	}
	tf := metadata.TargetFile()
	tf.Length = b.Length
	tf.Hashes = metadata.Hashes{"sha256": b.SHA256[:]}
	if tf.Custom, err = rawJSON(imageCustom{Model: b.Model, Version: b.Version, MinRuntimeVersion: b.MinRuntimeVersion, Ops: b.Ops}); err != nil {
		return nil, err
	}
	tf.Path = b.Path()
	next.Signed.Targets[b.Path()] = tf
	next.Signed.Version++
	next.Signed.Expires = expiry(now, r.cfg.TargetsExpiry)
	if err := r.signTargetsLocked(role, next, targetsKeys); err != nil {
		return nil, err
	}
	f, err := targetsFile(role, next)
	if err != nil {
		return nil, err
	}
	r.delegated[role] = next
	return append(files, f), nil
}

// withDelegationLocked returns the next top-level targets with a delegation
// of model's paths to role, keyed like top-level targets.
func (r *Repository) withDelegationLocked(now time.Time, role, model string, keys []*Key) (*metadata.Metadata[metadata.TargetsType], error) {
	top, err := metadata.Targets().FromBytes(mustBytes(r.targets))
	if err != nil {
		return nil, err
	}
	if top.Signed.Delegations == nil {
		top.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}}
	}
	tr := r.root.Signed.Roles["targets"]
	top.Signed.Delegations.Roles = append(top.Signed.Delegations.Roles, metadata.DelegatedRole{
		Name: role, Threshold: tr.Threshold, Terminating: true, Paths: []string{model + "/*"},
	})
	for _, id := range tr.KeyIDs {
		if err := top.Signed.AddKey(r.root.Signed.Keys[id], role); err != nil {
			return nil, fmt.Errorf("signing: delegate %s: %w", role, err)
		}
	}
	top.Signed.Version++
	top.Signed.Expires = expiry(now, r.cfg.TargetsExpiry)
	if err := r.signTargetsLocked("targets", top, keys); err != nil {
		return nil, err
	}
	return top, nil
}

func mustBytes[T metadata.Roles](m *metadata.Metadata[T]) []byte {
	b, err := m.ToBytes(false)
	if err != nil {
		panic(fmt.Sprintf("signing: re-encode metadata: %v", err)) // our own value: cannot fail
	}
	return b
}

// RemoveBundle delists a bundle (a bad release), signed offline with the
// targets keys like AddBundle. Devices then refuse it even if the director
// assigns it.
func (r *Repository) RemoveBundle(now time.Time, model, version string, targetsKeys []*Key) ([]File, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	role := ModelRole(model)
	d := r.delegated[role]
	p := Bundle{Model: model, Version: version}.Path()
	if d == nil || d.Signed.Targets[p] == nil {
		return nil, fmt.Errorf("signing: remove %s: %w", p, ErrUnknownModel)
	}
	next, err := metadata.Targets().FromBytes(mustBytes(d))
	if err != nil {
		return nil, err
	}
	delete(next.Signed.Targets, p)
	next.Signed.Version++
	next.Signed.Expires = expiry(now, r.cfg.TargetsExpiry)
	if err := r.signTargetsLocked(role, next, targetsKeys); err != nil {
		return nil, err
	}
	f, err := targetsFile(role, next)
	if err != nil {
		return nil, err
	}
	r.delegated[role] = next
	return []File{f}, nil
}
