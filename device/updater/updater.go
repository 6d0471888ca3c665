package updater

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/device/store"
	"github.com/sextant-ml/sextant/device/transport"
)

// Updater keeps a store's models current. Its methods must not be called
// concurrently (one updater per store).
type Updater struct {
	cfg       Config
	store     *store.Store
	transport transport.Getter
	clock     clock.Clock
	rand      func() float64
	log       *slog.Logger
	rt        Runtime

	// fetched counts bytes received from the network over the updater's
	// life.
	fetched atomic.Int64
	// point, if set (by tests), is called at named points of the pipeline
	// ("download", "verified", "fsync", "rename", "installed", "load",
	// "selftest", "commit", "committed").
	hook func(string)
}

// New returns an updater for st.
func New(st *store.Store, cfg Config) (*Updater, error) {
	if st == nil || cfg.Verifier == nil || cfg.BlobURL == nil || cfg.Transport == nil {
		return nil, errors.New("updater: a store, a Verifier, a Transport and BlobURL are required")
	}
	u := &Updater{cfg: cfg, store: st, transport: cfg.Transport, clock: cfg.Clock, rand: cfg.Rand, log: cfg.Logger, rt: cfg.Runtime}
	if u.clock == nil {
		u.clock = clock.Real
	}
	if u.rand == nil {
		u.rand = rand.Float64
	}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	if u.rt.Version == "" {
		u.rt = ThisRuntime()
	}
	if _, err := bundle.ParseVersion(u.rt.Version); err != nil {
		return nil, fmt.Errorf("updater: runtime version: %w", err)
	}
	return u, nil
}

// Fetched is the number of bytes received from the network so far.
func (u *Updater) Fetched() int64 { return u.fetched.Load() }

func (u *Updater) point(name string) {
	if u.hook != nil {
		u.hook(name)
	}
}

func (u *Updater) progress(p Progress) {
	if u.cfg.Progress != nil {
		u.cfg.Progress(p)
	}
}

func (u *Updater) buffer() []byte {
	n := u.cfg.CopyBufferBytes
	if n <= 0 {
		n = 256 << 10
	}
	return make([]byte, n)
}

func (u *Updater) checkpointBytes() int64 {
	if u.cfg.CheckpointBytes > 0 {
		return u.cfg.CheckpointBytes
	}
	return 512 << 10
}

// Manifest builds the check-in manifest from the store.
func (u *Updater) Manifest() (*Manifest, error) {
	m := &Manifest{Installed: map[string]string{}, RuntimeVersion: u.rt.Version, Ops: u.rt.Ops, Device: u.cfg.Device}
	models, err := u.store.Models()
	if err != nil {
		return nil, err
	}
	for _, name := range models {
		st, err := u.store.State(name)
		if err != nil {
			return nil, err
		}
		if st.Current != "" {
			m.Installed[name] = st.Current
		}
	}
	return m, nil
}

// Outcome is what happened to one target at a check-in.
type Outcome struct {
	Target Target
	// Installed is set when the target is now current.
	Installed bool
	// UpToDate is set when it already was.
	UpToDate bool
	// Delta is set when it was installed from a delta.
	Delta bool
	// Err says why it was not installed (nil when Installed or UpToDate):
	// ErrDeferred, *IncompatibleError, *VerificationError, *NetworkError,
	// *SelfTestError, ErrNoSpace, …
	Err error
}

// Report is the result of one check-in.
type Report struct {
	Outcomes []Outcome
}

// Err joins the outcomes' errors other than ErrDeferred and
// *IncompatibleError, which are expected states rather than failures.
func (r *Report) Err() error {
	var errs []error
	for _, o := range r.Outcomes {
		var ie *IncompatibleError
		if o.Err != nil && !errors.Is(o.Err, ErrDeferred) && !errors.As(o.Err, &ie) {
			errs = append(errs, o.Err)
		}
	}
	return errors.Join(errs...)
}

