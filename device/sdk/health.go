package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/sextant-ml/sextant/device/health"
	"github.com/sextant-ml/sextant/device/router"
)

// Exposure is the event the SDK emits the first time this device serves a
// request with a model version: the moment the device is exposed to it.
// Experiment analysis counts exposures, not assignments (a device assigned
// a version it never used must not dilute the comparison). It carries no
// identifier: the host attributes it to its own experiment unit.
type Exposure struct {
	Model   string
	Version string
	// Source is where that first answer came from.
	Source Source
	// At is the Clock's time of the answer.
	At time.Time
}

// sessionFile is where the SDK keeps what it must remember across
// processes: whether the last session ended cleanly, the versions it used,
// and the versions this device has been exposed to.
const sessionFile = "session.json"

type sessionState struct {
	// Clean is set by Close; a session file without it is a crash.
	Clean bool `json:"clean"`
	// Used maps each model the session loaded to its version.
	Used map[string]string `json:"used,omitempty"`
	// Exposed lists "model@version" once served.
	Exposed []string `json:"exposed,omitempty"`
}

// sessions tracks the session marker and exposures; mu guards state and
// serializes writes of the file.
type sessions struct {
	path  string
	mu    sync.Mutex
	state sessionState
	seen  map[string]bool
}

// openSessions reads the previous session, reports it to rec (a session
// per model it used, crashed unless it ended cleanly) and starts a new,
// unclean one.
func openSessions(dir string, rec *health.Recorder) (*sessions, error) {
	s := &sessions{path: filepath.Join(dir, sessionFile), seen: map[string]bool{}}
	raw, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("sdk: session: %w", err)
	default:
		var prev sessionState
		if json.Unmarshal(raw, &prev) == nil {
			for m, v := range prev.Used {
				rec.Session(m, v, !prev.Clean)
			}
			s.state.Exposed = prev.Exposed
			for _, e := range prev.Exposed {
				s.seen[e] = true
			}
		}
	}
	s.state.Used = map[string]string{}
	return s, s.saveLocked()
}

func (s *sessions) saveLocked() error {
	if s.path == "" {
		return nil // not persisted (the directory was not writable)
	}
	raw, err := json.Marshal(s.state)
	if err != nil {
		return fmt.Errorf("sdk: session: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return fmt.Errorf("sdk: session: %w", err)
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		return fmt.Errorf("sdk: session: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("sdk: session: %w", err)
	}
	return nil
}

// use records that the session loaded model@version.
func (s *sessions) use(model, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.Used[model] == version {
		return
	}
	s.state.Used[model] = version
	_ = s.saveLocked() // best effort: a lost marker loses one session's count
}

// first reports whether model@version is served for the first time on this
// device, remembering it (persisted, so a restart does not expose again).
func (s *sessions) first(model, version string) bool {
	key := model + "@" + version
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[key] {
		return false
	}
	s.seen[key] = true
	s.state.Exposed = append(s.state.Exposed, key)
	sort.Strings(s.state.Exposed)
	_ = s.saveLocked()
	return true
}

// close marks the session clean.
func (s *sessions) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.Clean = true
	return s.saveLocked()
}

// ReportOutcome tells the SDK that the truth of an earlier prediction of
// model by version became known (e.g. the user's next place) and whether
// its top-1 answer was right: the on-device quality the rollout gates
// compare (metric acc1). Only the count of hits leaves the device, summed
// with the next check-in.
func (s *SDK) ReportOutcome(model, version string, top1 bool) {
	s.health.Outcome(model, version, top1)
}

// Health returns the SDK's health recorder (what the next check-in sends).
func (s *SDK) Health() *health.Recorder { return s.health }

// memoryOf is a loaded model's memory: its weights and its engine arena.
func memoryOf(m router.Model) int64 {
	b := m.WeightBytes
	if el, ok := m.Local.(*router.EngineLocal); ok {
		b += el.ArenaBytes()
	}
	return b
}

// exposed returns the exposure to emit when model@version answers for the
// first time on this device, else nil.
func (s *SDK) exposed(model, version string, src Source) *Exposure {
	if s.cfg.Exposure == nil || version == "" || !s.sess.first(model, version) {
		return nil
	}
	return &Exposure{Model: model, Version: version, Source: src, At: s.cfg.Clock.Now()}
}
