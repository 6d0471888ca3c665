package osmcity

import (
	"strconv"
	"strings"

	"github.com/paulmach/osm"

	"github.com/sextant-ml/sextant/mobility"
)

// roadSpec is how a drivable highway=* value enters the graph.
type roadSpec struct {
	class mobility.RoadClass
	kmh   float64 // default free-flow speed
}

// roadSpecs lists the drivable highway classes and their default speeds in
// km/h, used where a way has no usable maxspeed. The values are our
// assumption for a US state, modelled on the car profile of OSRM (the Open
// Source Routing Machine, profiles/car.lua), whose defaults are in the same
// range (motorway 90, trunk 85, primary 65, secondary 55, tertiary 40,
// residential and unclassified 25, service 15, links about half their road).
var roadSpecs = map[string]roadSpec{
	"motorway":       {mobility.Motorway, 90},
	"motorway_link":  {mobility.Motorway, 45},
	"trunk":          {mobility.Trunk, 85},
	"trunk_link":     {mobility.Trunk, 40},
	"primary":        {mobility.Primary, 65},
	"primary_link":   {mobility.Primary, 30},
	"secondary":      {mobility.Secondary, 55},
	"secondary_link": {mobility.Secondary, 25},
	"tertiary":       {mobility.Tertiary, 40},
	"tertiary_link":  {mobility.Tertiary, 20},
	"unclassified":   {mobility.Residential, 25},
	"residential":    {mobility.Residential, 25},
	"living_street":  {mobility.Residential, 10},
	"road":           {mobility.Residential, 25},
	"service":        {mobility.Service, 15},
}

// road reports whether a way is a drivable road, and its class, speed (m/s)
// and direction: +1 one-way along the way, -1 against it, 0 both ways.
func road(tags osm.Tags) (spec roadSpec, mps float64, dir int, ok bool) {
	spec, ok = roadSpecs[tags.Find("highway")]
	if !ok {
		return spec, 0, 0, false
	}
	switch tags.Find("access") {
	case "no", "private":
		return spec, 0, 0, false
	}
	switch tags.Find("motor_vehicle") {
	case "no", "private":
		return spec, 0, 0, false
	}
	if spec.class == mobility.Service {
		switch tags.Find("service") {
		case "parking_aisle", "driveway", "drive-through", "emergency_access", "private":
			return spec, 0, 0, false
		}
	}
	if tags.Find("area") == "yes" {
		return spec, 0, 0, false
	}
	kmh := spec.kmh
	if v, ok := parseMaxspeed(tags.Find("maxspeed")); ok {
		kmh = v
	}
	switch tags.Find("oneway") {
	case "yes", "true", "1":
		dir = 1
	case "-1", "reverse":
		dir = -1
	case "no", "false", "0":
		dir = 0
	default:
		if spec.class == mobility.Motorway || tags.Find("junction") == "roundabout" {
			dir = 1
		}
	}
	return spec, kmh / 3.6, dir, true
}

// parseMaxspeed reads an OSM maxspeed value ("50", "35 mph", "50 km/h") in
// km/h; symbolic values ("signals", "none", "US:urban") are not used.
func parseMaxspeed(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	factor := 1.0
	switch {
	case strings.HasSuffix(s, "mph"):
		factor = 1.609344
		s = strings.TrimSpace(strings.TrimSuffix(s, "mph"))
	case strings.HasSuffix(s, "km/h"):
		s = strings.TrimSpace(strings.TrimSuffix(s, "km/h"))
	case strings.HasSuffix(s, "kmh"):
		s = strings.TrimSpace(strings.TrimSuffix(s, "kmh"))
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 5 || v > 200 {
		return 0, false
	}
	return v * factor, true
}

// category maps a feature's tags to a place category; ok is false for
// features agents do not stay at (benches, parking, bins, ...).
func category(tags osm.Tags) (mobility.Category, bool) {
	if v := tags.Find("amenity"); v != "" {
		switch v {
		case "restaurant", "fast_food", "cafe", "bar", "pub", "ice_cream", "food_court", "biergarten":
			return mobility.Food, true
		case "school", "kindergarten", "college", "university", "library", "childcare":
			return mobility.School, true
		case "hospital", "clinic", "doctors", "dentist", "pharmacy", "veterinary", "nursing_home":
			return mobility.Health, true
		case "bus_station", "ferry_terminal", "taxi":
			return mobility.Transit, true
		case "place_of_worship", "community_centre", "theatre", "cinema", "arts_centre", "nightclub", "social_facility":
			return mobility.Leisure, true
		case "bank", "post_office", "townhall", "police", "fire_station", "courthouse", "marketplace", "fuel", "car_wash", "dojo":
			return mobility.Other, true
		}
	}
	if v := tags.Find("shop"); v != "" && v != "vacant" && v != "no" {
		return mobility.Shop, true
	}
	switch tags.Find("tourism") {
	case "hotel", "motel", "guest_house", "museum", "attraction", "zoo", "theme_park", "gallery", "picnic_site", "camp_site", "aquarium":
		return mobility.Leisure, true
	}
	switch tags.Find("leisure") {
	case "park", "sports_centre", "fitness_centre", "stadium", "golf_course", "nature_reserve", "marina", "dog_park", "ice_rink", "bowling_alley", "water_park", "recreation_ground":
		return mobility.Leisure, true
	}
	if tags.Find("railway") == "station" || tags.Find("public_transport") == "station" {
		return mobility.Transit, true
	}
	if tags.Find("office") != "" {
		return mobility.Work, true
	}
	switch tags.Find("landuse") {
	case "commercial", "industrial":
		return mobility.Work, true
	}
	return 0, false
}

// baseRelevance is a category's typical attractiveness to exploration; the
// import multiplies it by a per-place log-normal factor.
var baseRelevance = [mobility.NumCategories]float64{
	mobility.Home:    0.3,
	mobility.Work:    0.5,
	mobility.Food:    1.5,
	mobility.Shop:    1.2,
	mobility.School:  0.6,
	mobility.Health:  0.6,
	mobility.Leisure: 1.2,
	mobility.Transit: 0.8,
	mobility.Other:   0.7,
}
