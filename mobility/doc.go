// Package mobility is Sextant's city and population simulator: synthetic
// people on a real map, the source of the flagship models' data sets
// (DESIGN.md, "The flagship maps models").
//
// # City
//
// A City is a road graph (nodes, directed edges in CSR form with length,
// free-flow speed, road class and bearings) and a place table (points of
// interest and home sites, each with a Category, a snapped road node and a
// relevance). Package osmcity builds one from an OpenStreetMap PBF extract;
// WriteCity/ReadCity store it in a small gzip'd binary format. The committed
// fixture mobility/wilmington/wilmington-newark.city.gz (© OpenStreetMap
// contributors, ODbL 1.0) is what tests and `sextant data generate` use.
//
// # Routes and travel times
//
// Router runs Dijkstra (whole tree) or A* (one pair) on a binary heap over
// free-flow time. RouteTable caches one shortest-path tree per origin place
// as a row of RouteFeatures to every place (length, free-flow time, turns,
// edges, road-class mix by length and by time). Traffic turns features and a
// departure time into the conditional median travel time (Expected: per-class
// slowdowns × time-of-week Congestion + turn delays) — the ETA noise floor —
// and the generator multiplies it by a per-driver and a per-trip log-normal
// factor (median 1) for the label.
//
// # Population
//
// Each agent (seeded PCG stream (seed, id)) gets a home by population
// weight and, for most, a work or school anchor by a gravity model
// (∝ jobs_j / r²). Days follow a schedule (weekday work, free evenings and
// weekends); free time is spent in d-EPR stops (Song et al. 2010, Nature
// Physics 6:818, "Modelling the scaling properties of human mobility";
// Pappalardo et al. 2015, Nat. Commun. 6:8166, "Returners and explorers
// dichotomy in human mobility"): explore with probability ρ·S^−γ to a new
// place ∝ relevance_j / r_ij², else return to a visited place — half the
// returns repeat the agent's own routine for the time-of-week slot (day ×
// 3-hour band; the daily and weekly return peaks of González et al. 2008
// and Song et al. 2010), a fifth go to a recent place ∝ recency rank^−1
// (Barbosa et al. 2015), the rest ∝ past visits; stay durations
// from P(Δt) ∝ Δt^(−1−β)·e^(−Δt/τ). Agents are explorers or returners (ρ
// scaled up or down), and some stays and whole days go unrecorded (GPS
// gaps). Params documents every value and how it was tuned; Laws measures
// the published regularities and the tests hold them.
//
// Generator.Run streams users in id order to a callback, reusing buffers:
// memory is bounded by the route table (places² × 28 bytes) plus a few users
// per worker, whatever the population size. The output is a function of the
// seed alone, not of the number of workers.
//
// # Data sets
//
// Package dataset writes a run as four Parquet files (snappy, row groups of
// 131,072 rows). Times are Unix seconds (UTC; the simulation starts Monday
// 2024-01-01 00:00 and has no time zones); hour_of_week counts from Monday
// 00:00 (0–167). Rows are in user order, then time order.
//
// visits.parquet — one row per recorded stay:
//
//	user_id       int64   agent id, 0..users-1
//	seq           int32   index among the user's recorded visits
//	place_id      int32   row of places.parquet
//	arrive        int64   Unix seconds
//	depart        int64   Unix seconds
//	day           int32   days since the start
//	hour_of_week  int32   of arrival
//	category      string  home, work, food, shop, school, health, leisure, transit, other
//	lat, lon      double  the place's position, degrees
//	purpose       string  home, work, school, explore (first visit), return (ground truth; not a model input)
//	is_new        bool    first stay of this user at this place (counting unrecorded stays)
//
// trips.parquet — one row per drive between consecutive stays (recorded or
// not), the ETA examples:
//
//	user_id, seq            int64, int32
//	from_place, to_place    int32   rows of places.parquet
//	depart                  int64   Unix seconds
//	hour_of_week            int32   of departure
//	day_of_week             int32   0 = Monday
//	length_m                float   metres along the fastest free-flow route
//	free_flow_s             float   seconds at free-flow speeds (the baseline ETA)
//	turns, edges            int32   heading changes > 30°, road edges
//	frac_motorway, frac_trunk, frac_primary, frac_secondary,
//	frac_tertiary, frac_residential, frac_service   float  share of length per class (sums to 1)
//	expected_s              float   conditional median travel time (noise floor)
//	travel_s                float   the label: expected × driver factor × trip noise
//
// places.parquet — the city's place table:
//
//	place_id   int32   row index
//	osm_id     int64   OSM node id, minus the way id for ways, 0 for synthetic home sites
//	name       string  OSM name, often empty
//	category   string  as in visits
//	lat, lon   double  degrees
//	node       int32   snapped road-graph node
//	relevance  float   exploration attractiveness
//
// users.parquet — one row per agent (ground truth for slicing):
//
//	user_id     int64
//	home_place  int32
//	work_place  int32   -1 for none
//	anchor      string  work, school or none
//	kind        string  explorer or returner
//	rho         float   the agent's d-EPR ρ
//	work_start, work_hours  float  hours
//	visits, trips, stays    int32  recorded visits, trips, true stays
package mobility
