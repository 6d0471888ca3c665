package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// display shows the demo's progress: one line per finished phase and,
// below them, a live status block (the running phase, fleet version mix,
// round or rollout stage) redrawn in place on a terminal. Elsewhere (a
// pipe, a test) it prints only the finished phases, so logs stay clean.
type display struct {
	w    io.Writer
	live bool

	mu     sync.Mutex
	status []string // the live block's lines
	drawn  int      // lines of the live block on screen
	last   time.Time
	phase  string
	start  time.Time
}

// newDisplay writes to w; live redraws only when w is a terminal and
// progress is wanted.
func newDisplay(w io.Writer, progress bool) *display {
	d := &display{w: w}
	if f, ok := w.(*os.File); ok && progress {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			d.live = true
		}
	}
	return d
}

func (d *display) begin(phase string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.phase, d.start = phase, time.Now()
	d.status = nil
	d.redraw(true)
}

// set replaces the live block's lines (throttled to 10 redraws a second).
func (d *display) set(lines ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.status = lines
	d.redraw(false)
}

func (d *display) end(phase, summary string, took time.Duration, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clear()
	mark := "✓"
	if err != nil {
		mark, summary = "✗", err.Error()
	}
	fmt.Fprintf(d.w, "%s %-22s %7.1fs  %s\n", mark, phase, took.Seconds(), summary)
	d.status = nil
}

// clear erases the live block.
func (d *display) clear() {
	if !d.live || d.drawn == 0 {
		return
	}
	fmt.Fprintf(d.w, "\x1b[%dF\x1b[J", d.drawn)
	d.drawn = 0
}

func (d *display) redraw(force bool) {
	if !d.live || (!force && time.Since(d.last) < 100*time.Millisecond) {
		return
	}
	d.last = time.Now()
	d.clear()
	lines := append([]string{fmt.Sprintf("… %s (%.0fs)", d.phase, time.Since(d.start).Seconds())}, d.status...)
	fmt.Fprintln(d.w, strings.Join(lines, "\n  "))
	d.drawn = len(lines)
}
