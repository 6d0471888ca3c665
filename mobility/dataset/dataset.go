// Package dataset writes a simulated population as Parquet files, one per
// table, streamed in row groups so memory stays bounded whatever the number
// of users. The schemas are documented in package mobility ("Data sets").
package dataset

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/snappy"

	"github.com/sextant-ml/sextant/mobility"
)

// File names inside an output directory.
const (
	VisitsFile = "visits.parquet"
	TripsFile  = "trips.parquet"
	PlacesFile = "places.parquet"
	UsersFile  = "users.parquet"
)

// VisitRow is a row of visits.parquet.
type VisitRow struct {
	UserID     int64   `parquet:"user_id"`
	Seq        int32   `parquet:"seq"`
	PlaceID    int32   `parquet:"place_id"`
	Arrive     int64   `parquet:"arrive"`
	Depart     int64   `parquet:"depart"`
	Day        int32   `parquet:"day"`
	HourOfWeek int32   `parquet:"hour_of_week"`
	Category   string  `parquet:"category,dict"`
	Lat        float64 `parquet:"lat"`
	Lon        float64 `parquet:"lon"`
	Purpose    string  `parquet:"purpose,dict"`
	IsNew      bool    `parquet:"is_new"`
}

// TripRow is a row of trips.parquet.
type TripRow struct {
	UserID        int64   `parquet:"user_id"`
	Seq           int32   `parquet:"seq"`
	FromPlace     int32   `parquet:"from_place"`
	ToPlace       int32   `parquet:"to_place"`
	Depart        int64   `parquet:"depart"`
	HourOfWeek    int32   `parquet:"hour_of_week"`
	DayOfWeek     int32   `parquet:"day_of_week"`
	LengthM       float32 `parquet:"length_m"`
	FreeFlowS     float32 `parquet:"free_flow_s"`
	Turns         int32   `parquet:"turns"`
	Edges         int32   `parquet:"edges"`
	FracMotorway  float32 `parquet:"frac_motorway"`
	FracTrunk     float32 `parquet:"frac_trunk"`
	FracPrimary   float32 `parquet:"frac_primary"`
	FracSecondary float32 `parquet:"frac_secondary"`
	FracTertiary  float32 `parquet:"frac_tertiary"`
	FracResid     float32 `parquet:"frac_residential"`
	FracService   float32 `parquet:"frac_service"`
	ExpectedS     float32 `parquet:"expected_s"`
	TravelS       float32 `parquet:"travel_s"`
}

// PlaceRow is a row of places.parquet.
type PlaceRow struct {
	PlaceID   int32   `parquet:"place_id"`
	OSMID     int64   `parquet:"osm_id"`
	Name      string  `parquet:"name"`
	Category  string  `parquet:"category,dict"`
	Lat       float64 `parquet:"lat"`
	Lon       float64 `parquet:"lon"`
	Node      int32   `parquet:"node"`
	Relevance float32 `parquet:"relevance"`
}

// UserRow is a row of users.parquet.
type UserRow struct {
	UserID    int64   `parquet:"user_id"`
	HomePlace int32   `parquet:"home_place"`
	WorkPlace int32   `parquet:"work_place"`
	Anchor    string  `parquet:"anchor,dict"`
	Kind      string  `parquet:"kind,dict"`
	Rho       float32 `parquet:"rho"`
	WorkStart float32 `parquet:"work_start"`
	WorkHours float32 `parquet:"work_hours"`
	Visits    int32   `parquet:"visits"`
	Trips     int32   `parquet:"trips"`
	Stays     int32   `parquet:"stays"`
}

// RowGroupRows is the row-group size of the streamed tables.
const RowGroupRows = 1 << 17

// Writer streams users into the Parquet files of a directory.
type Writer struct {
	start  time.Time
	files  []*os.File
	visits *parquet.GenericWriter[VisitRow]
	trips  *parquet.GenericWriter[TripRow]
	users  *parquet.GenericWriter[UserRow]
	city   *mobility.City
	vbuf   []VisitRow
	tbuf   []TripRow
	ubuf   []UserRow
	closed bool
}

