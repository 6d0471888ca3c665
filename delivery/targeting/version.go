package targeting

import (
	"errors"
	"fmt"
	"strings"
)

// CompareVersions orders two dotted versions, semver-style but lenient, as
// apps and operating systems write them ("14", "5.2.0", "v1.10.3-beta.2",
// "17.4.1+build7"):
//
//   - an optional leading "v" is ignored, and so is build metadata after "+";
//   - the release part is dot-separated non-negative integers compared
//     numerically, missing components counting as zero ("14" == "14.0.0");
//   - a pre-release after "-" sorts before the release itself, and
//     pre-releases compare identifier by identifier as in semver 2.0.0 §11
//     (numeric identifiers numerically and below alphanumeric ones, which
//     compare in ASCII order; a shorter list of equal prefix sorts first).
//
// It returns -1, 0 or +1. Both versions must be valid (ValidVersion); it
// does not allocate.
func CompareVersions(a, b string) int {
	ar, ap := splitVersion(a)
	br, bp := splitVersion(b)
	if c := compareRelease(ar, br); c != 0 {
		return c
	}
	switch {
	case ap == "" && bp == "":
		return 0
	case ap == "":
		return 1
	case bp == "":
		return -1
	}
	return comparePre(ap, bp)
}

// ValidVersion reports whether v is a version CompareVersions accepts, and
// why not.
func ValidVersion(v string) error {
	if v == "" {
		return errors.New("targeting: empty version")
	}
	rel, pre := splitVersion(v)
	if rel == "" {
		return fmt.Errorf("targeting: version %q has no release numbers", v)
	}
	for f := range strings.SplitSeq(rel, ".") {
		if f == "" || !allDigits(f) {
			return fmt.Errorf("targeting: version %q: release component %q is not a number", v, f)
		}
		if len(f) > 18 {
			return fmt.Errorf("targeting: version %q: component %q too long", v, f)
		}
	}
	if hasPre(v) && (pre == "" || strings.Contains(pre, "..") || pre[0] == '.' || pre[len(pre)-1] == '.') {
		return fmt.Errorf("targeting: version %q has an empty pre-release identifier", v)
	}
	return nil
}

// validVersion is ValidVersion without the error value, for the hot path.
func validVersion(v string) bool {
	if v == "" {
		return false
	}
	rel, pre := splitVersion(v)
	for rel != "" {
		var f string
		f, rel = cutDot(rel)
		if !allDigits(f) || len(f) > 18 || (rel == "" && f == "") {
			return false
		}
	}
	if hasPre(v) {
		if pre == "" || pre[0] == '.' || pre[len(pre)-1] == '.' || strings.Contains(pre, "..") {
			return false
		}
	}
	r, _ := splitVersion(v)
	return r != "" && r[len(r)-1] != '.'
}

// hasPre reports whether v has a "-" before any "+build" part.
func hasPre(v string) bool {
	if i := strings.IndexByte(v, '+'); i >= 0 {
		v = v[:i]
	}
	return strings.IndexByte(v, '-') >= 0
}

// splitVersion strips "v" and "+build" and splits release from pre-release.
func splitVersion(v string) (release, pre string) {
	v = strings.TrimPrefix(strings.TrimPrefix(v, "v"), "V")
	if i := strings.IndexByte(v, '+'); i >= 0 {
		v = v[:i]
	}
	if i := strings.IndexByte(v, '-'); i >= 0 {
		return v[:i], v[i+1:]
	}
	return v, ""
}

func compareRelease(a, b string) int {
	for a != "" || b != "" {
		var x, y string
		x, a = cutDot(a)
		y, b = cutDot(b)
		if c := compareNumeric(x, y); c != 0 {
			return c
		}
	}
	return 0
}

func comparePre(a, b string) int {
	for a != "" && b != "" {
		var x, y string
		x, a = cutDot(a)
		y, b = cutDot(b)
		xn, yn := allDigits(x), allDigits(y)
		var c int
		switch {
		case xn && yn:
			c = compareNumeric(x, y)
		case xn:
			c = -1
		case yn:
			c = 1
		default:
			c = strings.Compare(x, y)
		}
		if c != 0 {
			return c
		}
	}
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -1
	}
	return 1
}

// compareNumeric compares decimal digit strings of any length; "" is 0.
func compareNumeric(x, y string) int {
	x = strings.TrimLeft(x, "0")
	y = strings.TrimLeft(y, "0")
	if len(x) != len(y) {
		if len(x) < len(y) {
			return -1
		}
		return 1
	}
	return strings.Compare(x, y)
}

func cutDot(s string) (head, rest string) {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// VersionRange bounds a version; unset bounds are open. A rule with every
// bound unset matches any valid version.
type VersionRange struct {
	// GTE is an inclusive lower bound.
	GTE string `json:"gte,omitempty"`
	// GT is an exclusive lower bound.
	GT string `json:"gt,omitempty"`
	// LTE is an inclusive upper bound.
	LTE string `json:"lte,omitempty"`
	// LT is an exclusive upper bound.
	LT string `json:"lt,omitempty"`
}

func (r *VersionRange) empty() bool { return r.GTE == "" && r.GT == "" && r.LTE == "" && r.LT == "" }

// Validate checks that every bound set is a valid version.
func (r *VersionRange) Validate() error {
	for _, b := range []string{r.GTE, r.GT, r.LTE, r.LT} {
		if b == "" {
			continue
		}
		if err := ValidVersion(b); err != nil {
			return err
		}
	}
	if r.GTE != "" && r.GT != "" {
		return errors.New("targeting: version range sets both gte and gt")
	}
	if r.LTE != "" && r.LT != "" {
		return errors.New("targeting: version range sets both lte and lt")
	}
	return nil
}

// Contains reports whether v is a valid version within the range.
func (r *VersionRange) Contains(v string) bool {
	if !validVersion(v) {
		return false
	}
	return (r.GTE == "" || CompareVersions(v, r.GTE) >= 0) &&
		(r.GT == "" || CompareVersions(v, r.GT) > 0) &&
		(r.LTE == "" || CompareVersions(v, r.LTE) <= 0) &&
		(r.LT == "" || CompareVersions(v, r.LT) < 0)
}
