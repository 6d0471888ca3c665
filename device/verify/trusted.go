package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// hooks switch single defences off, for the attack tests to show each is
// what stops its attack. Production code never sets them.
type hooks struct {
	skipSignatures    bool // arbitrary bundle
	skipExpiry        bool // freeze
	skipRollback      bool // rollback: version monotonicity
	skipConsistency   bool // mix-and-match: versions and hashes parents list
	skipLengthLimit   bool // endless data
	skipRotationReset bool // fast-forward recovery
	skipAgreement     bool // compromised director
	skipDeviceBinding bool // director document replayed to another device
}

// Trusted is the image repository's trusted metadata as a state machine
// with no I/O, after go-tuf's trustedmetadata: each Update method takes a
// document's bytes, checks it against what is trusted and the reference
// time, and trusts it or returns an error leaving the state unchanged.
type Trusted struct {
	ref   time.Time
	hooks *hooks
	// memo, when set, is the owning Client's: parses are shared and
	// signature checks passed before are not repeated (memo.go).
	memo *sigMemo

	root      *rootMeta
	timestamp *fileMeta
	snapshot  *fileMeta
	targets   *targetsMeta
	delegated map[string]*targetsMeta
}

// NewTrusted trusts rootData (the root shipped with the app, or the last
// one the device trusted) and checks later documents against ref. The root
// must be signed by its own root role's threshold; its expiry is not
// checked until FinishRoot.
func NewTrusted(rootData []byte, ref time.Time) (*Trusted, error) {
	return newTrusted(rootData, ref, &hooks{}, nil)
}

func newTrusted(rootData []byte, ref time.Time, h *hooks, memo *sigMemo) (*Trusted, error) {
	t := &Trusted{ref: ref, hooks: h, memo: memo, delegated: map[string]*targetsMeta{}}
	env, r, err := parseShared[rootMeta](rootData, "root", t.memo != nil)
	if err != nil {
		return nil, err
	}
	if err := t.verifyRoot(env, "root", r, "root"); err != nil {
		return nil, err
	}
	t.root = r
	return t, nil
}

// verifyRoot checks env against the threshold of the role named roleName
// in root.
func (t *Trusted) verifyRoot(env *envelope, what string, root *rootMeta, roleName string) error {
	return t.verify(env, what, sigKey{env: env, signer: root, role: roleName}, root.Keys, root.Roles[roleName])
}

// verify checks env's signatures against keys and r, which k.signer and
// k.role determine (the memo's key).
func (t *Trusted) verify(env *envelope, what string, k sigKey, keys map[string]key, r role) error {
	if t.hooks.skipSignatures {
		return nil
	}
	if t.memo != nil {
		if t.memo.verified(k) {
			return nil
		}
		t.memo.checks++
	}
	if err := verifySignatures(env, what, keys, r); err != nil {
		return err
	}
	if t.memo != nil {
		t.memo.passed(k)
	}
	return nil
}

func (t *Trusted) expired(h *header) bool {
	return !t.hooks.skipExpiry && !t.ref.Before(h.Expires)
}

// RootVersion is the trusted root's version.
func (t *Trusted) RootVersion() int64 { return t.root.Version }

// UpdateRoot trusts the next root version: signed by the thresholds of the
// trusted root role and of its own, with version one more (§5.3.4–5.3.8).
// When the timestamp or snapshot keys change it drops the trusted timestamp
// and snapshot (§5.3.11), which is how a device recovers from a
// fast-forward attack by a compromised online key once the keys rotate.
func (t *Trusted) UpdateRoot(data []byte) error {
	env, r, err := parseShared[rootMeta](data, "root", t.memo != nil)
	if err != nil {
		return err
	}
	if err := t.verifyRoot(env, "root (old keys)", t.root, "root"); err != nil {
		return err
	}
	if err := t.verifyRoot(env, "root (new keys)", r, "root"); err != nil {
		return err
	}
	if r.Version != t.root.Version+1 {
		return fail(ErrRollback, fmt.Sprintf("root version %d after %d", r.Version, t.root.Version))
	}
	rotated := !sameRole(t.root, r, "timestamp") || !sameRole(t.root, r, "snapshot")
	t.root = r
	if rotated && !t.hooks.skipRotationReset {
		t.timestamp, t.snapshot = nil, nil
	}
	return nil
}

