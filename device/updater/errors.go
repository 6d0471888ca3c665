package updater

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sextant-ml/sextant/device/store"
)

// ErrNoSpace means the storage budget cannot fit the update even after
// evicting old versions; the host may free space or raise the budget.
var ErrNoSpace = store.ErrNoSpace

// ErrExpired means signed metadata has expired (or the device clock is
// wrong); the update waits for fresh metadata.
var ErrExpired = errors.New("updater: signed metadata expired")

// ErrDeferred means a large download waits for an unmetered network and a
// charger; it is reported per target in a Report, not returned.
var ErrDeferred = errors.New("updater: download deferred until unmetered and charging")

// VerificationError means something did not match what the signed metadata
// promises (length, hash, an endless stream) or the metadata itself failed
// verification. The partial file is removed.
type VerificationError struct {
	Model, Version string
	Reason         string
	Err            error
}

func (e *VerificationError) Error() string {
	var b strings.Builder
	b.WriteString("updater: verification failed")
	if e.Model != "" {
		fmt.Fprintf(&b, " for %s %s", e.Model, e.Version)
	}
	if e.Reason != "" {
		b.WriteString(": " + e.Reason)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *VerificationError) Unwrap() error { return e.Err }

// NetworkError is a failed transfer; the download resumes on the next
// check-in.
type NetworkError struct {
	URL string
	// Status is the HTTP status, 0 when no response arrived.
	Status int
	Err    error
}

func (e *NetworkError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("updater: GET %s: HTTP %d", e.URL, e.Status)
	}
	return fmt.Sprintf("updater: %s: %v", e.URL, e.Err)
}

func (e *NetworkError) Unwrap() error { return e.Err }

// IncompatibleError means a target needs a newer runtime or operators this
// runtime lacks; it is never downloaded.
type IncompatibleError struct {
	Model, Version string
	// MinRuntime is set when the runtime is too old.
	MinRuntime, Runtime string
	// MissingOps lists operators without kernels here.
	MissingOps []string
}

func (e *IncompatibleError) Error() string {
	var why []string
	if e.MinRuntime != "" {
		why = append(why, fmt.Sprintf("needs runtime >= %s, have %s", e.MinRuntime, e.Runtime))
	}
	if len(e.MissingOps) > 0 {
		why = append(why, fmt.Sprintf("ops not supported: %s", strings.Join(e.MissingOps, ", ")))
	}
	return fmt.Sprintf("updater: %s %s is incompatible: %s", e.Model, e.Version, strings.Join(why, "; "))
}

// SelfTestError means a verified bundle failed to load or failed its
// golden-input self-test; it was rejected and the previous version stays
// current.
type SelfTestError struct {
	Model, Version string
	Err            error
}

func (e *SelfTestError) Error() string {
	return fmt.Sprintf("updater: %s %s failed its self-test and was rolled back: %v", e.Model, e.Version, e.Err)
}

func (e *SelfTestError) Unwrap() error { return e.Err }

// classify maps a Verifier's error onto the typed errors a host acts on.
func classify(err error) error {
	var ne *NetworkError
	var ve *VerificationError
	var exp interface{ Expired() bool }
	var netErr interface{ Timeout() bool }
	switch {
	case errors.Is(err, ErrExpired), errors.As(err, &ne), errors.As(err, &ve),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &exp) && exp.Expired():
		return fmt.Errorf("%w: %w", ErrExpired, err)
	case errors.As(err, &netErr):
		return &NetworkError{URL: "check-in", Err: err}
	}
	return &VerificationError{Reason: "signed metadata", Err: err}
}
