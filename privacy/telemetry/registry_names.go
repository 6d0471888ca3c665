package telemetry

import "sort"

// Names returns the declared stream names, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.streams))
	for name := range r.streams {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
