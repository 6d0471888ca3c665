package signing

import (
	"crypto/sha256"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// NextRefresh is when Refresh next has work to do: halfway through the
// current snapshot's or timestamp's validity, whichever is first (or now, if
// there is none or a change awaits publication).
func (r *Repository) NextRefresh(now time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.snapshot == nil || r.timestamp == nil || r.onlineRotated || r.snapshotStaleLocked() {
		return now
	}
	s := r.snapshot.Signed.Expires.Add(-r.cfg.SnapshotExpiry / 2)
	t := r.timestamp.Signed.Expires.Add(-r.cfg.TimestampExpiry / 2)
	if t.Before(s) {
		return t
	}
	return s
}

// snapshotStaleLocked reports whether the snapshot lists other versions
// of the targets roles than the current ones.
func (r *Repository) snapshotStaleLocked() bool {
	want := r.snapshotMetaLocked()
	if len(want) != len(r.snapshot.Signed.Meta) {
		return true
	}
	for name, m := range want {
		if have := r.snapshot.Signed.Meta[name]; have == nil || have.Version != m.Version {
			return true
		}
	}
	return false
}

func (r *Repository) snapshotMetaLocked() map[string]*metadata.MetaFiles {
	meta := map[string]*metadata.MetaFiles{"targets.json": {Version: r.targets.Signed.Version}}
	for role, d := range r.delegated {
		meta[role+".json"] = &metadata.MetaFiles{Version: d.Signed.Version}
	}
	return meta
}

// Refresh re-signs snapshot and timestamp with the online keys when needed:
// when targets changed, a rotation replaced their keys, or they are past
// half their validity. It returns the new files (none if nothing was due).
// The server calls it on a timer (see NextRefresh) and after Apply.
func (r *Repository) Refresh(now time.Time, snapshotKeys, timestampKeys []*Key) ([]File, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var files []File
	snapDue := r.snapshot == nil || r.onlineRotated || r.snapshotStaleLocked() ||
		!now.Before(r.snapshot.Signed.Expires.Add(-r.cfg.SnapshotExpiry/2))
	snap := r.snapshot
	if snapDue {
		next := metadata.Snapshot(expiry(now, r.cfg.SnapshotExpiry))
		next.Signed.Meta = r.snapshotMetaLocked()
		if snap != nil {
			next.Signed.Version = snap.Signed.Version + 1
		}
		sr := r.root.Signed.Roles["snapshot"]
		if err := signMeta(next, "snapshot", sr.KeyIDs, sr.Threshold, snapshotKeys); err != nil {
			return nil, err
		}
		snap = next
	}
	snapBytes := mustBytes(snap)
	if !snapDue && r.timestamp != nil && !r.onlineRotated &&
		now.Before(r.timestamp.Signed.Expires.Add(-r.cfg.TimestampExpiry/2)) {
		return nil, nil
	}
	ts := metadata.Timestamp(expiry(now, r.cfg.TimestampExpiry))
	sum := sha256.Sum256(snapBytes)
	ts.Signed.Meta = map[string]*metadata.MetaFiles{"snapshot.json": {
		Version: snap.Signed.Version, Length: int64(len(snapBytes)), Hashes: metadata.Hashes{"sha256": sum[:]},
	}}
	if r.timestamp != nil {
		ts.Signed.Version = r.timestamp.Signed.Version + 1
	}
	tr := r.root.Signed.Roles["timestamp"]
	if err := signMeta(ts, "timestamp", tr.KeyIDs, tr.Threshold, timestampKeys); err != nil {
		return nil, err
	}
	if snapDue {
		files = append(files, File{Role: "snapshot", Version: snap.Signed.Version, Path: MetadataPath("snapshot", snap.Signed.Version), Data: snapBytes})
	}
	tsBytes := mustBytes(ts)
	files = append(files, File{Role: "timestamp", Version: ts.Signed.Version, Path: MetadataPath("timestamp", ts.Signed.Version), Data: tsBytes})
	r.snapshot, r.timestamp, r.onlineRotated = snap, ts, false
	return files, nil
}
