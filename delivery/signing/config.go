package signing

import (
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// Config sets expiries and thresholds of the image repository. The zero
// value is usable: every zero field takes the default documented beside it.
type Config struct {
	// RootExpiry is how long a root metadata stays valid (default 365 days).
	RootExpiry time.Duration
	// TargetsExpiry is how long top-level and delegated targets metadata
	// stay valid (default 90 days). They are signed offline, so an
	// operator re-signs them (any publish does) before then.
	TargetsExpiry time.Duration
	// SnapshotExpiry is how long a snapshot stays valid (default 7 days).
	SnapshotExpiry time.Duration
	// TimestampExpiry is how long a timestamp stays valid (default 1 day);
	// it bounds how long a freeze attack can go unnoticed.
	TimestampExpiry time.Duration
	// RootThreshold, TargetsThreshold, SnapshotThreshold and
	// TimestampThreshold are the signatures each role needs (default 1).
	RootThreshold, TargetsThreshold, SnapshotThreshold, TimestampThreshold int
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.RootExpiry, 365*24*time.Hour)
	def(&c.TargetsExpiry, 90*24*time.Hour)
	def(&c.SnapshotExpiry, 7*24*time.Hour)
	def(&c.TimestampExpiry, 24*time.Hour)
	for _, t := range []*int{&c.RootThreshold, &c.TargetsThreshold, &c.SnapshotThreshold, &c.TimestampThreshold} {
		if *t < 1 {
			*t = 1
		}
	}
	return c
}

func (c Config) threshold(role string) int {
	switch role {
	case "root":
		return c.RootThreshold
	case "targets":
		return c.TargetsThreshold
	case "snapshot":
		return c.SnapshotThreshold
	case "timestamp":
		return c.TimestampThreshold
	}
	return 1
}

// File is one signed metadata document to store and serve.
type File struct {
	// Role is the TUF role: "root", "timestamp", "snapshot", "targets",
	// "targets/<model>", or for the director "director-root" and
	// "director-targets".
	Role string
	// Version is the document's version.
	Version int64
	// Path is where the repository serves it, relative to its base URL.
	Path string
	// Data is the signed JSON.
	Data []byte
}

// MetadataPath is the path, relative to a repository's base URL, of a role's
// metadata at a version, with consistent snapshots (TUF specification §5):
// "timestamp.json" unversioned, every other role "VERSION.ROLE.json" with
// the role name path-escaped ("3.targets%2Fnext-place.json").
func MetadataPath(role string, version int64) string {
	if role == "timestamp" {
		return "timestamp.json"
	}
	return fmt.Sprintf("%d.%s.json", version, url.PathEscape(role))
}

// DirectorTargetsPath is the path, relative to the director's base URL, of a
// device's director targets document.
func DirectorTargetsPath(device string) string {
	return "devices/" + url.PathEscape(device) + "/targets.json"
}

// ModelRole is the delegated role that signs a model's bundles.
func ModelRole(model string) string { return "targets/" + model }

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,127}$`)

// expiry rounds t+d down to a whole second in UTC, the form TUF writes.
func expiry(t time.Time, d time.Duration) time.Time {
	return t.Add(d).UTC().Truncate(time.Second)
}
