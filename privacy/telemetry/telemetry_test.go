package telemetry

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/privacy/ldp"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

func seeds(k int) []uint64 {
	r := rand.New(rand.NewPCG(11, 12))
	s := make([]uint64, k)
	for i := range s {
		s[i] = r.Uint64()
	}
	return s
}

func placesSchema() Schema {
	return Schema{
		Name:        "place_category",
		Fields:      []Field{{Name: "category", Type: String}, {Name: "hour", Type: Int}},
		Mechanism:   CMS,
		Epsilon:     1,
		DailyBudget: 4,
		Retention:   7 * 24 * time.Hour,
		M:           64, K: 4, Seeds: seeds(4),
	}
}

func routesSchema() Schema {
	return Schema{
		Name:        "route_mode",
		Fields:      []Field{{Name: "mode", Type: String}, {Name: "rerouted", Type: Bool}},
		Mechanism:   HCMS,
		Epsilon:     0.1,
		DailyBudget: 1,
		Retention:   24 * time.Hour,
		M:           256, K: 8, Seeds: seeds(8),
	}
}

func versionSchema() Schema {
	return Schema{Name: "app_version", Fields: []Field{{Name: "version", Type: String}}, Mechanism: None, Retention: time.Hour}
}

func TestSchemaValidate(t *testing.T) {
	for _, s := range []Schema{placesSchema(), routesSchema(), versionSchema()} {
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
	}
	bad := map[string]func(*Schema){
		"empty name":            func(s *Schema) { s.Name = "" },
		"upper-case name":       func(s *Schema) { s.Name = "Places" },
		"no fields":             func(s *Schema) { s.Fields = nil },
		"duplicate field":       func(s *Schema) { s.Fields = append(s.Fields, s.Fields[0]) },
		"unknown type":          func(s *Schema) { s.Fields[0].Type = "float" },
		"unknown mechanism":     func(s *Schema) { s.Mechanism = "rappor" },
		"zero epsilon":          func(s *Schema) { s.Epsilon = 0 },
		"infinite epsilon":      func(s *Schema) { s.Epsilon = math.Inf(1) },
		"budget below a report": func(s *Schema) { s.DailyBudget = 0.5 },
		"no retention":          func(s *Schema) { s.Retention = 0 },
		"retention too long":    func(s *Schema) { s.Retention = 2 * MaxRetention },
		"missing seeds":         func(s *Schema) { s.Seeds = s.Seeds[:2] },
		"m too small":           func(s *Schema) { s.M = 1 },
		"hcms m not power of 2": func(s *Schema) { s.Mechanism = HCMS; s.M = 100 },
		"none with epsilon":     func(s *Schema) { s.Mechanism = None },
	}
	for name, mutate := range bad {
		s := placesSchema()
		s.Fields = slices.Clone(s.Fields)
		mutate(&s)
		if err := s.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewRegistry(placesSchema(), placesSchema()); err == nil {
		t.Error("registry accepted a stream declared twice")
	}
}

func newEncoder(t *testing.T, dir string, clk Clock, seed uint64) (*Encoder, *Ledger) {
	t.Helper()
	reg, err := NewRegistry(placesSchema(), routesSchema(), versionSchema())
	if err != nil {
		t.Fatal(err)
	}
	l, err := OpenLedger(filepath.Join(dir, "budget.json"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEncoder(reg, l, clk, rand.New(rand.NewPCG(seed, 0)))
	if err != nil {
		t.Fatal(err)
	}
	return e, l
}

var day0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func TestEncoderRefusesUndeclared(t *testing.T) {
	e, l := newEncoder(t, t.TempDir(), &fakeClock{day0}, 1)
	var undeclared *UndeclaredFieldError
	b, err := e.Append(nil, "place_category", map[string]any{"category": "cafe", "hour": 9, "lat": 52.52})
	if !errors.As(err, &undeclared) || undeclared.Field != "lat" || undeclared.Stream != "place_category" {
		t.Fatalf("undeclared field: %v", err)
	}
	if len(b) != 0 {
		t.Fatal("bytes produced for a refused report")
	}
	var unknown *UnknownStreamError
	if _, err := e.Append(nil, "raw_locations", map[string]any{"category": "cafe"}); !errors.As(err, &unknown) {
		t.Fatalf("unknown stream: %v", err)
	}
	var fe *FieldError
	if _, err := e.Append(nil, "place_category", map[string]any{"category": "cafe"}); !errors.As(err, &fe) || !errors.Is(err, ErrMissingField) || fe.Field != "hour" {
		t.Fatalf("missing field: %v", err)
	}
	if _, err := e.Append(nil, "place_category", map[string]any{"category": 7, "hour": 9}); !errors.Is(err, ErrFieldType) {
		t.Fatalf("mistyped field: %v", err)
	}
	if _, err := e.Append(nil, "route_mode", map[string]any{"mode": "walk", "rerouted": "yes"}); !errors.Is(err, ErrFieldType) {
		t.Fatalf("mistyped bool: %v", err)
	}
	if s := l.Streams(); len(s) != 0 {
		t.Fatalf("refused reports spent budget on %v", s)
	}
}

// TestReportCarriesNoDeviceID: two devices with different identities (here,
// their storage paths) and the same generator state send byte-identical
// reports; the wire form holds only version, mechanism, stream and payload,
// so its length is exactly that of those parts.
func TestReportCarriesNoDeviceID(t *testing.T) {
	const deviceA, deviceB = "device-7f3a9c", "device-0b12e4"
	base := t.TempDir()
	for _, d := range []string{deviceA, deviceB} {
		os.Mkdir(filepath.Join(base, d), 0o700)
	}
	clk := &fakeClock{day0}
	ea, _ := newEncoder(t, filepath.Join(base, deviceA), clk, 42)
	eb, _ := newEncoder(t, filepath.Join(base, deviceB), clk, 42)
	for _, c := range []struct {
		stream string
		values map[string]any
		size   int
	}{
		{"place_category", map[string]any{"category": "cafe", "hour": 9}, 2 + 1 + len("place_category") + 1 + 1 + 64/8},
		{"route_mode", map[string]any{"mode": "walk", "rerouted": true}, 2 + 1 + len("route_mode") + 1 + 1}, // + the column's varint
		{"app_version", map[string]any{"version": "1.4.2"}, 2 + 1 + len("app_version") + 1 + 1 + len("1.4.2")},
	} {
		a, err := ea.Append(nil, c.stream, c.values)
		if err != nil {
			t.Fatal(err)
		}
		b, err := eb.Append(nil, c.stream, c.values)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: devices with the same generator state sent different bytes:\n%x\n%x", c.stream, a, b)
		}
		rep, err := ParseReport(a, DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Mechanism == HCMS {
			c.size += uvarintLen(uint64(rep.Col))
		}
		if len(a) != c.size {
			t.Errorf("%s: %d bytes on the wire, want exactly %d (version, mechanism, stream, payload)", c.stream, len(a), c.size)
		}
		for _, id := range []string{deviceA, deviceB, "7f3a9c"} {
			if bytes.Contains(a, []byte(id)) {
				t.Errorf("%s: report contains device identifier %q", c.stream, id)
			}
		}
		if rep.Stream != c.stream {
			t.Errorf("parsed stream %q", rep.Stream)
		}
	}
	// The report type itself has nowhere to put an identity.
	var fields []string
	rt := reflect.TypeFor[Report]()
	for i := 0; i < rt.NumField(); i++ {
		fields = append(fields, rt.Field(i).Name)
	}
	want := []string{"Stream", "Mechanism", "Row", "Bits", "NBits", "Col", "Bit", "Item"}
	if !slices.Equal(fields, want) {
		t.Errorf("Report fields %v, want exactly %v", fields, want)
	}
}

func TestBudgetEnforcedAndPersisted(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{day0}
	e, l := newEncoder(t, dir, clk, 3)
	values := map[string]any{"category": "park", "hour": 18}
	for i := 0; i < 4; i++ {
		if _, err := e.Append(nil, "place_category", values); err != nil {
			t.Fatalf("report %d: %v", i, err)
		}
	}
	var be *BudgetExceededError
	b, err := e.Append([]byte("prefix"), "place_category", values)
	if !errors.As(err, &be) {
		t.Fatalf("fifth report: %v", err)
	}
	if string(b) != "prefix" {
		t.Fatal("refused report appended bytes")
	}
	if be.Stream != "place_category" || be.Day != "2026-11-25" || be.Spent != 4 || be.Budget != 4 || be.Cost != 1 {
		t.Fatalf("error %+v", be)
	}
	if !strings.Contains(err.Error(), "daily budget 4") {
		t.Fatalf("error does not say why: %v", err)
	}
	// Ten reports of ε 0.1 fit a budget of 1 despite rounding; the eleventh
	// does not.
	for i := 0; i < 10; i++ {
		if _, err := e.Append(nil, "route_mode", map[string]any{"mode": "bike", "rerouted": false}); err != nil {
			t.Fatalf("route report %d: %v", i, err)
		}
	}
	if _, err := e.Append(nil, "route_mode", map[string]any{"mode": "bike", "rerouted": false}); !errors.As(err, &be) {
		t.Fatalf("eleventh route report: %v", err)
	}
	// Public counters cost nothing.
	for i := 0; i < 100; i++ {
		if _, err := e.Append(nil, "app_version", map[string]any{"version": "1"}); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "budget.json")
	before, _ := os.ReadFile(path)
	// A restart: same spend, still refused.
	e2, l2 := newEncoder(t, dir, clk, 4)
	if got, want := l2.Spent("place_category", day0), l.Spent("place_category", day0); got != want || got != 4 {
		t.Fatalf("after restart spent %v, before %v", got, want)
	}
	if _, err := e2.Append(nil, "place_category", values); !errors.As(err, &be) {
		t.Fatalf("after restart: %v", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("a refused report changed the ledger file")
	}
	// Late on the same UTC day: still refused; the next UTC day: allowed.
	clk.t = time.Date(2026, 11, 25, 23, 59, 59, 0, time.UTC)
	if _, err := e2.Append(nil, "place_category", values); !errors.As(err, &be) {
		t.Fatalf("same day: %v", err)
	}
	clk.t = time.Date(2026, 11, 26, 0, 0, 1, 0, time.UTC)
	if _, err := e2.Append(nil, "place_category", values); err != nil {
		t.Fatalf("next day: %v", err)
	}
	// Old days are pruned.
	clk.t = day0.AddDate(0, 0, RetainDays+2)
	if _, err := e2.Append(nil, "place_category", values); err != nil {
		t.Fatal(err)
	}
	l3, err := OpenLedger(path)
	if err != nil {
		t.Fatal(err)
	}
	if l3.Spent("place_category", day0) != 0 || l3.Spent("place_category", clk.t) != 1 {
		t.Fatal("old days not pruned or new day not persisted")
	}
	files, _ := os.ReadDir(dir)
	if len(files) != 1 {
		t.Fatalf("%d files in the ledger directory (temporary files left?)", len(files))
	}
	os.WriteFile(path, []byte(`{"version":1,"spent":{"s":{"2026-11-25":-1}}}`), 0o600)
	if _, err := OpenLedger(path); err == nil {
		t.Fatal("ledger with a negative spend opened")
	}
}

// TestServerSketchesEncodedReports: reports encoded on devices, parsed and
// checked against the schema on the server, and sketched, estimate the true
// counts (within 5 standard deviations of the analytic variance).
func TestServerSketchesEncodedReports(t *testing.T) {
	s := placesSchema()
	s.M, s.K, s.Seeds, s.Epsilon, s.DailyBudget = 256, 8, seeds(8), 4, 4
	reg, _ := NewRegistry(s)
	clk := &fakeClock{day0}
	cats := []string{"cafe", "park", "gym", "office"}
	weights := []int{5000, 3000, 1500, 500}
	sk := ldp.NewSketch(s.Params())
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(9, 9))
	for c, w := range weights {
		item, _ := s.Item(map[string]any{"category": cats[c], "hour": 9})
		for i := 0; i < w; i++ {
			var b []byte
			if i < 20 {
				// A few through the whole device path (each a new device
				// with its own ledger)...
				l, _ := OpenLedger(filepath.Join(dir, fmt.Sprint(c, "-", i, ".json")))
				e, _ := NewEncoder(reg, l, clk, r)
				var err error
				if b, err = e.Append(nil, s.Name, map[string]any{"category": cats[c], "hour": 9}); err != nil {
					t.Fatal(err)
				}
			} else {
				// ...the rest privatized as Append does, without one file
				// write per simulated device.
				rep := privatize(&s, item, r)
				b = AppendReport(nil, &rep)
			}
			rep, err := ParseReport(b, DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Check(&rep); err != nil {
				t.Fatal(err)
			}
			if err := sk.Add(rep.LDP()); err != nil {
				t.Fatal(err)
			}
		}
	}
	n := 10000.0
	f2 := 0.0
	for _, w := range weights {
		f2 += float64(w * w)
	}
	p := s.Params()
	for c, w := range weights {
		item, _ := s.Item(map[string]any{"category": cats[c], "hour": 9})
		got := sk.Estimate(item)
		v := ldp.AnalyticVariance(ldp.CMS, p.Epsilon, p.M, p.K, n, float64(w), f2-float64(w*w))
		if math.Abs(got-float64(w)) > 5*math.Sqrt(v) {
			t.Errorf("%s: estimate %.0f, true %d, sd %.0f", cats[c], got, w, math.Sqrt(v))
		}
	}
}
