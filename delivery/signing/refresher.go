package signing

import (
	"context"
	"fmt"

	"github.com/sextant-ml/sextant/clock"
)

// RunRefresher is the server's re-signing timer: it calls Refresh with the
// online keys whenever NextRefresh says work is due, hands the new files to
// publish (which stores them durably), and sleeps on clk until the next
// one. It returns when ctx ends, or on the first error. After an Apply, the
// server calls Refresh itself (or restarts the loop) so a publish does not
// wait for the timer.
func (r *Repository) RunRefresher(ctx context.Context, clk clock.Clock, snapshotKeys, timestampKeys []*Key, publish func([]File) error) error {
	for {
		now := clk.Now()
		files, err := r.Refresh(now, snapshotKeys, timestampKeys)
		if err != nil {
			return err
		}
		if len(files) > 0 {
			if err := publish(files); err != nil {
				return fmt.Errorf("signing: publish refreshed metadata: %w", err)
			}
		}
		if err := clk.Sleep(ctx, r.NextRefresh(clk.Now()).Sub(clk.Now())); err != nil {
			return err
		}
	}
}
