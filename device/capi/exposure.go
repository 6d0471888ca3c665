package main

/*
#define SEXTANT_TYPES_ONLY
#include "sextant.h"

// sextant_call_exposure calls the host's callback: Go cannot call a C
// function pointer itself.
static inline void sextant_call_exposure(sextant_exposure_fn fn, void *user, const char *model,
                                         const char *version, int64_t unix_ms) {
	fn(user, model, version, unix_ms);
}
*/
import "C"

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
	"unsafe"
)

// Limits on the exposure state file, which a host may hand us from
// storage it does not control.
const (
	maxExposureFile    = 1 << 20
	maxExposureEntries = 10_000
)

// exposureHook is the process's exposure callback (sextant_set_exposure):
// the C ABI has no per-host object to hang it on, and an exposure is per
// device, not per handle. mu guards every field.
type exposureHook struct {
	mu   sync.Mutex
	fn   C.sextant_exposure_fn
	user unsafe.Pointer
	// path is the state file ("" when not persisted); seen the
	// "model@version" pairs already exposed.
	path string
	seen map[string]bool
}

var exposures exposureHook

// exposureState is the state file: the pairs exposed, sorted.
type exposureState struct {
	Exposed []string `json:"exposed"`
}

// set registers fn (nil unregisters) and loads path's pairs.
func (e *exposureHook) set(fn C.sextant_exposure_fn, user unsafe.Pointer, path string) error {
	seen := map[string]bool{}
	if fn != nil && path != "" {
		var err error
		if seen, err = loadExposures(path); err != nil {
			return err
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fn, e.user, e.path, e.seen = fn, user, path, seen
	if fn == nil {
		e.user, e.path, e.seen = nil, "", map[string]bool{}
	}
	return nil
}

func loadExposures(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, &apiError{code: statusOpen, err: fmt.Errorf("exposure state: %w", err)}
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxExposureFile+1))
	if err != nil {
		return nil, &apiError{code: statusOpen, err: fmt.Errorf("exposure state: %w", err)}
	}
	if len(raw) > maxExposureFile {
		return nil, fail(statusOpen, "exposure state %s: larger than %d bytes", path, maxExposureFile)
	}
	var st exposureState
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fail(statusOpen, "exposure state %s: %v", path, err)
	}
	if len(st.Exposed) > maxExposureEntries {
		return nil, fail(statusOpen, "exposure state %s: %d entries (max %d)", path, len(st.Exposed), maxExposureEntries)
	}
	seen := make(map[string]bool, len(st.Exposed))
	for _, k := range st.Exposed {
		seen[k] = true
	}
	return seen, nil
}

// first reports whether model@version answers for the first time with a
// callback registered, marking it (and saving the state, best effort: a
// failed write may repeat the exposure in a later process, never lose
// it), and returns the callback to call.
func (e *exposureHook) first(model, version string) (C.sextant_exposure_fn, unsafe.Pointer, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := model + "@" + version
	if e.fn == nil || version == "" || e.seen[key] {
		return nil, nil, false
	}
	if len(e.seen) >= maxExposureEntries {
		return nil, nil, false
	}
	e.seen[key] = true
	if e.path != "" {
		_ = saveExposures(e.path, e.seen)
	}
	return e.fn, e.user, true
}

func saveExposures(path string, seen map[string]bool) error {
	st := exposureState{Exposed: make([]string, 0, len(seen))}
	for k := range seen {
		st.Exposed = append(st.Exposed, k)
	}
	slices.Sort(st.Exposed)
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".sextant-exposure-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// expose calls the exposure callback if h's model@version has just
// answered for the first time. The handle's lock is not held.
func expose(h *handle) {
	fn, user, ok := exposures.first(h.m.name, h.m.version)
	if !ok {
		return
	}
	C.sextant_call_exposure(fn, user, h.name, h.version, C.int64_t(time.Now().UnixMilli()))
}

//export sextant_set_exposure
func sextant_set_exposure(fn C.sextant_exposure_fn, user unsafe.Pointer, statePath *C.char, err *C.char, errlen C.size_t) C.int {
	path := ""
	if statePath != nil {
		path = C.GoString(statePath)
	}
	return report(exposures.set(fn, user, path), err, errlen)
}