// Create makes dir (if needed), writes places.parquet for city and opens
// the streamed tables. start is the wall time of simulation second 0.
func Create(dir string, city *mobility.City, start time.Time) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	if err := writePlaces(filepath.Join(dir, PlacesFile), city); err != nil {
		return nil, err
	}
	w := &Writer{start: start, city: city}
	open := func(name string) (*os.File, error) {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
		w.files = append(w.files, f)
		return f, nil
	}
	opts := []parquet.WriterOption{parquet.Compression(&snappy.Codec{}), parquet.MaxRowsPerRowGroup(RowGroupRows)}
	vf, err := open(VisitsFile)
	if err != nil {
		return nil, err
	}
	tf, err := open(TripsFile)
	if err != nil {
		w.abort()
		return nil, err
	}
	uf, err := open(UsersFile)
	if err != nil {
		w.abort()
		return nil, err
	}
	w.visits = parquet.NewGenericWriter[VisitRow](vf, opts...)
	w.trips = parquet.NewGenericWriter[TripRow](tf, opts...)
	w.users = parquet.NewGenericWriter[UserRow](uf, opts...)
	return w, nil
}

func (w *Writer) abort() {
	for _, f := range w.files {
		f.Close()
	}
}

// Add writes one user's visits, trips and user row. It keeps nothing of u.
func (w *Writer) Add(u *mobility.User) error {
	unix := w.start.Unix()
	w.vbuf = w.vbuf[:0]
	for i := range u.Visits {
		v := &u.Visits[i]
		p := &w.city.Places[v.Place]
		w.vbuf = append(w.vbuf, VisitRow{
			UserID: u.Agent.ID, Seq: v.Seq, PlaceID: v.Place, Arrive: unix + v.Arrive, Depart: unix + v.Depart,
			Day: int32(v.Arrive / 86400), HourOfWeek: int32(v.Arrive % (168 * 3600) / 3600),
			Category: p.Category.String(), Lat: p.Lat, Lon: p.Lon, Purpose: v.Purpose.String(), IsNew: v.New,
		})
	}
	w.tbuf = w.tbuf[:0]
	for i := range u.Trips {
		t := &u.Trips[i]
		r := &t.Route
		how := int32(t.Depart % (168 * 3600) / 3600)
		w.tbuf = append(w.tbuf, TripRow{
			UserID: u.Agent.ID, Seq: t.Seq, FromPlace: t.From, ToPlace: t.To, Depart: unix + t.Depart,
			HourOfWeek: how, DayOfWeek: how / 24,
			LengthM: float32(r.Length), FreeFlowS: float32(r.FreeFlow), Turns: int32(r.Turns), Edges: int32(r.Edges),
			FracMotorway: float32(r.ClassLength[mobility.Motorway]), FracTrunk: float32(r.ClassLength[mobility.Trunk]),
			FracPrimary: float32(r.ClassLength[mobility.Primary]), FracSecondary: float32(r.ClassLength[mobility.Secondary]),
			FracTertiary: float32(r.ClassLength[mobility.Tertiary]), FracResid: float32(r.ClassLength[mobility.Residential]),
			FracService: float32(r.ClassLength[mobility.Service]),
			ExpectedS:   float32(t.Expected), TravelS: float32(t.Actual),
		})
	}
	a := &u.Agent
	anchor := "none"
	if a.Work >= 0 {
		anchor = "work"
		if a.School {
			anchor = "school"
		}
	}
	w.ubuf = append(w.ubuf[:0], UserRow{
		UserID: a.ID, HomePlace: a.Home, WorkPlace: a.Work, Anchor: anchor, Kind: a.Kind.String(),
		Rho: float32(a.Rho), WorkStart: float32(a.WorkStart), WorkHours: float32(a.WorkHours),
		Visits: int32(len(u.Visits)), Trips: int32(len(u.Trips)), Stays: int32(u.Stays),
	})
	if _, err := w.visits.Write(w.vbuf); err != nil {
		return fmt.Errorf("dataset: visits: %w", err)
	}
	if _, err := w.trips.Write(w.tbuf); err != nil {
		return fmt.Errorf("dataset: trips: %w", err)
	}
	if _, err := w.users.Write(w.ubuf); err != nil {
		return fmt.Errorf("dataset: users: %w", err)
	}
	return nil
}

// Close finishes the files.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	errs := []error{w.visits.Close(), w.trips.Close(), w.users.Close()}
	for _, f := range w.files {
		errs = append(errs, f.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dataset: close: %w", err)
	}
	return nil
}

func writePlaces(path string, city *mobility.City) error {
	rows := make([]PlaceRow, len(city.Places))
	for i := range city.Places {
		p := &city.Places[i]
		rows[i] = PlaceRow{PlaceID: int32(i), OSMID: p.OSMID, Name: p.Name, Category: p.Category.String(),
			Lat: p.Lat, Lon: p.Lon, Node: p.Node, Relevance: p.Relevance}
	}
	if err := parquet.WriteFile(path, rows, parquet.Compression(&snappy.Codec{})); err != nil {
		return fmt.Errorf("dataset: places: %w", err)
	}
	return nil
}