func sameRole(a, b *rootMeta, name string) bool {
	ra, rb := a.Roles[name], b.Roles[name]
	if ra.Threshold != rb.Threshold || !slices.Equal(slices.Sorted(slices.Values(ra.KeyIDs)), slices.Sorted(slices.Values(rb.KeyIDs))) {
		return false
	}
	for _, id := range ra.KeyIDs {
		if a.Keys[id] != b.Keys[id] {
			return false
		}
	}
	return true
}

// FinishRoot ends the root chain: the final root must not be expired
// (§5.3.10).
func (t *Trusted) FinishRoot() error {
	if t.expired(&t.root.header) {
		return fail(ErrExpired, fmt.Sprintf("root v%d expired %s", t.root.Version, t.root.Expires.Format(time.RFC3339)))
	}
	return nil
}

// UpdateTimestamp trusts a timestamp (§5.4). A document loaded from the
// device's own store (local) is not checked for expiry: it serves only as
// the floor for the next one. A remote timestamp with the trusted version
// is ignored (ErrEqualVersion is not an error: nil and no change).
func (t *Trusted) UpdateTimestamp(data []byte, local bool) error {
	env, ts, err := parseShared[fileMeta](data, "timestamp", t.memo != nil)
	if err != nil {
		return err
	}
	// A stored timestamp is re-verified under the current root, so one
	// signed by rotated-out keys is no floor (the fast-forward defence,
	// with the deletion in UpdateRoot). The hook trusts storage instead.
	if !(local && t.hooks.skipRotationReset) {
		if err := t.verifyRoot(env, "timestamp", t.root, "timestamp"); err != nil {
			return err
		}
	}
	snap, ok := ts.Meta["snapshot.json"]
	if !ok || snap.Version < 1 {
		return fail(ErrMalformed, "timestamp lists no snapshot")
	}
	if old := t.timestamp; old != nil && !t.hooks.skipRollback {
		if ts.Version < old.Version {
			return fail(ErrRollback, fmt.Sprintf("timestamp version %d after %d", ts.Version, old.Version))
		}
		if ts.Version == old.Version {
			return nil
		}
		if snap.Version < old.Meta["snapshot.json"].Version {
			return fail(ErrRollback, fmt.Sprintf("timestamp lists snapshot %d after %d", snap.Version, old.Meta["snapshot.json"].Version))
		}
	}
	if !local && t.expired(&ts.header) {
		return fail(ErrExpired, fmt.Sprintf("timestamp v%d expired %s", ts.Version, ts.Expires.Format(time.RFC3339)))
	}
	t.timestamp = ts
	return nil
}

// SnapshotVersion is the snapshot version the trusted timestamp lists.
func (t *Trusted) SnapshotVersion() int64 { return t.timestamp.Meta["snapshot.json"].Version }

// UpdateSnapshot trusts a snapshot (§5.5). A local one (from the device's
// store) is checked only for its signature and kept as the rollback floor
// if it is not the version the timestamp lists; call again with the remote
// one. It reports whether the snapshot now trusted is the current one.
func (t *Trusted) UpdateSnapshot(data []byte, local bool) (current bool, err error) {
	if t.timestamp == nil {
		return false, fail(ErrMalformed, "snapshot before timestamp")
	}
	want := t.timestamp.Meta["snapshot.json"]
	if !local && !t.hooks.skipConsistency {
		if err := checkLengthHashes(data, want, "snapshot"); err != nil {
			return false, err
		}
	}
	env, s, err := parseShared[fileMeta](data, "snapshot", t.memo != nil)
	if err != nil {
		return false, err
	}
	if err := t.verifyRoot(env, "snapshot", t.root, "snapshot"); err != nil {
		return false, err
	}
	if old := t.snapshot; old != nil && !t.hooks.skipRollback {
		if s.Version < old.Version {
			return false, fail(ErrRollback, fmt.Sprintf("snapshot version %d after %d", s.Version, old.Version))
		}
		for name, m := range old.Meta {
			nm, ok := s.Meta[name]
			if !ok {
				return false, fail(ErrRollback, fmt.Sprintf("snapshot v%d drops %s", s.Version, name))
			}
			if nm.Version < m.Version {
				return false, fail(ErrRollback, fmt.Sprintf("snapshot v%d lists %s version %d after %d", s.Version, name, nm.Version, m.Version))
			}
		}
	}
	isCurrent := s.Version == want.Version && !t.expired(&s.header)
	if local {
		t.snapshot = s
		return isCurrent, nil
	}
	if s.Version != want.Version && !t.hooks.skipConsistency {
		return false, fail(ErrMismatch, fmt.Sprintf("snapshot version %d, timestamp lists %d", s.Version, want.Version))
	}
	if t.expired(&s.header) {
		return false, fail(ErrExpired, fmt.Sprintf("snapshot v%d expired %s", s.Version, s.Expires.Format(time.RFC3339)))
	}
	t.snapshot = s
	return true, nil
}

