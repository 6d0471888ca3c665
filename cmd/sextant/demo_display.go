package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// display shows the demo's progress: one line per finished phase and,
// below them, a live block redrawn in place on a terminal: the running
// phase, then one line per kind of progress (the command running, a
// training's steps, the fleet's devices, a rollout's days, federated
// rounds), each with a bar where it has a total. Elsewhere (a pipe, a
// test) it prints only the finished phases, so logs stay clean.
type display struct {
	w    io.Writer
	live bool

	mu    sync.Mutex
	keys  []string          // the live block's lines, in the order first shown
	lines map[string]string // by key
	drawn int               // lines of the live block on screen
	last  time.Time
	phase string
	start time.Time
}

// newDisplay writes to w; live redraws only when w is a terminal and
// progress is wanted.
func newDisplay(w io.Writer, progress bool) *display {
	d := &display{w: w, lines: map[string]string{}}
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
	d.keys, d.lines = nil, map[string]string{}
	d.redraw(true)
}

// set replaces the live block's general status line(s).
func (d *display) set(lines ...string) { d.show("status", strings.Join(lines, "\n  ")) }

// show sets the live block's line key (added below the others when new;
// removed when text is empty), throttled to 10 redraws a second.
func (d *display) show(key, text string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case text == "":
		delete(d.lines, key)
		d.keys = slices.DeleteFunc(d.keys, func(k string) bool { return k == key })
	default:
		if _, ok := d.lines[key]; !ok {
			d.keys = append(d.keys, key)
		}
		d.lines[key] = text
	}
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
	d.keys, d.lines = nil, map[string]string{}
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
	lines := []string{fmt.Sprintf("… %s (%.0fs)", d.phase, time.Since(d.start).Seconds())}
	for _, k := range d.keys {
		for l := range strings.SplitSeq(d.lines[k], "\n  ") {
			lines = append(lines, clip(l, 110))
		}
	}
	fmt.Fprintln(d.w, strings.Join(lines, "\n  "))
	d.drawn = len(lines)
}

// clip shortens s to n runes (a wrapped line would break the redraw).
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// bar draws done of total as a fixed-width bar with the count:
// "[======              ] 3/10".
func bar(done, total int) string {
	const width = 20
	done = min(max(done, 0), max(total, 0))
	filled := width * done / max(total, 1)
	return fmt.Sprintf("[%s%s] %d/%d", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), done, total)
}