// CheckIn checks in once and brings every target up to date. It returns
// the report and the first-class failure: a check-in error (classified as
// *NetworkError, ErrExpired or *VerificationError) or the join of the
// targets' failures (Report.Err).
func (u *Updater) CheckIn(ctx context.Context) (*Report, error) {
	m, err := u.Manifest()
	if err != nil {
		return nil, err
	}
	if u.cfg.Health != nil {
		m.Health = u.cfg.Health.Take()
	}
	targets, err := u.cfg.Verifier.Targets(ctx, m)
	if err != nil {
		if u.cfg.Health != nil && m.Health != nil {
			u.cfg.Health.Return(m.Health) // not delivered: send it next time
		}
		return nil, classify(err)
	}
	rep := &Report{}
	for _, t := range targets {
		o := u.update(ctx, t)
		if o.Err != nil {
			u.log.Info("update not installed", "model", t.Name, "version", t.Version, "err", o.Err)
		}
		rep.Outcomes = append(rep.Outcomes, o)
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	return rep, rep.Err()
}

// Compatible reports whether this runtime can run t, with an
// *IncompatibleError when it cannot.
func (u *Updater) Compatible(t Target) error {
	e := &IncompatibleError{Model: t.Name, Version: t.Version}
	if t.MinRuntimeVersion != "" {
		need, err := bundle.ParseVersion(t.MinRuntimeVersion)
		have, _ := bundle.ParseVersion(u.rt.Version)
		if err != nil || have.Compare(need) < 0 {
			e.MinRuntime, e.Runtime = t.MinRuntimeVersion, u.rt.Version
		}
	}
	for _, op := range t.Ops {
		if !slices.Contains(u.rt.Ops, op) {
			e.MissingOps = append(e.MissingOps, op)
		}
	}
	if e.MinRuntime != "" || len(e.MissingOps) > 0 {
		return e
	}
	return nil
}

// update brings one target up to date.
func (u *Updater) update(ctx context.Context, t Target) Outcome {
	o := Outcome{Target: t}
	if err := store.CheckName("model", t.Name); err != nil {
		o.Err = &VerificationError{Model: t.Name, Version: t.Version, Reason: "bad target name", Err: err}
		return o
	}
	if err := store.CheckName("version", t.Version); err != nil {
		o.Err = &VerificationError{Model: t.Name, Version: t.Version, Reason: "bad target version", Err: err}
		return o
	}
	st, err := u.store.State(t.Name)
	if err != nil {
		o.Err = err
		return o
	}
	if cur, ok := st.Find(st.Current); ok && cur.Version == t.Version && cur.SHA256 == t.SHA256 {
		o.UpToDate = true
		return o
	}
	if slices.Contains(st.Rejected, t.SHA256) {
		o.Err = &SelfTestError{Model: t.Name, Version: t.Version, Err: errors.New("this bundle failed its self-test before")}
		return o
	}
	if err := u.Compatible(t); err != nil {
		o.Err = err
		return o
	}
	v := store.Version{Version: t.Version, Size: t.Length, SHA256: t.SHA256}
	if _, ok := st.Find(t.Version); !ok {
		// Not installed: adopt an orphan a crash left in place, or fetch.
		if hashFile(u.store.FS(), u.store.Path(t.Name, t.Version)) == t.SHA256 {
			if err := u.store.Install(t.Name, v, ""); err != nil {
				o.Err = err
				return o
			}
		} else {
			delta, err := u.obtain(ctx, t, st)
			o.Delta = delta
			if err != nil {
				o.Err = err
				return o
			}
		}
	}
	u.point("installed")
	if err := u.selfTest(ctx, t); err != nil {
		u.progress(Progress{Model: t.Name, Version: t.Version, Phase: Rejected})
		if rerr := u.store.Reject(t.Name, v); rerr != nil {
			u.log.Warn("reject", "model", t.Name, "version", t.Version, "err", rerr)
		}
		o.Err = &SelfTestError{Model: t.Name, Version: t.Version, Err: err}
		return o
	}
	u.point("commit")
	if err := u.store.Commit(t.Name, t.Version); err != nil {
		o.Err = err
		return o
	}
	u.point("committed")
	u.progress(Progress{Model: t.Name, Version: t.Version, Phase: Committed})
	o.Installed = true
	return o
}

// obtain downloads t (as a delta when one applies, else whole) and installs
// it into the store. It reports whether a delta was used.
func (u *Updater) obtain(ctx context.Context, t Target, st store.State) (bool, error) {
	part := filepath.Join(u.store.DownloadDir(), t.Name+"@"+t.Version+".part")
	d, base, useDelta := u.pickDelta(t, st)
	transfer := t.Length
	if useDelta {
		transfer = d.Length
	}
	if transfer >= u.largeBytes() && u.cfg.Conditions != nil {
		if c := u.cfg.Conditions(); !c.Unmetered || !c.Charging {
			return false, ErrDeferred
		}
	}
	need := t.Length - sizeOf(u.store.FS(), part)
	if useDelta {
		need += d.Length
	}
	if err := u.store.Reserve(need, part, part+".json", u.deltaPart(t), u.deltaPart(t)+".json"); err != nil {
		return false, err
	}
	if useDelta {
		err := u.applyDelta(ctx, t, d, base, part)
		if err == nil {
			return true, u.install(t, part)
		}
		if ctx.Err() != nil {
			return true, err
		}
		var ne *NetworkError
		if errors.As(err, &ne) {
			return true, err // resume the delta next time
		}
		u.log.Warn("delta failed; fetching the whole bundle", "model", t.Name, "version", t.Version, "err", err)
	}
	b := blob{url: u.cfg.BlobURL(t.SHA256), part: part, length: t.Length, sha256: t.SHA256, model: t.Name, version: t.Version}
	if err := u.fetch(ctx, b); err != nil {
		return false, err
	}
	return false, u.install(t, part)
}

// install renames a verified, synced .part into the store.
func (u *Updater) install(t Target, part string) error {
	u.progress(Progress{Model: t.Name, Version: t.Version, Phase: Installing})
	u.point("rename")
	if err := u.store.Install(t.Name, store.Version{Version: t.Version, Size: t.Length, SHA256: t.SHA256}, part); err != nil {
		return err
	}
	u.removeDownload(part)
	return nil
}

func (u *Updater) largeBytes() int64 {
	if u.cfg.LargeBytes > 0 {
		return u.cfg.LargeBytes
	}
	return 16 << 20
}

// sizeOf is a file's size, 0 when absent.
func sizeOf(fsys store.FS, path string) int64 {
	if st, err := fsys.Stat(path); err == nil {
		return st.Size()
	}
	return 0
}

// hashFile returns the hex SHA-256 of a file, "" when it cannot be read.
func hashFile(fsys store.FS, path string) string {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, f, make([]byte, 256<<10)); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}
