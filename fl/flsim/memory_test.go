package flsim

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sextant-ml/sextant/features/tables"
	"github.com/sextant-ml/sextant/internal/heapstat"
	"github.com/sextant-ml/sextant/mobility"
	mdata "github.com/sextant-ml/sextant/mobility/dataset"
)

// ndTables simulates the largest of sizes users × 2 weeks once and writes,
// for each size, the next-destination tables (the second week held out)
// of its first users; it returns the directories and train.parquet's
// sizes.
func ndTables(t *testing.T, sizes ...int) ([]string, []int64) {
	t.Helper()
	city, err := mobility.LoadCity("../../mobility/wilmington/wilmington-newark.city.gz")
	if err != nil {
		t.Fatal(err)
	}
	g, err := mobility.NewGenerator(city, mobility.Config{Users: slices.Max(sizes), Weeks: 2, Seed: 5, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	ins := make([]string, len(sizes))
	ws := make([]*mdata.Writer, len(sizes))
	for i := range sizes {
		ins[i] = t.TempDir()
		if ws[i], err = mdata.Create(ins[i], city, mobility.DefaultStart); err != nil {
			t.Fatal(err)
		}
	}
	err = g.Run(context.Background(), func(u *mobility.User) error {
		for i, w := range ws {
			if u.Agent.ID < int64(sizes[i]) {
				if err := w.Add(u); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	outs := make([]string, len(sizes))
	bytes := make([]int64, len(sizes))
	for i, w := range ws {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		outs[i] = t.TempDir()
		if _, err := tables.NextDestination(ins[i], outs[i], tables.Config{HoldoutWeeks: 1, NewUsers: 0.5, NewUserDays: 7}); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(filepath.Join(outs[i], "train.parquet"))
		if err != nil {
			t.Fatal(err)
		}
		bytes[i] = st.Size()
	}
	return outs, bytes
}

// TestNextDestinationMemoryFlat runs the same rounds (about 13 devices a
// round, 10 scored users) on populations of N and 4N users and measures
// the live heap after each round: the 3N extra users may cost their index
// entries, not their rows. Holding the tables in memory (what the
// simulator did before reading each device's rows on demand) costs the
// decoded rows of every user — several times the compressed file — and
// fails the bound by far.
func TestNextDestinationMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 400 users")
	}
	const n = 100
	spec := parse(t, `
name: nd
model: {arch: next-destination}
data: {holdout: 10, seed: 1}
plan: {epochs: 1, batch_size: 10, lr: 0.05, clip_norm: 1}
target: 10
min_reports: 5
secagg_plus: true
`)
	sizes := []int{n, 4 * n}
	dirs, files := ndTables(t, sizes...)
	trainBytes := files[1]
	heap := map[int]uint64{}
	for k, users := range sizes {
		spec.Data.Path = dirs[k]
		base := heapstat.Live()
		var peak uint64
		rep, err := Run(context.Background(), Config{Spec: spec, Devices: users, Rounds: 3, Seed: 1, Dir: t.TempDir(),
			NoPersonalize: true, Progress: func(RoundReport) { peak = max(peak, heapstat.Live()) }})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Devices != users || rep.Committed == 0 {
			t.Fatalf("%d users: report %+v", users, rep)
		}
		heap[users] = peak - min(peak, base)
		t.Logf("%d users: live heap after a round %.0f KiB above the start (train.parquet %.0f KiB)", users, float64(heap[users])/1024, float64(files[k])/1024)
	}
	// The index costs well under 1 KiB a user; a user's training rows,
	// decoded, are tens of KiB (their compressed share of train.parquet
	// alone is the file's size / 4N).
	growth := int64(heap[4*n]) - int64(heap[n])
	bound := int64(3*n) * 1024
	t.Logf("3N = %d more users: %+d KiB (bound %d KiB; their compressed rows %d KiB)", 3*n, growth/1024, bound/1024, trainBytes*3/4/1024)
	if growth > bound {
		t.Errorf("live heap grew by %d KiB for %d more users (more than 1 KiB a user): per-user data is held", growth/1024, 3*n)
	}
	if bound > trainBytes*3/4 {
		t.Errorf("the bound %d KiB does not separate: the extra users' compressed rows are %d KiB", bound/1024, trainBytes*3/4/1024)
	}
}
