package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/fl"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/privacy/ledger"
)

// FLStates keeps each federated task's state where every replica reads
// it: one document per task under a version that must increase by
// commit, a commit whose context carries a stale lease fence — or an
// epoch behind the last commit's — being refused (lease.ErrStale).
// store.DB implements it with its fl_tasks table.
type FLStates interface {
	LoadFLTask(ctx context.Context, name string) (uint64, []byte, error)
	SaveFLTask(ctx context.Context, name string, version uint64, doc []byte) error
}

// FLTask is a federated task the leader replica runs (LeadFL).
type FLTask struct {
	// Task is the task as declared. Once the task has committed state,
	// the persisted task is resumed (Task must keep its name). Task.Model
	// names the registry model trained: the task starts from its current
	// version, and its candidates are pre-releases of the next minor
	// version (current 1.3.0: candidates 1.4.0-fl.1, 1.4.0-fl.2, …, with
	// 1.3.0 the first one's parent).
	Task fl.Task
	// Dir is this replica's working copy of the task's state (the
	// coordinator's state file and privacy ledger); LeadFL overwrites it
	// with the shared state each time it starts.
	Dir string
	// StepTimeout is fl.ServiceConfig.StepTimeout (default a fifth of the
	// round deadline); Pause is the wait between rounds (default none).
	StepTimeout, Pause time.Duration
}

// flDoc is a task's shared state: the coordinator's state file and
// privacy ledger as the fl package writes them, and the model version the
// task trains with its candidates' naming.
type flDoc struct {
	Model  string          `json:"model_version"`
	Base   string          `json:"base"`
	Parent string          `json:"parent,omitempty"`
	State  json.RawMessage `json:"state"`
	Ledger json.RawMessage `json:"ledger,omitempty"`
}

// maxFLModel bounds the bundle a task loads from the blob store.
const maxFLModel = 1 << 30

// LeadFL runs t's rounds on this replica, answering the task's devices
// (ServeFL), until ctx ends or the task's privacy budget is spent
// (then it returns nil). Call it on the leader only, with the context
// Campaign hands the leader: the task's state is read from states when it
// starts, committed back after every round attempt before the round's
// candidate is registered, and both writes carry the lease fence, so a
// deposed leader's late commit or candidate is refused and it stops. A
// replica that takes over resumes after the last committed round; a round
// in flight on the old leader is lost: it is failed on the record and its
// devices are told the round is over (410) once the new leader publishes
// its next attempt, which they join. With ShareFL the rounds are
// published on the board, so every replica answers the task's devices;
// otherwise only this one does (ServeFL). It returns lease.ErrStale
// (wrapped) when it was deposed.
func (s *Server) LeadFL(ctx context.Context, states FLStates, t FLTask) error {
	name := t.Task.Name
	if name == "" || t.Dir == "" {
		return errors.New("server: lead fl: a task needs a name and a directory")
	}
	if err := os.MkdirAll(t.Dir, 0o755); err != nil {
		return fmt.Errorf("server: lead fl %s: %w", name, err)
	}
	statePath, ledgerPath := filepath.Join(t.Dir, "state.json"), filepath.Join(t.Dir, "ledger.json")
	version, raw, err := states.LoadFLTask(ctx, name)
	if err != nil {
		return fmt.Errorf("server: lead fl %s: load state: %w", name, err)
	}
	var doc flDoc
	if raw != nil {
		if err := json.Unmarshal(raw, &doc); err != nil {
			return fmt.Errorf("server: lead fl %s: state: %w", name, err)
		}
	} else if doc, err = s.startFLDoc(ctx, t.Task.Model); err != nil {
		return fmt.Errorf("server: lead fl %s: %w", name, err)
	}
	// The shared state replaces whatever this replica held: a spell as
	// leader that was not committed must not be resumed.
	if err := writeOrRemove(statePath, doc.State); err != nil {
		return err
	}
	if err := writeOrRemove(ledgerPath, doc.Ledger); err != nil {
		return err
	}
	model, err := s.flModel(ctx, t.Task.Model, doc.Model)
	if err != nil {
		return fmt.Errorf("server: lead fl %s: %w", name, err)
	}
	led, err := ledger.Open(ledgerPath)
	if err != nil {
		return fmt.Errorf("server: lead fl %s: %w", name, err)
	}
	g, err := model()
	if err != nil {
		return fmt.Errorf("server: lead fl %s: %w", name, err)
	}
	coord, err := fl.Open(fl.Config{Task: t.Task, Model: g, StatePath: statePath, Ledger: led})
	if err != nil {
		return fmt.Errorf("server: lead fl %s: %w", name, err)
	}
	var commitMu sync.Mutex
	commit := func(ctx context.Context) error {
		commitMu.Lock()
		defer commitMu.Unlock()
		st, err := os.ReadFile(statePath)
		if err != nil {
			return fmt.Errorf("server: fl %s: %w", name, err)
		}
		lg, err := readIfExists(ledgerPath)
		if err != nil {
			return fmt.Errorf("server: fl %s: %w", name, err)
		}
		doc.State, doc.Ledger = st, lg
		b, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("server: fl %s: %w", name, err)
		}
		if err := states.SaveFLTask(ctx, name, version+1, b); err != nil {
			return fmt.Errorf("server: fl %s: commit state: %w", name, err)
		}
		version++
		return nil
	}
	// Commit what Open made of the state (a fresh task's start, or the
	// failure of a round that was in flight): this also claims the model
	// version the task trains.
	if err := commit(ctx); err != nil {
		return err
	}
	hook, err := s.FLCandidateHook(coord, FLCandidates{Model: model, Base: doc.Base, Parent: doc.Parent})
	if err != nil {
		return err
	}
	var commitErr, beginErr error // OnCommit's and OnBegin's, read after RunRound returns
	var board fl.Board
	if b := s.flTasks().flBoard(); b != nil && s.flTasks().sharedTask(name) != nil {
		// Every replica answers the devices from the round published there.
		board = taskBoard{b: b, task: name}
	}
	svc, err := fl.NewService(fl.ServiceConfig{Coordinator: coord, StepTimeout: t.StepTimeout, Log: s.log, Board: board,
		// Commit each attempt before devices can see it, so a replica that
		// takes over while it is in flight fails it on the record and never
		// reuses its attempt id (the secure-aggregation round id).
		OnBegin: func(ctx context.Context) error {
			beginErr = commit(ctx)
			return beginErr
		},
		OnCommit: func(ctx context.Context, rec *fl.RoundRecord, global []float32) error {
			if commitErr = commit(ctx); commitErr != nil {
				return commitErr // not committed: no candidate either
			}
			return hook(ctx, rec, global)
		}})
	if err != nil {
		return err
	}
	s.ServeFL(svc)
	defer s.StopFL(svc)
	if q := s.flTasks().uploadQueue(); q != nil && q.tasks[name] {
		// Uploads any replica took reach the round through JetStream.
		cctx, stop := context.WithCancel(ctx)
		var cwg sync.WaitGroup
		defer func() { stop(); cwg.Wait() }()
		cwg.Go(func() {
			for cctx.Err() == nil {
				if err := s.consumeUploads(cctx, q, svc); err != nil && cctx.Err() == nil {
					s.log.ErrorContext(cctx, "fl: upload consumer stopped; restarting", "task", name, "err", err)
					time.Sleep(time.Second)
				}
			}
		})
	}
	s.log.InfoContext(ctx, "fl: leading task", "task", name, "rounds", coord.Rounds(), "model", t.Task.Model+"@"+doc.Model)
	for ctx.Err() == nil {
		commitErr, beginErr = nil, nil
		rec, _, err := svc.RunRound(ctx)
		if beginErr != nil {
			return beginErr // deposed, or the store is down: the attempt never opened
		}
		switch {
		case errors.Is(err, fl.ErrBudget):
			s.log.InfoContext(ctx, "fl: task's privacy budget is spent", "task", name, "rounds", coord.Rounds())
			return nil
		case commitErr != nil:
			return commitErr
		case rec == nil:
			// A failed attempt: commit its record (and attempt count).
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.log.WarnContext(ctx, "fl: round failed", "task", name, "err", err)
			if err := commit(ctx); err != nil {
				return err
			}
		default:
			s.log.InfoContext(ctx, "fl: round committed", "task", name, "round", rec.Round, "reports", rec.Reports, "epsilon", rec.Epsilon)
		}
		if t.Pause > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(t.Pause):
			}
		}
	}
	return ctx.Err()
}

