package signing

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// signMeta replaces md's signatures with ones by keys, after checking that
// every key is one of the role's keys (per roleKeys) and that there are at
// least threshold of them.
func signMeta[T metadata.Roles](md *metadata.Metadata[T], role string, roleKeys []string, threshold int, keys []*Key) error {
	allowed := map[string]bool{}
	for _, id := range roleKeys {
		allowed[id] = true
	}
	md.ClearSignatures()
	seen := map[string]bool{}
	for _, k := range keys {
		if !allowed[k.ID] {
			return fmt.Errorf("signing: %s with key %s: %w", role, short(k.ID), ErrNotRoleKey)
		}
		if seen[k.ID] {
			continue
		}
		seen[k.ID] = true
		s, err := k.signer()
		if err != nil {
			return err
		}
		if _, err := md.Sign(s); err != nil {
			return fmt.Errorf("signing: sign %s: %w", role, err)
		}
	}
	if len(seen) < threshold {
		return fmt.Errorf("signing: %s has %d signatures, needs %d: %w", role, len(seen), threshold, ErrThreshold)
	}
	return nil
}

// signRootWith signs a root with keys, which must meet the thresholds of
// both the previous root (prev, nil for the first) and the new one.
func signRootWith(root *metadata.Metadata[metadata.RootType], prev *metadata.Metadata[metadata.RootType], keys []*Key) error {
	allowed := map[string]bool{}
	for _, id := range root.Signed.Roles["root"].KeyIDs {
		allowed[id] = true
	}
	if prev != nil {
		for _, id := range prev.Signed.Roles["root"].KeyIDs {
			allowed[id] = true
		}
	}
	ids := make([]string, 0, len(allowed))
	for id := range allowed {
		ids = append(ids, id)
	}
	if err := signMeta(root, "root", ids, 1, keys); err != nil {
		return err
	}
	if err := root.VerifyDelegate("root", root); err != nil {
		return fmt.Errorf("signing: new root v%d: %w: %v", root.Signed.Version, ErrThreshold, err)
	}
	if prev != nil {
		if err := prev.VerifyDelegate("root", root); err != nil {
			return fmt.Errorf("signing: new root v%d under v%d: %w: %v", root.Signed.Version, prev.Signed.Version, ErrThreshold, err)
		}
	}
	return nil
}

// newRoot makes a version-1 root with each role's keys.
func newRoot(now time.Time, expires time.Duration, roles map[string][]*Key, thresholds func(string) int) (*metadata.Metadata[metadata.RootType], error) {
	root := metadata.Root(expiry(now, expires))
	for _, role := range metadata.TOP_LEVEL_ROLE_NAMES {
		ks := roles[role]
		if len(ks) == 0 {
			return nil, fmt.Errorf("signing: no %s keys", role)
		}
		for _, k := range ks {
			if err := root.Signed.AddKey(k.tufKey(), role); err != nil {
				return nil, fmt.Errorf("signing: add %s key: %w", role, err)
			}
		}
		root.Signed.Roles[role].Threshold = thresholds(role)
	}
	return root, nil
}

// rotatedRoot returns the next root version with role's keys replaced by
// keys, signed by signers (which must meet the old and new root thresholds).
func rotatedRoot(prev *metadata.Metadata[metadata.RootType], now time.Time, expires time.Duration, role string, keys []*Key, threshold int, signers []*Key) (*metadata.Metadata[metadata.RootType], error) {
	next, err := cloneRoot(prev)
	if err != nil {
		return nil, err
	}
	r, ok := next.Signed.Roles[role]
	if !ok {
		return nil, fmt.Errorf("signing: rotate: no role %q in root", role)
	}
	if len(keys) > 0 {
		for _, id := range append([]string(nil), r.KeyIDs...) {
			if err := next.Signed.RevokeKey(id, role); err != nil {
				return nil, fmt.Errorf("signing: rotate %s: %w", role, err)
			}
		}
		for _, k := range keys {
			if err := next.Signed.AddKey(k.tufKey(), role); err != nil {
				return nil, fmt.Errorf("signing: rotate %s: %w", role, err)
			}
		}
		next.Signed.Roles[role].Threshold = threshold
	}
	next.Signed.Version = prev.Signed.Version + 1
	next.Signed.Expires = expiry(now, expires)
	if err := signRootWith(next, prev, signers); err != nil {
		return nil, err
	}
	return next, nil
}

func cloneRoot(r *metadata.Metadata[metadata.RootType]) (*metadata.Metadata[metadata.RootType], error) {
	b, err := r.ToBytes(false)
	if err != nil {
		return nil, fmt.Errorf("signing: encode root: %w", err)
	}
	return metadata.Root().FromBytes(b)
}

func rootFile(role string, r *metadata.Metadata[metadata.RootType]) (File, error) {
	b, err := r.ToBytes(false)
	if err != nil {
		return File{}, fmt.Errorf("signing: encode root: %w", err)
	}
	return File{Role: role, Version: r.Signed.Version, Path: MetadataPath("root", r.Signed.Version), Data: b}, nil
}

func targetsFile(role string, t *metadata.Metadata[metadata.TargetsType]) (File, error) {
	b, err := t.ToBytes(false)
	if err != nil {
		return File{}, fmt.Errorf("signing: encode %s: %w", role, err)
	}
	return File{Role: role, Version: t.Signed.Version, Path: MetadataPath(role, t.Signed.Version), Data: b}, nil
}

// rawJSON marshals v for a target's custom field.
func rawJSON(v any) (*json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	m := json.RawMessage(b)
	return &m, nil
}
