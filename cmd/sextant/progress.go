package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress is a one-line progress bar rewritten in place with \r: steps
// done, loss (exponential moving average), examples per second, and a note
// (ε so far) refreshed at most once a second since computing it is not
// free. Writing to a progressSink (the demo's display) it hands the sink
// the same figures instead of drawing.
type progress struct {
	w           io.Writer
	sink        progressSink
	total, done int
	examples    int
	start, last time.Time
	noteAt      time.Time
	note        string
	ema         float64
	on          bool
	now         func() time.Time
}

// progressSink is a writer that shows progress itself: the demo runs
// commands in process with one as their standard error, so a training's
// steps show in its live display while the log gets no bar.
type progressSink interface {
	io.Writer
	progress(done, total int, detail string)
}

func newProgress(w io.Writer, total int, on bool) *progress {
	t := time.Now()
	p := &progress{w: w, total: total, start: t, on: on, now: time.Now}
	p.sink, _ = w.(progressSink)
	return p
}

// step records one step of n examples with loss; note is called when the
// line is redrawn and the note is stale.
func (p *progress) step(n int, loss float64, note func() string) {
	p.done++
	p.examples += n
	if p.done == 1 {
		p.ema = loss
	} else {
		p.ema = 0.95*p.ema + 0.05*loss
	}
	if !p.on {
		return
	}
	t := p.now()
	if t.Sub(p.last) < 100*time.Millisecond && p.done < p.total {
		return
	}
	p.last = t
	if t.Sub(p.noteAt) >= time.Second {
		p.note, p.noteAt = note(), t
	}
	p.draw(t)
}

// detail is the line's figures after the bar.
func (p *progress) detail(t time.Time) string {
	rate := float64(p.examples) / max(t.Sub(p.start).Seconds(), 1e-9)
	s := fmt.Sprintf("loss %.4f  %.0f ex/s", p.ema, rate)
	if p.note != "" {
		s += "  " + p.note
	}
	return s
}

func (p *progress) draw(t time.Time) {
	if p.sink != nil {
		p.sink.progress(p.done, p.total, p.detail(t))
		return
	}
	const width = 30
	filled := width * min(p.done, p.total) / max(p.total, 1)
	line := fmt.Sprintf("\r[%s%s] %d/%d steps  %s", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), p.done, p.total, p.detail(t))
	fmt.Fprint(p.w, line+"\x1b[K")
}

// finish draws the final state and ends the line.
func (p *progress) finish(note func() string) {
	if !p.on {
		return
	}
	p.note = note()
	p.draw(p.now())
	if p.sink == nil {
		fmt.Fprintln(p.w)
	}
}