// MetaVersion is the version the trusted snapshot lists for a targets role
// ("targets" or "targets/<model>"), or 0.
func (t *Trusted) MetaVersion(role string) int64 {
	if t.snapshot == nil {
		return 0
	}
	return t.snapshot.Meta[role+".json"].Version
}

// UpdateTargets trusts top-level targets (§5.6).
func (t *Trusted) UpdateTargets(data []byte) error {
	tg, err := t.checkTargets(data, "targets", sigKey{signer: t.root, role: "targets"}, t.root.Keys, t.root.Roles["targets"])
	if err != nil {
		return err
	}
	t.targets = tg
	return nil
}

// UpdateDelegated trusts a delegated targets role listed in top-level
// targets (§5.6.7: one level of delegation, as Sextant's image repository
// has: one role per model).
func (t *Trusted) UpdateDelegated(name string, data []byte) error {
	if t.targets == nil || t.targets.Delegations == nil {
		return fail(ErrMalformed, "no delegations trusted")
	}
	var dr *delegatedRole
	for i := range t.targets.Delegations.Roles {
		if t.targets.Delegations.Roles[i].Name == name {
			dr = &t.targets.Delegations.Roles[i]
		}
	}
	if dr == nil {
		return fail(ErrMalformed, "no delegation to "+name)
	}
	// The delegation is named by its parent document and its name: dr is
	// the last role of that name in t.targets, as found above.
	tg, err := t.checkTargets(data, name, sigKey{signer: t.targets, role: name}, t.targets.Delegations.Keys, role{KeyIDs: dr.KeyIDs, Threshold: dr.Threshold})
	if err != nil {
		return err
	}
	t.delegated[name] = tg
	return nil
}

// checkTargets checks a targets document against keys and r, which
// k.signer and k.role determine (k.env is filled in here).
func (t *Trusted) checkTargets(data []byte, name string, k sigKey, keys map[string]key, r role) (*targetsMeta, error) {
	if t.snapshot == nil {
		return nil, fail(ErrMalformed, name+" before snapshot")
	}
	want, ok := t.snapshot.Meta[name+".json"]
	if !ok {
		return nil, fail(ErrMismatch, "snapshot does not list "+name)
	}
	if !t.hooks.skipConsistency {
		if err := checkLengthHashes(data, want, name); err != nil {
			return nil, err
		}
	}
	env, tg, err := parseShared[targetsMeta](data, "targets", t.memo != nil)
	if err != nil {
		return nil, err
	}
	k.env = env
	if err := t.verify(env, name, k, keys, r); err != nil {
		return nil, err
	}
	if tg.Version != want.Version && !t.hooks.skipConsistency {
		return nil, fail(ErrMismatch, fmt.Sprintf("%s version %d, snapshot lists %d", name, tg.Version, want.Version))
	}
	if t.expired(&tg.header) {
		return nil, fail(ErrExpired, fmt.Sprintf("%s v%d expired %s", name, tg.Version, tg.Expires.Format(time.RFC3339)))
	}
	if tg.Delegations != nil {
		// A delegation is looked up by name (UpdateDelegated), so two
		// of one name would pair one's paths with the other's keys;
		// python-tuf's Delegations refuses them too.
		seen := make(map[string]bool, len(tg.Delegations.Roles))
		for _, dr := range tg.Delegations.Roles {
			if seen[dr.Name] {
				return nil, fail(ErrMalformed, fmt.Sprintf("%s delegates to %q twice", name, dr.Name))
			}
			seen[dr.Name] = true
		}
	}
	return tg, nil
}

// checkLengthHashes checks data against the length and hashes a parent
// lists, where it lists them (§5.5.2, §5.6.2).
func checkLengthHashes(data []byte, m metaFile, what string) error {
	if m.Length > 0 && int64(len(data)) != m.Length {
		return fail(ErrMismatch, fmt.Sprintf("%s is %d bytes, listed %d", what, len(data), m.Length))
	}
	if h, ok := m.Hashes["sha256"]; ok {
		want, err := hex.DecodeString(h)
		sum := sha256.Sum256(data)
		if err != nil || !bytes.Equal(want, sum[:]) {
			return fail(ErrMismatch, what+" hash differs from the one listed")
		}
	}
	return nil
}
