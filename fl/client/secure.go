package client

import (
	"fmt"
	"io"

	"github.com/sextant-ml/sextant/secagg"
	saclient "github.com/sextant-ml/sextant/secagg/client"
)

// Secure prepares the device's part of a round's secure aggregation: a
// secagg client with id (assigned by the coordinator) whose input is the
// update, fixed-point encoded with p.Encoding, and its step-0 message. The
// caller then answers each server message with Handle. clipped counts
// coordinates the encoding clipped (0 when p.Encoding.Clip ≥ ClipNorm);
// the count is summed securely and reported by the coordinator.
func Secure(p secagg.Params, id uint32, u *Update, r io.Reader) (c *saclient.Client, adv *secagg.AdvertiseKeys, clipped int, err error) {
	x := u.Vector()
	if len(x) != p.Dim {
		return nil, nil, 0, fmt.Errorf("fl: secure: update has %d coordinates, round expects %d", len(x), p.Dim)
	}
	c, err = saclient.New(saclient.Config{Params: p, ID: id, Rand: r})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("fl: secure: %w", err)
	}
	if clipped, err = c.SetInput(x); err != nil {
		return nil, nil, 0, fmt.Errorf("fl: secure: %w", err)
	}
	if adv, err = c.Start(); err != nil {
		return nil, nil, 0, fmt.Errorf("fl: secure: %w", err)
	}
	return c, adv, clipped, nil
}
