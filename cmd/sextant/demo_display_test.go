package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestBar(t *testing.T) {
	for _, c := range []struct {
		done, total int
		want        string
	}{
		{0, 4, "[                    ] 0/4"},
		{1, 4, "[=====               ] 1/4"},
		{4, 4, "[====================] 4/4"},
		{9, 4, "[====================] 4/4"}, // clamped
		{1, 0, "[                    ] 0/0"},
	} {
		if got := bar(c.done, c.total); got != c.want {
			t.Errorf("bar(%d, %d) = %q, want %q", c.done, c.total, got, c.want)
		}
	}
}

// Off a terminal the display writes the finished phases only, and an
// in-process command's progress bar goes to the display, not into the
// command's output (demo.log).
func TestDisplayOffTerminal(t *testing.T) {
	var out bytes.Buffer
	d := newDisplay(&out, true)
	if d.live {
		t.Fatal("a buffer is not a terminal")
	}
	d.begin("train")
	errb := &cmdOutput{disp: d, label: "sextant train next-destination", epochs: 2}
	p := newProgress(errb, 4, true)
	for range 4 {
		p.step(8, 0.5, func() string { return "ε 1.00" })
	}
	p.finish(func() string { return "ε 1.00" })
	if got := d.lines["command"]; !strings.Contains(got, "[====================] 4/4 steps, epoch 2/2") || !strings.Contains(got, "ε 1.00") {
		t.Errorf("display's command line %q", got)
	}
	if errb.Len() != 0 {
		t.Errorf("the progress bar wrote %q into the command's output", errb.String())
	}
	d.show("rollout", "r "+bar(1, 2))
	d.end("train", "done", time.Second, nil)
	if got := out.String(); got != "✓ train                      1.0s  done\n" {
		t.Errorf("display wrote %q", got)
	}
	// A bar on a plain writer still draws in place, as `sextant train` does.
	var plain bytes.Buffer
	p = newProgress(&plain, 2, true)
	p.step(1, 1, func() string { return "" })
	p.finish(func() string { return "" })
	if s := plain.String(); !strings.HasPrefix(s, "\r[") || !strings.HasSuffix(s, "\n") {
		t.Errorf("plain bar %q", s)
	}
}

// On a terminal the live block is redrawn in place: erased (cursor up by
// its height, clear to the end) before the finished phase's line.
func TestDisplayLive(t *testing.T) {
	var out bytes.Buffer
	d := newDisplay(&out, true)
	d.live = true // as on a terminal
	d.begin("fleet")
	d.show("devices", "install "+bar(1, 2)+" devices")
	d.last = time.Time{} // past the redraw throttle
	d.show("rollout", strings.Repeat("x", 200))
	if d.drawn != 3 {
		t.Fatalf("live block of %d lines, want 3", d.drawn)
	}
	d.end("fleet", "ok", time.Second, nil)
	s := out.String()
	if !strings.Contains(s, "install [==========          ] 1/2 devices") || !strings.Contains(s, strings.Repeat("x", 109)+"…\n") {
		t.Errorf("live block %q", s)
	}
	if !strings.HasSuffix(s, "\x1b[3F\x1b[J✓ fleet                      1.0s  ok\n") {
		t.Errorf("the live block was not erased before the phase line: %q", s)
	}
}
