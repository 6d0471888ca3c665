package tables

import (
	"context"
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
	first, last, err := timeRange(visits, "arrive", func(v *mdata.VisitRow) int64 { return v.Arrive })
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
	if err := cfg.checkNewUsers(); err != nil {
		return st, err
	}
	city, err := loadCity(dir, cfg)
	if err != nil {
		return st, err
	}
	run := ndRun{dir: dir, out: out, cfg: cfg, boundary: st.Boundary, city: city, kinds: kinds}
	if city != nil {
		return runND[ndRowPublic](run, st)
	}
	return runND[ndRow](run, st)
}

// ndRun is what every worker of a next-destination run shares (read-only).
type ndRun struct {
	dir, out string
	cfg      Config
	boundary int64
	city     *features.City
	kinds    map[int64]int64
}

// ndCols are the next-destination columns, in name order; public_label
// (with cold-start candidates, ndRowPublic) sorts between next_place and
// user_id.
type ndCols struct {
	CandidateMask []float32 `parquet:"candidate_mask,list"`
	Candidates    []float32 `parquet:"candidates,list"`
	Category      []int64   `parquet:"category,list"`
	Context       []float32 `parquet:"context,list"`
	Explorer      int64     `parquet:"explorer"`
	History       []int64   `parquet:"history,list"`
	HistoryVisits int64     `parquet:"history_visits"`
	HourOfWeek    int64     `parquet:"hour_of_week"`
	Label         int64     `parquet:"label"`
	Markov        []float32 `parquet:"markov,list"`
	NewUser       int64     `parquet:"new_user"`
	NewUserDays   int64     `parquet:"new_user_days"`
	NextPlace     int64     `parquet:"next_place"`
}

type ndUser struct {
	UserID int64 `parquet:"user_id"`
}

// ndRow is a next-destination row.
type ndRow struct {
	ndCols
	ndUser
}

// ndRowPublic is a next-destination row with cold-start candidates.
type ndRowPublic struct {
	ndCols
	PublicLabel int64 `parquet:"public_label"`
	ndUser
}

func (r *ndRow) cols() (*ndCols, *ndUser)       { return &r.ndCols, &r.ndUser }
func (r *ndRow) setPublic(int64)                {}
func (r *ndRowPublic) cols() (*ndCols, *ndUser) { return &r.ndCols, &r.ndUser }
func (r *ndRowPublic) setPublic(v int64)        { r.PublicLabel = v }

// ndRecord is *ndRow or *ndRowPublic.
type ndRecord[T any] interface {
	*T
	cols() (*ndCols, *ndUser)
	setPublic(int64)
}

// runND computes the tables in chunks (parallel.go) and writes them.
func runND[T any, P ndRecord[T]](run ndRun, st Stats) (Stats, error) {
	sp, err := createSplits[T](run.out)
	if err != nil {
		return st, err
	}
	var cov coverage
	newWorker := func() func([]visit) (ndChunk, error) {
		w := &ndWorker[T, P]{ndRun: &run, ex: features.NewNextDestination(), markov: make([]float32, features.K)}
		return w.chunk
	}
	err = chunks(context.Background(), filepath.Join(run.dir, mdata.VisitsFile), run.cfg.Workers, chunkSize(run.cfg.ChunkRows),
		func(v *mdata.VisitRow) int64 { return v.UserID }, toVisit, newWorker,
		func(c ndChunk) error {
			if err := sp.commit(c.train, c.test); err != nil {
				return err
			}
			st.add(c.st)
			cov.append(&c.cov)
			return nil
		})
	if err = sp.close(err); err != nil {
		return st, err
	}
	st.TestNew, st.UncoveredTestNew = cov.newUsers()
	return st, cov.write(run.out)
}

// visit is a row of visits.parquet as the features see it.
type visit struct {
	user int64
	features.Visit
}

func toVisit(v *mdata.VisitRow) visit {
	return visit{v.UserID, features.Visit{Place: int64(v.PlaceID), Arrive: v.Arrive, Depart: v.Depart,
		Category: features.CategoryIndex(v.Category), Lat: v.Lat, Lon: v.Lon}}
}

// ndChunk is a chunk's output: its encoded parts, counts and coverage rows.
type ndChunk struct {
	train, test []byte
	st          Stats
	cov         coverage
}

// ndWorker computes next-destination chunks; each worker goroutine has
// its own.
type ndWorker[T any, P ndRecord[T]] struct {
	*ndRun
	parts  chunkParts[T]
	ex     *features.NextDestination
	markov []float32
}

// chunk computes the examples of a chunk of whole users' visits.
func (w *ndWorker[T, P]) chunk(visits []visit) (ndChunk, error) {
	var c ndChunk
	w.parts.begin()
	ex, markov, st := w.ex, w.markov, &c.st
	var u *features.User
	cur := int64(-1)
	isNew, days, start := false, 0, int64(0)
	for i := range visits {
		v := &visits[i]
		if u == nil || v.user != cur {
			cur, u = v.user, features.NewUser()
			isNew, days = newUser(v.user, w.cfg.NewUsers), 0
			if isNew {
				days = w.cfg.historyDays(v.user)
				start = historyStart(w.boundary, days)
			}
			u.SetCity(w.city)
			c.cov.user(v.user, isNew)
			st.Users++
		}
		if isNew && v.Arrive < start {
			continue // before a new user's history begins
		}
		if u.Extract(mustCurrent(u).Depart, ex) {
			held := v.Arrive >= w.boundary
			label := ex.Label(v.Place)
			if held {
				c.cov.held(label >= 0)
			}
			switch {
			case !held && !donor(v.user, w.cfg.Donors):
			case label < 0 && held:
				st.UncoveredTest++
			case label < 0:
				st.UncoveredTrain++
			default:
				p := &w.parts.train
				if held {
					p, st.Test = &w.parts.test, st.Test+1
				} else {
					st.Train++
				}
				u.Markov(ex, markov)
				row := P(p.row())
				r, ru := row.cols()
				r.Candidates = append(r.Candidates[:0], ex.Candidates...)
				r.CandidateMask = append(r.CandidateMask[:0], ex.CandidateMask...)
				r.Category = append(r.Category[:0], ex.Category...)
				r.History = append(r.History[:0], ex.History...)
				r.HourOfWeek = ex.HourOfWeek
				r.Context = append(r.Context[:0], ex.Context...)
				r.Label = int64(label)
				ru.UserID = v.user
				r.NextPlace = v.Place
				r.Explorer = w.kinds[v.user]
				r.HistoryVisits = int64(u.Visits())
				r.NewUser = boolInt(isNew)
				r.NewUserDays = int64(days)
				if w.city != nil {
					row.setPublic(boolInt(ex.Candidates[label*features.CandidateFeatures+10] < 0))
				}
				r.Markov = append(r.Markov[:0], markov...)
				if err := p.endRow(); err != nil {
					return c, err
				}
			}
		}
		if err := u.Observe(v.Visit); err != nil {
			return c, err
		}
	}
	var err error
	c.train, c.test, err = w.parts.end()
	return c, err
}

func mustCurrent(u *features.User) features.Visit {
	v, _ := u.Current()
	return v
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
