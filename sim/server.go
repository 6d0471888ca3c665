package sim

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/signing"
	"github.com/sextant-ml/sextant/server"
	"github.com/sextant-ml/sextant/store"
)

// idleConns is the least idle-connection pool of the fleet's shared
// transport: enough for the devices working at once and a federated
// round's few hundred participants polling, and bounded whatever the
// fleet's size.
const idleConns = 128

// newHTTPClient is the one client a fleet's devices share, for
// concurrency devices working at once.
func newHTTPClient(concurrency int) *http.Client {
	idle := max(idleConns, 2*concurrency)
	return &http.Client{Transport: &http.Transport{MaxIdleConns: idle, MaxIdleConnsPerHost: idle, IdleConnTimeout: time.Minute},
		Timeout: time.Minute}
}

// backend is the in-process server the fleet talks to, with the operator's
// keys and admin tokens.
type backend struct {
	url     string
	srv     *server.Server
	db      *store.DB
	cancel  context.CancelFunc
	done    chan error
	http    *http.Client
	targets *signing.Key
	// imgRoot and dirRoot are the roots an app ships with.
	imgRoot, dirRoot  []byte
	pub, roll, enroll string
	clk               clock.Clock
}

// startBackend generates keys as `sextant keys init` does (in dir/keys; a
// low scrypt work factor, these keys die with the run), opens SQLite and a
// blob store under dir and serves the API on a loopback port. Rate limits
// are off: the whole fleet shares one address and compresses hours of
// check-ins into seconds.
//
// configure, when set, may complete the server's configuration (rollouts,
// telemetry) with the opened store before the server is built.
func startBackend(ctx context.Context, dir string, clk clock.Clock, hc *http.Client, log *slog.Logger, configure func(*server.Config, *store.DB) error) (*backend, error) {
	kd := signing.KeyDir{Dir: filepath.Join(dir, "keys"), Passphrase: "sextant-sim", WorkFactor: 10}
	keys := map[string]*signing.Key{}
	for _, role := range append(append([]string{}, signing.OfflineRoles...), signing.OnlineRoles...) {
		k, err := signing.GenerateKey(role, rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("sim: key %s: %w", role, err)
		}
		keys[role] = k
		if err := kd.Save(k, false); err != nil {
			return nil, fmt.Errorf("sim: save key %s: %w", role, err)
		}
	}
	now := clk.Now()
	_, files, err := signing.Init(signing.Config{}, now, signing.RoleKeys{
		Root: []*signing.Key{keys["root"]}, Targets: []*signing.Key{keys["targets"]},
		Snapshot: []*signing.Key{keys["snapshot"].PublicOnly()}, Timestamp: []*signing.Key{keys["timestamp"].PublicOnly()},
	})
	if err != nil {
		return nil, fmt.Errorf("sim: init image repository: %w", err)
	}
	droot, err := signing.InitDirectorRoot(signing.DirectorConfig{}, now, []*signing.Key{keys["root"]}, []*signing.Key{keys["director"]})
	if err != nil {
		return nil, fmt.Errorf("sim: init director root: %w", err)
	}
	if err := signing.WriteFiles(kd.MetadataDir(), files); err != nil {
		return nil, err
	}
	if err := signing.WriteFiles(kd.DirectorMetadataDir(), []signing.File{droot}); err != nil {
		return nil, err
	}
	b := &backend{http: hc, targets: keys["targets"], clk: clk, done: make(chan error, 1)}
	if b.imgRoot, err = os.ReadFile(filepath.Join(kd.MetadataDir(), "1.root.json")); err != nil {
		return nil, err
	}
	if b.dirRoot, err = os.ReadFile(filepath.Join(kd.DirectorMetadataDir(), "1.root.json")); err != nil {
		return nil, err
	}

	if b.db, err = store.Open(ctx, "sqlite:"+filepath.Join(dir, "sextant.db")); err != nil {
		return nil, fmt.Errorf("sim: open store: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			b.db.Close()
		}
	}()
	blobs, err := store.NewBlobs(filepath.Join(dir, "blobs"))
	if err != nil {
		return nil, fmt.Errorf("sim: blob store: %w", err)
	}
	sign, err := server.OpenSigning(ctx, server.SigningConfig{Metadata: server.MetadataDir{Dir: filepath.Join(dir, "metadata")},
		Keys: signing.KeyDir{Dir: kd.Dir}, Clock: clk, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("sim: open signing: %w", err)
	}
	// A zero PerSecond with a nonzero Burst disables a limit (an all-zero
	// Rate takes the default).
	off := server.Rate{Burst: 1}
	scfg := server.Config{Store: b.db, Blobs: blobs, Signing: sign, Clock: clk, Logger: log, DeviceRate: off, EnrollRate: off}
	if configure != nil {
		if err := configure(&scfg, b.db); err != nil {
			return nil, fmt.Errorf("sim: configure server: %w", err)
		}
	}
	if b.srv, err = server.New(scfg); err != nil {
		return nil, fmt.Errorf("sim: server: %w", err)
	}
	for scope, secret := range map[delivery.Scope]*string{delivery.ScopePublish: &b.pub, delivery.ScopeRollout: &b.roll, delivery.ScopeEnroll: &b.enroll} {
		if _, *secret, err = server.CreateToken(ctx, b.db, scope, "sim-"+string(scope)); err != nil {
			b.srv.Close()
			return nil, fmt.Errorf("sim: token %s: %w", scope, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.srv.Close()
		return nil, fmt.Errorf("sim: listen: %w", err)
	}
	b.url = "http://" + ln.Addr().String()
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.cancel = cancel
	go func() { b.done <- b.srv.Run(rctx, ln) }()
	ok = true
	return b, nil
}

// client is an API client with the given bearer secret.
func (b *backend) client(secret string) *server.Client {
	return &server.Client{BaseURL: b.url, Token: secret, HTTP: b.http}
}

// publish uploads a bundle of model at version, signs it into the image
// repository with the offline targets key and, if current, makes it the
// model's current version.
func (b *backend) publish(ctx context.Context, model, version string, data []byte, current bool) error {
	p, err := b.client(b.pub).Publish(ctx, model, bytes.NewReader(data), int64(len(data)), sha256.Sum256(data), "sim")
	if err != nil {
		return fmt.Errorf("sim: publish %s %s: %w", model, version, err)
	}
	if _, err := b.client(b.pub).SignAndUpload(ctx, b.imgRoot, p.Target, []*signing.Key{b.targets}, b.clk.Now()); err != nil {
		return fmt.Errorf("sim: sign %s %s: %w", model, version, err)
	}
	if !current {
		return nil
	}
	if _, err := b.client(b.roll).SetCurrent(ctx, model, version); err != nil {
		return fmt.Errorf("sim: set current %s %s: %w", model, version, err)
	}
	return nil
}

// stop shuts the server down and closes the store.
func (b *backend) stop() error {
	b.cancel()
	err := <-b.done
	return errors.Join(err, b.srv.Close(), b.db.Close())
}
