package telemetry

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Clock tells the time; clock.Real and the repository's other clocks
// satisfy it.
type Clock interface{ Now() time.Time }

// RetainDays is how many UTC days the ledger keeps; older days are pruned.
const RetainDays = 31

// dayFormat names a UTC day in the ledger.
const dayFormat = "2006-01-02"

// Day returns the UTC day of t as the ledger names it.
func Day(t time.Time) string { return t.UTC().Format(dayFormat) }

// BudgetExceededError reports a report that would take a stream's spend on
// a day past its budget; the report is not produced.
type BudgetExceededError struct {
	Stream string
	Day    string
	// Spent is the ε already spent that day; Cost the report's ε.
	Spent, Cost, Budget float64
}

func (e *BudgetExceededError) Error() string {
	return fmt.Sprintf("telemetry: stream %s: a report of ε %g would bring %s's spend from %g past the daily budget %g",
		e.Stream, e.Cost, e.Day, e.Spent, e.Budget)
}

// Ledger is a device's per-stream, per-day record of ε spent. It is safe for
// concurrent use: mu guards spent and serializes writes of the file.
type Ledger struct {
	path string
	mu   sync.Mutex
	// spent[stream][day] is the ε spent.
	spent map[string]map[string]float64
	// mirror, when set, receives the ledger (as Snapshot encodes it) after
	// each charge is saved to the file: a server's replicas share their
	// spend through it (SetMirror).
	mirror func(doc []byte) error
}

type ledgerFile struct {
	Version int                           `json:"version"`
	Spent   map[string]map[string]float64 `json:"spent"`
}

// OpenLedger loads the ledger at path, or starts an empty one if the file
// does not exist.
func OpenLedger(path string) (*Ledger, error) {
	l := &Ledger{path: path, spent: map[string]map[string]float64{}}
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: ledger: %w", err)
	}
	spent, err := decodeLedger(raw)
	if err != nil {
		return nil, fmt.Errorf("telemetry: ledger %s: %w", path, err)
	}
	l.spent = spent
	return l, nil
}

// decodeLedger parses and checks a ledger document.
func decodeLedger(raw []byte) (map[string]map[string]float64, error) {
	var f ledgerFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, err
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("unsupported version %d", f.Version)
	}
	spent := map[string]map[string]float64{}
	for s, days := range f.Spent {
		for d, v := range days {
			if _, err := time.Parse(dayFormat, d); err != nil || !(v >= 0) || math.IsInf(v, 1) {
				return nil, fmt.Errorf("bad entry %s/%s = %v", s, d, v)
			}
		}
		if len(days) > 0 {
			spent[s] = days
		}
	}
	return spent, nil
}

// Snapshot returns the ledger as its file holds it.
func (l *Ledger) Snapshot() ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.encodeLocked()
}

// Merge folds in a ledger document another holder of the same budgets
// wrote (a replica that spent before this one took over): each stream's
// spend on each day becomes the larger of the two, which never claims less
// than either spent, since both start from the shared document. The result
// is saved to the file (the mirror is not called).
func (l *Ledger) Merge(doc []byte) error {
	other, err := decodeLedger(doc)
	if err != nil {
		return fmt.Errorf("telemetry: ledger: merge: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for s, days := range other {
		mine := l.spent[s]
		if mine == nil {
			mine = map[string]float64{}
			l.spent[s] = mine
		}
		for d, v := range days {
			mine[d] = max(mine[d], v)
		}
	}
	raw, err := l.encodeLocked()
	if err != nil {
		return err
	}
	return writeFileAtomic(l.path, raw)
}

// SetMirror makes every later charge also call mirror with the ledger's
// document, after the file is saved and before Spend returns; an error
// from mirror fails the Spend (the charge stays recorded, so no report is
// produced on a charge the mirror may not hold). nil removes the mirror.
func (l *Ledger) SetMirror(mirror func(doc []byte) error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mirror = mirror
}

// Spent returns the ε spent on stream during the UTC day of t.
func (l *Ledger) Spent(stream string, t time.Time) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.spent[stream][Day(t)]
}

// budgetSlack absorbs floating-point error in sums of ε (e.g. ten reports of
// ε 0.1 against a budget of 1).
const budgetSlack = 1e-9

// Spend charges cost to stream on the UTC day of now if that keeps the day's
// total within budget, and persists the ledger before returning. Otherwise
// it returns a *BudgetExceededError and charges nothing.
func (l *Ledger) Spend(stream string, now time.Time, cost, budget float64) error {
	if !(cost >= 0) || math.IsInf(cost, 1) {
		return fmt.Errorf("telemetry: ε cost %v must be finite and ≥ 0", cost)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	day := Day(now)
	spent := l.spent[stream][day]
	if spent+cost > budget*(1+budgetSlack) {
		return &BudgetExceededError{Stream: stream, Day: day, Spent: spent, Cost: cost, Budget: budget}
	}
	if cost == 0 {
		return nil
	}
	days := l.spent[stream]
	if days == nil {
		days = map[string]float64{}
		l.spent[stream] = days
	}
	days[day] = spent + cost
	l.pruneLocked(now)
	if err := l.saveLocked(); err != nil {
		// Memory must not claim less than disk: keep the charge in memory
		// (conservative) and report the failure; no report is produced.
		return err
	}
	if l.mirror != nil {
		raw, err := l.encodeLocked()
		if err == nil {
			err = l.mirror(raw)
		}
		if err != nil {
			return fmt.Errorf("telemetry: ledger: mirror: %w", err)
		}
	}
	return nil
}

// pruneLocked drops days more than RetainDays before now.
func (l *Ledger) pruneLocked(now time.Time) {
	oldest := Day(now.AddDate(0, 0, -RetainDays))
	for s, days := range l.spent {
		for d := range days {
			if d < oldest {
				delete(days, d)
			}
		}
		if len(days) == 0 {
			delete(l.spent, s)
		}
	}
}

func (l *Ledger) saveLocked() error {
	raw, err := l.encodeLocked()
	if err != nil {
		return err
	}
	return writeFileAtomic(l.path, raw)
}

func (l *Ledger) encodeLocked() ([]byte, error) {
	// encoding/json sorts map keys, so the document is deterministic.
	raw, err := json.MarshalIndent(ledgerFile{Version: 1, Spent: l.spent}, "", " ")
	if err != nil {
		return nil, fmt.Errorf("telemetry: ledger: %w", err)
	}
	return raw, nil
}

// Streams lists the streams with spend on record, sorted.
func (l *Ledger) Streams() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.spent))
	for s := range l.spent {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// writeFileAtomic writes data to path through a synced temporary file in
// the same directory and a rename, then syncs the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".telemetry-ledger-*.tmp")
	if err != nil {
		return fmt.Errorf("telemetry: ledger: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("telemetry: ledger: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("telemetry: ledger: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("telemetry: ledger: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("telemetry: ledger: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
