package signing

import (
	"maps"
	"slices"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// RotateKeys replaces a top-level role's keys with newKeys in a new root
// version, signed by rootSigners (which must meet the thresholds of the
// current root role and, when rotating root, of the new one: pass old and new
// root keys). Rotating targets re-keys every model delegation and re-signs
// top-level and delegated targets with the new keys. Rotating snapshot or
// timestamp makes the next Refresh re-sign both with the new online keys.
func (r *Repository) RotateKeys(now time.Time, role string, newKeys, rootSigners []*Key) ([]File, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var signers []*Key
	if role == "root" {
		signers = append(slices.Clone(rootSigners), newKeys...)
	} else {
		signers = rootSigners
	}
	next, err := rotatedRoot(r.root, now, r.cfg.RootExpiry, role, newKeys, r.cfg.threshold(role), signers)
	if err != nil {
		return nil, err
	}
	rf, err := rootFile("root", next)
	if err != nil {
		return nil, err
	}
	files := []File{rf}
	old := r.root
	r.root = next
	switch role {
	case "targets":
		more, err := r.rekeyTargetsLocked(now, newKeys)
		if err != nil {
			r.root = old
			return nil, err
		}
		files = append(files, more...)
	case "snapshot", "timestamp":
		r.onlineRotated = true
	}
	return files, nil
}

// rekeyTargetsLocked re-signs top-level targets and every delegation with
// the new targets keys, moving each delegation to them.
func (r *Repository) rekeyTargetsLocked(now time.Time, keys []*Key) ([]File, error) {
	top, err := metadata.Targets().FromBytes(mustBytes(r.targets))
	if err != nil {
		return nil, err
	}
	tr := r.root.Signed.Roles["targets"]
	top.Signed.Delegations.Keys = map[string]*metadata.Key{}
	for i := range top.Signed.Delegations.Roles {
		top.Signed.Delegations.Roles[i].KeyIDs = slices.Clone(tr.KeyIDs)
		top.Signed.Delegations.Roles[i].Threshold = tr.Threshold
	}
	for _, id := range tr.KeyIDs {
		top.Signed.Delegations.Keys[id] = r.root.Signed.Keys[id]
	}
	top.Signed.Version++
	top.Signed.Expires = expiry(now, r.cfg.TargetsExpiry)
	if err := signMeta(top, "targets", tr.KeyIDs, tr.Threshold, keys); err != nil {
		return nil, err
	}
	tf, err := targetsFile("targets", top)
	if err != nil {
		return nil, err
	}
	files := []File{tf}
	prevTop := r.targets
	r.targets = top
	nextDelegated := map[string]*metadata.Metadata[metadata.TargetsType]{}
	for _, role := range slices.Sorted(maps.Keys(r.delegated)) {
		d, _ := metadata.Targets().FromBytes(mustBytes(r.delegated[role]))
		d.Signed.Version++
		d.Signed.Expires = expiry(now, r.cfg.TargetsExpiry)
		if err := r.signTargetsLocked(role, d, keys); err != nil {
			r.targets = prevTop
			return nil, err
		}
		f, err := targetsFile(role, d)
		if err != nil {
			r.targets = prevTop
			return nil, err
		}
		nextDelegated[role] = d
		files = append(files, f)
	}
	maps.Copy(r.delegated, nextDelegated)
	return files, nil
}