// startFLDoc picks the model version a new task trains: the model's
// current version, its candidates pre-releases of the next minor.
func (s *Server) startFLDoc(ctx context.Context, model string) (flDoc, error) {
	cur, err := s.store.GetCurrent(ctx, model)
	if err != nil {
		return flDoc{}, fmt.Errorf("the task's model %s has no current version to start from: %w", model, err)
	}
	v, err := bundle.ParseVersion(cur.Version)
	if err != nil {
		return flDoc{}, err
	}
	base := bundle.Version{Major: v.Major, Minor: v.Minor + 1}
	return flDoc{Model: cur.Version, Base: base.String(), Parent: cur.Version}, nil
}

// flModel returns a function that decodes a fresh copy of model@version's
// graph (the coordinator and each candidate overwrite its weights).
func (s *Server) flModel(ctx context.Context, model, version string) (func() (*graph.Graph, error), error) {
	v, err := s.store.GetVersion(ctx, model, version)
	if err != nil {
		return nil, err
	}
	if v.Length > maxFLModel {
		return nil, fmt.Errorf("%s@%s is %d bytes, more than the %d a task loads", model, version, v.Length, maxFLModel)
	}
	rd, _, err := s.blobs.Open(ctx, v.SHA256)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	data, err := io.ReadAll(io.LimitReader(rd, maxFLModel+1))
	if err != nil {
		return nil, fmt.Errorf("read %s@%s: %w", model, version, err)
	}
	if int64(len(data)) != v.Length {
		return nil, fmt.Errorf("%s@%s: blob holds %d bytes, registry says %d", model, version, len(data), v.Length)
	}
	return func() (*graph.Graph, error) {
		b, err := bundle.OpenBytes(append([]byte(nil), data...))
		if err != nil {
			return nil, fmt.Errorf("%s@%s: %w", model, version, err)
		}
		return b.Graph, nil
	}, nil
}

// writeOrRemove makes path hold b, or not exist when b is empty.
func writeOrRemove(path string, b []byte) error {
	if len(b) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("server: %w", err)
		}
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

func readIfExists(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}
