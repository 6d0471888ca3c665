package tables

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/sextant-ml/sextant/features"
	mdata "github.com/sextant-ml/sextant/mobility/dataset"
)

// NextDestination writes the next-destination tables of the data set in
// dir to out/train.parquet and out/test.parquet. An example predicts each
// recorded visit after a user's first from the visits before it, at the
// departure from the previous one; examples whose next place is not among
// the candidates are dropped and counted.
func NextDestination(dir, out string, cfg Config) (Stats, error) {
	var st Stats
	visits := filepath.Join(dir, mdata.VisitsFile)
	first, last := int64(1<<62), int64(-1<<62)
	err := readAll(visits, func(v *mdata.VisitRow) error {
		first, last = min(first, v.Arrive), max(last, v.Arrive)
		return nil
	})
	if err != nil {
		return st, err
	}
	if st.Boundary, err = boundary(first, last, cfg.HoldoutWeeks); err != nil {
		return st, err
	}
	kinds, err := explorers(dir)
	if err != nil {
		return st, err
	}
	if cfg.NewUsers < 0 || cfg.NewUsers > 1 || cfg.NewUserDays < 0 {
		return st, fmt.Errorf("tables: --new-users %v must be in [0, 1] and --new-user-days %d ≥ 0", cfg.NewUsers, cfg.NewUserDays)
	}
	start := historyStart(st.Boundary, cfg.NewUserDays)
	city, err := loadCity(dir, cfg)
	if err != nil {
		return st, err
	}
	var cov coverage
	train, test := newTable(), newTable()
	if err := streamSplits(out, train, test); err != nil {
		return st, err
	}
	ex := features.NewNextDestination()
	markov := make([]float32, features.K)
	var u *features.User
	cur := int64(-1)
	isNew := false
	err = readAll(visits, func(v *mdata.VisitRow) error {
		if v.UserID != cur {
			cur, u = v.UserID, features.NewUser()
			isNew = newUser(v.UserID, cfg.NewUsers)
			u.SetCity(city)
			cov.user(v.UserID, isNew)
			st.Users++
		}
		if isNew && v.Arrive < start {
			return nil // before a new user's history begins
		}
		if u.Extract(mustCurrent(u).Depart, ex) {
			held := v.Arrive >= st.Boundary
			label := ex.Label(int64(v.PlaceID))
			if held {
				cov.held(label >= 0)
			}
			switch {
			case !held && !donor(v.UserID, cfg.Donors):
			case label < 0 && held:
				st.UncoveredTest++
			case label < 0:
				st.UncoveredTrain++
			default:
				t := train
				if held {
					t, st.Test = test, st.Test+1
				} else {
					st.Train++
				}
				u.Markov(ex, markov)
				t.floats("candidates", ex.Candidates...)
				t.floats("candidate_mask", ex.CandidateMask...)
				t.ints("category", ex.Category...)
				t.ints("history", ex.History...)
				t.ints("hour_of_week", ex.HourOfWeek)
				t.floats("context", ex.Context...)
				t.ints("label", int64(label))
				t.ints("user_id", v.UserID)
				t.ints("next_place", int64(v.PlaceID))
				t.ints("explorer", kinds[v.UserID])
				t.ints("history_visits", int64(u.Visits()))
				t.ints("new_user", boolInt(isNew))
				if city != nil {
					t.ints("public_label", boolInt(ex.Candidates[label*features.CandidateFeatures+10] < 0))
				}
				t.floats("markov", markov...)
				if err := t.endRow(); err != nil {
					return err
				}
			}
		}
		return u.Observe(features.Visit{
			Place: int64(v.PlaceID), Arrive: v.Arrive, Depart: v.Depart,
			Category: features.CategoryIndex(v.Category), Lat: v.Lat, Lon: v.Lon,
		})
	})
	if err != nil {
		return st, err
	}
	st.TestNew, st.UncoveredTestNew = cov.newUsers()
	if err := writeSplits(out, train, test); err != nil {
		return st, err
	}
	return st, cov.write(out)
}

func mustCurrent(u *features.User) features.Visit {
	v, _ := u.Current()
	return v
}

func writeSplits(out string, train, test *table) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("tables: %w", err)
	}
	if err := train.write(filepath.Join(out, "train.parquet")); err != nil {
		return err
	}
	return test.write(filepath.Join(out, "test.parquet"))
}

// streamSplits makes out and streams train and test to their files in it
// as rows come (writeSplits finishes them).
func streamSplits(out string, train, test *table) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("tables: %w", err)
	}
	train.stream(filepath.Join(out, "train.parquet"))
	test.stream(filepath.Join(out, "test.parquet"))
	return nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
