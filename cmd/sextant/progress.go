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
// free.
type progress struct {
	w           io.Writer
	total, done int
	examples    int
	start, last time.Time
	noteAt      time.Time
	note        string
	ema         float64
	on          bool
	now         func() time.Time
}

func newProgress(w io.Writer, total int, on bool) *progress {
	t := time.Now()
	return &progress{w: w, total: total, start: t, on: on, now: time.Now}
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

func (p *progress) draw(t time.Time) {
	const width = 30
	filled := width * p.done / max(p.total, 1)
	rate := float64(p.examples) / max(t.Sub(p.start).Seconds(), 1e-9)
	line := fmt.Sprintf("\r[%s%s] %d/%d steps  loss %.4f  %.0f ex/s", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), p.done, p.total, p.ema, rate)
	if p.note != "" {
		line += "  " + p.note
	}
	fmt.Fprint(p.w, line+"\x1b[K")
}

// finish draws the final state and ends the line.
func (p *progress) finish(note func() string) {
	if !p.on {
		return
	}
	p.note = note()
	p.draw(p.now())
	fmt.Fprintln(p.w)
}
