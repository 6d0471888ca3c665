package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery/signing"
	"github.com/sextant-ml/sextant/messaging"
	"github.com/sextant-ml/sextant/privacy/telemetry"
	"github.com/sextant-ml/sextant/server"
	"github.com/sextant-ml/sextant/store"
)

// defaultData is where `sextant serve` keeps its state unless told
// otherwise; `sextant token` defaults to the same database.
const defaultData = "sextant-data"

func defaultDSN(data string) string { return "sqlite:" + filepath.Join(data, "sextant.db") }

// newServeCmd is `sextant serve`: the device and admin API.
func newServeCmd(e *env) *cobra.Command {
	var data, dsn, blobsDir, metaDir, keys, listen, logFormat, telemetryFile string
	var natsURL, natsPrefix string
	var flTaskFiles []string
	var flPopulation int
	cmd := &cobra.Command{
		Use:   "serve --keys KEYDIR [--db sqlite:PATH|postgres://…] [--blobs DIR] [--listen ADDR]",
		Short: "Run the delivery server: device API, admin API, signed metadata",
		Long: `Serves the device API (enrolment, check-in, the image repository's and the
director's signed metadata, bundle downloads) and the admin API (publish,
registry, current versions, metadata uploads, audit log); see docs/api.md.

KEYDIR is the server's copy of the key directory: its online keys
(online/snapshot.key, online/timestamp.key, online/director.key) and the
metadata 'sextant keys init' wrote. The offline keys are not needed and should
not be there. State defaults to --data: the SQLite database, blobs and the
signed metadata the server has served.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if dsn == "" {
				dsn = defaultDSN(data)
			}
			if blobsDir == "" {
				blobsDir = filepath.Join(data, "blobs")
			}
			if metaDir == "" {
				metaDir = filepath.Join(data, "metadata")
			}
			if err := os.MkdirAll(data, 0o755); err != nil {
				return err
			}
			var h slog.Handler = slog.NewJSONHandler(e.stderr, nil)
			if logFormat == "text" {
				h = slog.NewTextHandler(e.stderr, nil)
			}
			log := slog.New(h)
			db, err := store.Open(ctx, dsn, store.WithClock(clock.Real))
			if err != nil {
				return err
			}
			defer db.Close()
			blobs, err := openBlobs(ctx, blobsDir) // serve_blobs.go
			if err != nil {
				return err
			}
			sign, err := server.OpenSigning(ctx, server.SigningConfig{
				Metadata: server.MetadataDir{Dir: metaDir}, Keys: signing.KeyDir{Dir: keys},
				Clock: clock.Real, Logger: log,
			})
			if err != nil {
				return err
			}
			streams, err := loadTelemetry(telemetryFile)
			if err != nil {
				return err
			}
			flTasks, err := loadFLTasks(flTaskFiles, flPopulation, data) // serve_fl.go
			if err != nil {
				return err
			}
			rollouts, healthAgg, healthLedger, err := newHealthGates(ctx, data, db, log) // serve_health.go
			if err != nil {
				return err
			}
			bus, err := openBus(ctx, natsURL, natsPrefix, data, db.Dialect(), log) // serve_messaging.go
			if err != nil {
				return err
			}
			defer bus.Close()
			healthQueue, err := newHealthQueue(ctx, bus, healthAgg, log)
			if err != nil {
				return err
			}
			driver := &rolloutDriver{ctl: rollouts, interval: 10 * time.Second, log: log, health: healthQueue, ledger: healthLedger}
			srv, err := server.New(server.Config{Store: db, Blobs: blobs, Signing: sign, Clock: clock.Real,
				Logger: log, Registry: prometheus.NewRegistry(), Telemetry: server.TelemetryConfig{Registry: streams,
					Queue: server.NewTelemetryQueue(bus, messaging.ConsumeOptions{}), Aggregates: db},
				Rollouts: rollouts, Health: healthQueue, Drift: leaderDrift{agg: healthAgg, leading: &driver.leading},
				StampBatch: 100 * time.Millisecond})
			if err != nil {
				return err
			}
			defer srv.Close()
			if err := srv.DeclareTelemetry(ctx); err != nil {
				return err
			}
			// Only the leader replica evaluates rollouts, aggregates
			// telemetry and health reports, and runs federated tasks
			// (serve_rollouts.go).
			driver.srv = srv
			if len(flTasks) > 0 {
				driver.fl = (&flLeader{srv: srv, states: db, tasks: flTasks, retry: 10 * time.Second, log: log}).lead
				if err := useFLUploads(ctx, srv, bus, flTasks, db.Dialect()); err != nil { // serve_fl.go
					return err
				}
				shareFL(srv, db, flTasks)
			}
			go driver.run(ctx, dsn, db.Dialect(), replicaName())
			go db.ListenChanges(ctx, store.ChangeCurrent, func(string) { srv.InvalidateCurrents() })
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "sextant serve: listening on http://%s (%s)\n", ln.Addr(), db.Dialect())
			fmt.Fprintf(e.stdout, "sextant serve: console on http://%s/console/ (sign in with an admin token)\n", ln.Addr())
			return srv.Run(ctx, ln)
		},
	}
	cmd.Flags().StringVar(&data, "data", defaultData, "directory for the default database, blobs and metadata")
	cmd.Flags().StringVar(&dsn, "db", "", "database: sqlite:PATH or postgres://… (default sqlite:DATA/sextant.db)")
	cmd.Flags().StringVar(&blobsDir, "blobs", "", "blob directory (default DATA/blobs), or s3://BUCKET[/PREFIX]?endpoint=URL (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
	cmd.Flags().StringVar(&metaDir, "metadata", "", "signed-metadata directory (default DATA/metadata)")
	cmd.Flags().StringVar(&keys, "keys", "", "key directory with the online keys (required)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to listen on")
	cmd.Flags().StringVar(&logFormat, "log-format", "json", "request log format: json or text")
	cmd.Flags().StringVar(&telemetryFile, "telemetry", "", "JSON file declaring the telemetry streams POST /v1/telemetry accepts (default: none)")
	cmd.Flags().StringVar(&natsURL, "nats", "", "NATS JetStream server(s) for telemetry, health reports and federated uploads, nats://… (default: an embedded server under DATA/nats; replicas must share one)")
	cmd.Flags().StringVar(&natsPrefix, "nats-prefix", "sextant", "namespace of this deployment's streams on the NATS server (replicas of one deployment share it)")
	cmd.Flags().StringArrayVar(&flTaskFiles, "fl-task", nil, "federated task file (YAML, as 'sextant fl simulate' reads; repeatable): the leader runs its rounds on the registry's current version of the task's model")
	cmd.Flags().IntVar(&flPopulation, "fl-population", 1000, "eligible devices the federated tasks' DP sampling rate assumes")
	cmd.MarkFlagRequired("keys")
	return cmd
}

// loadTelemetry reads a telemetry stream declaration file; "" declares none.
func loadTelemetry(path string) (*telemetry.Registry, error) {
	if path == "" {
		return telemetry.NewRegistry()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	reg, err := telemetry.ParseRegistry(b)
	if err != nil {
		return nil, fmt.Errorf("serve: %s: %w", path, err)
	}
	return reg, nil
}
