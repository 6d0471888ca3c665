// Package features turns a user's own visits and a planned route into the
// inputs of the flagship maps models (DESIGN.md, "The flagship maps models"
// and "Contracts"). It is the one feature-extraction package: the phone's
// SDK calls it on live data and training calls it on simulated data, so the
// two cannot drift. It is device-side and imports only the standard
// library.
//
// # Next destination
//
// A User accumulates a person's visits (Observe) and, at the moment they
// leave the current place, fills a NextDestination example (Extract): the
// top K places by visit count (ties: most recently left first, then place
// id) as candidates, each described by CandidateFeatures numbers (the
// names are in CandidateFeatureNames), the context, and the recent history.
// The model inputs, by name and per-example shape:
//
//	candidates      float32 [K·F]  candidate c's features at [c·F, (c+1)·F); zeros past the user's places
//	candidate_mask  float32 [K]    1 for a real candidate, 0 for padding
//	category        int64   [K]    index in Categories; Pad = −1 for padding
//	history         int64   [L]    the last L visits as candidate indices, oldest first
//	                               (the last one is the current place); Pad = −1 for
//	                               empty slots, NotCandidate = K for a place outside the candidates
//	hour_of_week    int64   []     of the departure, 0 = Monday 00:00
//	context         float32 [C]    ContextFeatureNames
//
// With cold-start candidates (User.SetCity, city.go; the bundle's
// preprocessing constant ColdStartPreprocessing) the slots past a user's
// own places are filled with public places of the city, not yet visited,
// chosen by a gravity score from the current place; their own-visit
// features are zero, log_hours_since is −1 and log_mean_stay carries the
// map's popularity prior. A model is served with the spec it was trained
// on.
//
// The history follows package eval's convention (History: column
// "history", pad −1, candidate indices, oldest first), so eval's
// most-frequent and Markov baselines read it as they are. The label is the
// next visited place's candidate index, or −1 when it is not a candidate
// (a first visit to a place that is not a public candidate, or a place
// outside the top K).
//
// Counts cover every visit observed so far; time-of-week counts use the
// arrival's hour of day and day type (weekday or weekend), or for the
// *_dow features its hour of the week (the same day of the week), in the
// clock of the User's Offset (seconds east of UTC; the simulator has no
// time zones).
//
// # ETA
//
// Route summarizes a planned route and its departure time; RouteFeatures
// turns it into the ETA models' `route` input (RouteFeatureNames). The
// models predict the log of travel time over free-flow time and output
// free_flow_s × exp(that).
package features
