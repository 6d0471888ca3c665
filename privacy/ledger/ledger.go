// Package ledger records the privacy spent by each model lineage and each
// federated task: events are composed incrementally with the RDP accountant
// as they arrive and persisted to a JSON file (written atomically: a temporary
// file in the same directory, synced, then renamed), so the (ε, δ) reported
// after a restart is the one reported before it.
//
// An entry's event is typed (Event): the subsampled or plain Gaussian,
// Laplace, zCDP, tree aggregation (DP-FTRL), the distributed discrete
// Gaussian and its Poisson-subsampled form, the continual counters (binary
// tree, hybrid counter), each stored with its parameters
// under its own key, so a restart rebuilds the same accountant. Entries that
// set only Q and NoiseMultiplier (the version-1 format) are subsampled
// Gaussians. LineagePLD gives the tighter PLD ε of a lineage made only of
// (subsampled) Gaussian events.
package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/sextant-ml/sextant/privacy/accountant"
)

// Entry is one recorded mechanism run: Count runs of Event, or, when Event
// is nil, Count steps of a subsampled Gaussian with Q and NoiseMultiplier
// (Q = 1 for an unsampled Gaussian round).
type Entry struct {
	Lineage         string  `json:"lineage"`
	Task            string  `json:"task"`
	Q               float64 `json:"q,omitempty"`
	NoiseMultiplier float64 `json:"noise_multiplier,omitempty"`
	Event           *Event  `json:"event,omitempty"`
	Count           int     `json:"count"`
	Note            string  `json:"note,omitempty"`
}

// fileVersion is written; versions 1 (subsampled Gaussians only) and 2 are
// read.
const fileVersion = 2

type fileFormat struct {
	Version int     `json:"version"`
	Entries []Entry `json:"entries"`
}

// Ledger is safe for concurrent use; mu guards entries and the per-key
// accountants, and serializes writes of the file.
type Ledger struct {
	path string
	mu   sync.Mutex
	// entries in arrival order; acc[kind key] composes them.
	entries []Entry
	acc     map[string]*accountant.RDP
}

// Open loads the ledger at path, or starts an empty one if the file does not
// exist.
func Open(path string) (*Ledger, error) {
	l := &Ledger{path: path, acc: map[string]*accountant.RDP{}}
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	var f fileFormat
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("ledger: %s: %w", path, err)
	}
	if f.Version != 1 && f.Version != fileVersion {
		return nil, fmt.Errorf("ledger: %s: unsupported version %d", path, f.Version)
	}
	for _, e := range f.Entries {
		if err := l.compose(e); err != nil {
			return nil, fmt.Errorf("ledger: %s: %w", path, err)
		}
	}
	return l, nil
}

func lineageKey(lineage string) string { return "lineage\x00" + lineage }
func taskKey(task string) string       { return "task\x00" + task }

func (l *Ledger) compose(e Entry) error {
	if e.Lineage == "" && e.Task == "" {
		return errors.New("ledger: entry names neither a lineage nor a task")
	}
	ev, err := e.event()
	if err != nil {
		return err
	}
	var keys []string
	if e.Lineage != "" {
		keys = append(keys, lineageKey(e.Lineage))
	}
	if e.Task != "" {
		keys = append(keys, taskKey(e.Task))
	}
	// Validate once before touching any accountant.
	probe, _ := accountant.NewRDP(nil)
	if err := probe.Compose(ev, e.Count); err != nil {
		return err
	}
	for _, k := range keys {
		a := l.acc[k]
		if a == nil {
			a, _ = accountant.NewRDP(nil)
			l.acc[k] = a
		}
		if err := a.Compose(ev, e.Count); err != nil {
			return err
		}
	}
	l.entries = append(l.entries, e)
	return nil
}

// Record composes e into its lineage's and task's totals and persists the
// ledger before returning. On error nothing is recorded.
func (l *Ledger) Record(e Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	before := len(l.entries)
	if err := l.compose(e); err != nil {
		return err
	}
	if err := l.saveLocked(); err != nil {
		// Rebuild the in-memory state from the entries on disk, so memory
		// and disk agree.
		kept := l.entries[:before]
		l.entries, l.acc = nil, map[string]*accountant.RDP{}
		for _, old := range kept {
			_ = l.compose(old)
		}
		return err
	}
	return nil
}

func (l *Ledger) saveLocked() error {
	raw, err := json.MarshalIndent(fileFormat{Version: fileVersion, Entries: l.entries}, "", " ")
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	dir := filepath.Dir(l.path)
	tmp, err := os.CreateTemp(dir, ".ledger-*.tmp")
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return fmt.Errorf("ledger: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("ledger: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	if err := os.Rename(tmp.Name(), l.path); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Spent is a composed guarantee.
type Spent struct {
	Epsilon, Delta, Order float64
}

func (l *Ledger) spent(key string, delta float64) (Spent, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.acc[key]
	if a == nil {
		return Spent{Delta: delta}, nil
	}
	eps, order, err := a.Epsilon(delta, accountant.Improved)
	return Spent{Epsilon: eps, Delta: delta, Order: order}, err
}

// Lineage returns the (ε, δ) spent by a model lineage at the given δ.
func (l *Ledger) Lineage(name string, delta float64) (Spent, error) {
	return l.spent(lineageKey(name), delta)
}

// Task returns the (ε, δ) spent by a federated task at the given δ.
func (l *Ledger) Task(name string, delta float64) (Spent, error) {
	return l.spent(taskKey(name), delta)
}

// Entries returns a copy of the recorded entries in arrival order.
func (l *Ledger) Entries() []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Entry(nil), l.entries...)
}
