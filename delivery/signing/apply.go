package signing

import (
	"fmt"
	"slices"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Apply installs documents the CLI signed offline (root, targets,
// targets/<model>), after checking each against the trusted metadata: a
// root must be signed by the thresholds of the current and its own root
// role and advance the version by one; targets documents must be signed by
// their delegator's keys and advance their version by one. The server then
// calls Refresh to publish them in a new snapshot and timestamp.
func (r *Repository) Apply(files []File) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Roots first, in version order, then top-level targets, then delegations.
	order := func(f File) int {
		switch f.Role {
		case "root":
			return 0
		case "targets":
			return 1
		}
		return 2
	}
	files = slices.Clone(files)
	slices.SortStableFunc(files, func(a, b File) int {
		if c := order(a) - order(b); c != 0 {
			return c
		}
		return int(a.Version - b.Version)
	})
	for _, f := range files {
		if err := r.applyLocked(f); err != nil {
			return err
		}
	}
	return nil
}

func (r *Repository) applyLocked(f File) error {
	switch f.Role {
	case "root":
		next, err := metadata.Root().FromBytes(f.Data)
		if err != nil {
			return fmt.Errorf("signing: apply root: %w", err)
		}
		if next.Signed.Version != r.root.Signed.Version+1 {
			return fmt.Errorf("signing: apply root v%d over v%d: %w", next.Signed.Version, r.root.Signed.Version, ErrVersion)
		}
		if err := r.root.VerifyDelegate("root", next); err != nil {
			return fmt.Errorf("signing: apply root: %w: %v", ErrThreshold, err)
		}
		if err := next.VerifyDelegate("root", next); err != nil {
			return fmt.Errorf("signing: apply root: %w: %v", ErrThreshold, err)
		}
		for _, role := range []string{"snapshot", "timestamp"} {
			if !slices.Equal(next.Signed.Roles[role].KeyIDs, r.root.Signed.Roles[role].KeyIDs) {
				r.onlineRotated = true
			}
		}
		r.root = next
		return nil
	case "targets":
		next, err := metadata.Targets().FromBytes(f.Data)
		if err != nil {
			return fmt.Errorf("signing: apply targets: %w", err)
		}
		if next.Signed.Version != r.targets.Signed.Version+1 {
			return fmt.Errorf("signing: apply targets v%d over v%d: %w", next.Signed.Version, r.targets.Signed.Version, ErrVersion)
		}
		if err := r.root.VerifyDelegate("targets", next); err != nil {
			return fmt.Errorf("signing: apply targets: %w: %v", ErrThreshold, err)
		}
		r.targets = next
		return nil
	}
	next, err := metadata.Targets().FromBytes(f.Data)
	if err != nil {
		return fmt.Errorf("signing: apply %s: %w", f.Role, err)
	}
	var prev int64
	if d := r.delegated[f.Role]; d != nil {
		prev = d.Signed.Version
	}
	if next.Signed.Version != prev+1 {
		return fmt.Errorf("signing: apply %s v%d over v%d: %w", f.Role, next.Signed.Version, prev, ErrVersion)
	}
	if err := r.targets.VerifyDelegate(f.Role, next); err != nil {
		return fmt.Errorf("signing: apply %s: %w: %v", f.Role, ErrThreshold, err)
	}
	r.delegated[f.Role] = next
	return nil
}
