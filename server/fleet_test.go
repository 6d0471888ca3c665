package server

import (
	"reflect"
	"testing"

	"github.com/sextant-ml/sextant/server/console"
)

// TestFleetMix: the latest check-in of each device counts, versions sort by
// semver precedence (not text), a device without a model counts as "", and
// the tracker never holds more than its bound.
func TestFleetMix(t *testing.T) {
	f := newFleet(3)
	f.observe("a", map[string]string{"eta": "1.9.0"})
	f.observe("b", map[string]string{"eta": "1.10.0", "ner": "2.0.0"})
	f.observe("c", nil)
	f.observe("a", map[string]string{"eta": "1.10.0"}) // updated
	n, mix := f.mix()
	want := []console.ModelMix{
		{Model: "eta", Versions: []console.VersionCount{{Version: "", Devices: 1}, {Version: "1.10.0", Devices: 2}}},
		{Model: "ner", Versions: []console.VersionCount{{Version: "", Devices: 2}, {Version: "2.0.0", Devices: 1}}},
	}
	if n != 3 || !reflect.DeepEqual(mix, want) {
		t.Fatalf("mix of %d devices: %+v", n, mix)
	}
	f.observe("a", map[string]string{"eta": "1.9.0"})
	f.observe("b", map[string]string{"eta": "1.10.0", "ner": "2.0.0"})
	if _, mix := f.mix(); mix[0].Versions[1].Version != "1.9.0" || mix[0].Versions[2].Version != "1.10.0" {
		t.Errorf("semver order: %+v", mix[0].Versions)
	}
	f.observe("d", map[string]string{"eta": "1.9.0"})
	if n, _ := f.mix(); n != 3 {
		t.Errorf("bounded at 3, holds %d", n)
	}
}
