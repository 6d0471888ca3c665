package targeting

import "strings"

// Attributes are the device facts rules match. The fields and their
// meaning are those of delivery.Attributes, so a server converts with a
// plain type conversion, targeting.Attributes(dev.Attributes); this
// package keeps its own copy because the device SDK links it and the
// delivery domain package is heavier than the standard library.
type Attributes struct {
	// Class is the device class (device/profile), e.g. "mid".
	Class string `json:"class,omitempty"`
	// OS is the operating system name and version, e.g. "android 14".
	OS         string `json:"os,omitempty"`
	AppVersion string `json:"app_version,omitempty"`
	// Region is a coarse region code (ISO 3166), never a location.
	Region string `json:"region,omitempty"`
	// Locale is a BCP 47 tag, e.g. "de-CH".
	Locale string            `json:"locale,omitempty"`
	Custom map[string]string `json:"custom,omitempty"`
}

// splitOS splits "android 14" into its name and version; the version is
// what follows the last space ("" when there is none).
func splitOS(os string) (name, version string) {
	os = strings.TrimSpace(os)
	if i := strings.LastIndexByte(os, ' '); i >= 0 {
		return strings.TrimSpace(os[:i]), os[i+1:]
	}
	return os, ""
}

// localeMatches reports whether tag is the language range pattern or a
// more specific tag under it (RFC 4647 §3.3.1 basic filtering): "de"
// matches "de", "de-CH" and "de-CH-1996" but not "den"; case and "_"
// versus "-" do not matter.
func localeMatches(pattern, tag string) bool {
	if len(tag) < len(pattern) {
		return false
	}
	for i := 0; i < len(pattern); i++ {
		if foldTag(pattern[i]) != foldTag(tag[i]) {
			return false
		}
	}
	return len(tag) == len(pattern) || foldTag(tag[len(pattern)]) == '-'
}

func foldTag(c byte) byte {
	switch {
	case c == '_':
		return '-'
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	}
	return c
}
