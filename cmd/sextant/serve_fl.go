package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sextant-ml/sextant/fl/flsim"
	"github.com/sextant-ml/sextant/messaging"
	"github.com/sextant-ml/sextant/server"
)

// loadFLTasks reads the federated tasks `sextant serve --fl-task` runs:
// task files in the schema `sextant fl simulate` reads (docs/fl.md; the
// model and data sections must be valid but are otherwise the
// simulator's: the task trains the registry's model named after it).
// population
// is the number of eligible devices the DP accounting's sampling rate
// assumes. Each task keeps this replica's working copy of its state under
// DATA/fl/NAME.
func loadFLTasks(paths []string, population int, data string) ([]server.FLTask, error) {
	if len(paths) > 0 && population <= 0 {
		return nil, fmt.Errorf("serve: --fl-population must be positive, not %d", population)
	}
	var tasks []server.FLTask
	names := map[string]string{}
	for _, path := range paths {
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("serve: %w", err)
		}
		var spec flsim.Spec
		if err := yaml.NewDecoder(bytes.NewReader(src)).Decode(&spec); err != nil {
			return nil, fmt.Errorf("serve: %s: %w", path, err)
		}
		task, err := spec.Task(population)
		if err != nil {
			return nil, fmt.Errorf("serve: %s: %w", path, err)
		}
		if other, dup := names[task.Name]; dup {
			return nil, fmt.Errorf("serve: %s and %s both declare task %q", other, path, task.Name)
		}
		names[task.Name] = path
		tasks = append(tasks, server.FLTask{Task: task, Dir: filepath.Join(data, "fl", task.Name)})
	}
	return tasks, nil
}

// useFLUploads routes the tasks' secure-aggregation uploads through
// JetStream (server.FLUploads), so any replica takes them and the
// leader's coordinator consumes them. Replicas on PostgreSQL with each an
// embedded NATS server share no stream: there a follower would take
// uploads the leader never sees, so uploads stay with the replica that
// runs the task (a follower answers them 404; run replicas with a shared
// --nats).
func useFLUploads(ctx context.Context, srv *server.Server, bus *messaging.Bus, tasks []server.FLTask, dialect string) error {
	if bus.Embedded() && dialect == "postgres" {
		return nil
	}
	var names []string
	for _, t := range tasks {
		names = append(names, t.Task.Name)
	}
	return srv.UseFLUploads(ctx, server.FLUploads{Bus: bus, Tasks: names})
}

// shareFL makes every replica answer the tasks' devices from the rounds
// the leader publishes in the database (server.ShareFL), so a device
// behind a load balancer may reach any replica for any call; uploads
// reach the leader through JetStream (useFLUploads).
func shareFL(srv *server.Server, board server.FLBoard, tasks []server.FLTask) {
	var names []string
	for _, t := range tasks {
		names = append(names, t.Task.Name)
	}
	srv.ShareFL(board, names)
}

// flLeader runs the federated tasks while this replica leads: each task's
// rounds (server.LeadFL) until leadership ends or its privacy budget is
// spent, restarted after a failure.
type flLeader struct {
	srv    *server.Server
	states server.FLStates
	tasks  []server.FLTask
	retry  time.Duration
	log    *slog.Logger
}

func (l *flLeader) lead(ctx context.Context) {
	var wg sync.WaitGroup
	for _, t := range l.tasks {
		wg.Go(func() {
			for ctx.Err() == nil {
				err := l.srv.LeadFL(ctx, l.states, t)
				if err == nil {
					return // the task's budget is spent
				}
				if ctx.Err() == nil {
					l.log.Error("fl: task stopped; restarting", "task", t.Task.Name, "err", err)
					sleepCtx(ctx, l.retry)
				}
			}
		})
	}
	wg.Wait()
}
