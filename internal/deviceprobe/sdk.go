package main

import (
	"context"
	"os"

	"github.com/sextant-ml/sextant/device/sdk"
)

// probeSDK links the host-facing SDK: it opens an empty store in a temporary
// directory with no server, where every model is unavailable.
func probeSDK(ctx context.Context) (sdk.Availability, error) {
	dir, err := os.MkdirTemp("", "sextant-probe-")
	if err != nil {
		return sdk.Unavailable, err
	}
	defer os.RemoveAll(dir)
	s, err := sdk.Open(ctx, sdk.Config{Dir: dir})
	if err != nil {
		return sdk.Unavailable, err
	}
	a := s.Availability("probe")
	return a, s.Close()
}
