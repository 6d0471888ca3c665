package targeting

import (
	"errors"
	"fmt"
	"strings"
)

// Rule is a targeting rule over device attributes. Exactly one field is
// set, except in the zero Rule ({} in JSON), which matches every device.
// Rules combine with All, Any and Not; leaves test one attribute. A leaf
// never matches a device that does not report the attribute (so Not of a
// leaf does).
//
//	{"all": [
//	  {"class": ["mid", "high"]},
//	  {"os": {"name": "android", "gte": "12"}},
//	  {"app_version": {"gte": "5.2.0", "lt": "6"}},
//	  {"not": {"region": ["CN"]}},
//	  {"any": [{"locale": ["de"]}, {"custom": {"key": "beta", "in": ["1"]}}]}
//	]}
type Rule struct {
	// All matches when every sub-rule does (true for an empty list).
	All []Rule `json:"all,omitempty"`
	// Any matches when at least one sub-rule does.
	Any []Rule `json:"any,omitempty"`
	// Not matches when its sub-rule does not.
	Not *Rule `json:"not,omitempty"`

	// Class lists device classes (exact match).
	Class []string `json:"class,omitempty"`
	// OS bounds the operating system and its version.
	OS *OSRule `json:"os,omitempty"`
	// AppVersion bounds the app version.
	AppVersion *VersionRange `json:"app_version,omitempty"`
	// Region lists region codes (ASCII case-insensitive).
	Region []string `json:"region,omitempty"`
	// Locale lists BCP 47 language ranges: "de" matches "de-CH".
	Locale []string `json:"locale,omitempty"`
	// Custom tests one custom attribute.
	Custom *CustomRule `json:"custom,omitempty"`
}

// OSRule matches an operating system by name (case-insensitive; empty
// matches any) and version range.
type OSRule struct {
	Name string `json:"name,omitempty"`
	VersionRange
}

// CustomRule matches custom attribute Key: its value is one of In, or,
// when In is empty, a version within the range.
type CustomRule struct {
	Key string   `json:"key"`
	In  []string `json:"in,omitempty"`
	VersionRange
}

// maxRuleDepth bounds nesting, so a hostile rule cannot exhaust the stack
// of the device that evaluates it.
const maxRuleDepth = 32

// Validate checks that r is well formed: one field per rule, valid
// versions, non-empty lists and names.
func (r *Rule) Validate() error { return r.validate(0) }

func (r *Rule) validate(depth int) error {
	if depth > maxRuleDepth {
		return fmt.Errorf("targeting: rule nested deeper than %d", maxRuleDepth)
	}
	set := 0
	for _, b := range []bool{r.All != nil, r.Any != nil, r.Not != nil, r.Class != nil, r.OS != nil,
		r.AppVersion != nil, r.Region != nil, r.Locale != nil, r.Custom != nil} {
		if b {
			set++
		}
	}
	if set > 1 {
		return errors.New("targeting: a rule sets more than one field; combine them with \"all\"")
	}
	switch {
	case r.All != nil:
		return validateAll("all", r.All, depth)
	case r.Any != nil:
		if len(r.Any) == 0 {
			return errors.New("targeting: \"any\" of no rules never matches")
		}
		return validateAll("any", r.Any, depth)
	case r.Not != nil:
		if err := r.Not.validate(depth + 1); err != nil {
			return fmt.Errorf("not: %w", err)
		}
	case r.Class != nil:
		return nonEmpty("class", r.Class)
	case r.Region != nil:
		return nonEmpty("region", r.Region)
	case r.Locale != nil:
		return nonEmpty("locale", r.Locale)
	case r.OS != nil:
		if err := r.OS.VersionRange.Validate(); err != nil {
			return fmt.Errorf("os: %w", err)
		}
		if r.OS.Name == "" && r.OS.empty() {
			return errors.New("targeting: os rule names no system and no version")
		}
	case r.AppVersion != nil:
		if err := r.AppVersion.Validate(); err != nil {
			return fmt.Errorf("app_version: %w", err)
		}
		if r.AppVersion.empty() {
			return errors.New("targeting: app_version rule sets no bound")
		}
	case r.Custom != nil:
		c := r.Custom
		if c.Key == "" {
			return errors.New("targeting: custom rule has no key")
		}
		if len(c.In) > 0 && !c.empty() {
			return fmt.Errorf("targeting: custom rule %q sets both values and a version range", c.Key)
		}
		if len(c.In) == 0 && c.empty() {
			return fmt.Errorf("targeting: custom rule %q sets neither values nor a version range", c.Key)
		}
		if err := c.VersionRange.Validate(); err != nil {
			return fmt.Errorf("custom %q: %w", c.Key, err)
		}
	}
	return nil
}

func validateAll(op string, rs []Rule, depth int) error {
	for i := range rs {
		if err := rs[i].validate(depth + 1); err != nil {
			return fmt.Errorf("%s[%d]: %w", op, i, err)
		}
	}
	return nil
}

func nonEmpty(field string, vs []string) error {
	if len(vs) == 0 {
		return fmt.Errorf("targeting: %s list is empty", field)
	}
	for _, v := range vs {
		if strings.TrimSpace(v) == "" {
			return fmt.Errorf("targeting: %s list has an empty entry", field)
		}
	}
	return nil
}

// Match reports whether a device with attributes a satisfies r. r should
// have passed Validate; Match does not allocate.
func (r *Rule) Match(a *Attributes) bool {
	switch {
	case r.All != nil:
		for i := range r.All {
			if !r.All[i].Match(a) {
				return false
			}
		}
		return true
	case r.Any != nil:
		for i := range r.Any {
			if r.Any[i].Match(a) {
				return true
			}
		}
		return false
	case r.Not != nil:
		return !r.Not.Match(a)
	case r.Class != nil:
		return a.Class != "" && contains(r.Class, a.Class, false)
	case r.Region != nil:
		return a.Region != "" && contains(r.Region, a.Region, true)
	case r.Locale != nil:
		if a.Locale == "" {
			return false
		}
		for _, p := range r.Locale {
			if localeMatches(p, a.Locale) {
				return true
			}
		}
		return false
	case r.OS != nil:
		name, version := splitOS(a.OS)
		if name == "" || (r.OS.Name != "" && !strings.EqualFold(r.OS.Name, name)) {
			return false
		}
		return r.OS.empty() || r.OS.Contains(version)
	case r.AppVersion != nil:
		return r.AppVersion.Contains(a.AppVersion)
	case r.Custom != nil:
		v, ok := a.Custom[r.Custom.Key]
		if !ok {
			return false
		}
		if len(r.Custom.In) > 0 {
			return contains(r.Custom.In, v, false)
		}
		return r.Custom.Contains(v)
	}
	return true // the zero Rule: everyone
}

func contains(list []string, v string, fold bool) bool {
	for _, s := range list {
		if s == v || (fold && strings.EqualFold(s, v)) {
			return true
		}
	}
	return false
}
