// Package consoletest drives the web console in Debian's headless chromium
// for browser tests (github.com/chromedp/chromedp): finding the browser
// (a test skips without it, and fails under CI=true), signing in, reading
// what the pages show and saving screenshots as test artifacts.
package consoletest

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium returns Debian's chromium, skipping t when it is missing
// (failing under CI=true, where test.sh installs it).
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is required in CI (apt-get install -y chromium)")
	}
	t.Skip("chromium not installed; install it with: apt-get install -y chromium")
	return ""
}

// ScreenshotDir is where a browser test leaves its screenshots:
// $SEXTANT_ARTIFACTS/<name> when set (CI collects it), else
// sextant-<name>-screenshots under the system temp dir, which outlives the
// test.
func ScreenshotDir(t testing.TB, name string) string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "sextant-"+name+"-screenshots")
	if a := os.Getenv("SEXTANT_ARTIFACTS"); a != "" {
		dir = filepath.Join(a, name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Page is a browser tab on the console. Its methods fail the test on a
// browser error.
type Page struct {
	t   testing.TB
	ctx context.Context
	dir string
}

// Open starts chromium (skipping t without it) at a 1280×900 window and
// returns its tab; every later step runs under timeout, and screenshots
// go to dir. The browser stops when t ends.
func Open(t testing.TB, dir string, timeout time.Duration) *Page {
	t.Helper()
	exe := Chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1280, 900))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	// The first run starts the browser, for as long as bctx lives; the
	// rest run under the deadline.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		cancelB()
		cancelA()
		t.Fatalf("start chromium: %v", err)
	}
	tctx, cancelT := context.WithTimeout(bctx, timeout)
	t.Cleanup(func() {
		cancelT()
		cancelB()
		cancelA()
	})
	return &Page{t: t, ctx: tctx, dir: dir}
}

// Run runs browser actions.
func (p *Page) Run(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatal(err)
	}
}

// Eval evaluates a JavaScript expression in p.
func Eval[T any](p *Page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatal(err)
	}
	return v
}

// Location is the tab's URL.
func (p *Page) Location() string {
	p.t.Helper()
	loc, err := chromedp.Run(p.ctx, chromedp.Location())
	if err != nil {
		p.t.Fatal(err)
	}
	return loc
}

// Open loads a console page and waits for its main section.
func (p *Page) Open(url string) {
	p.t.Helper()
	p.Run(chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("#main")))
}

// SignIn fills the sign-in form the tab shows with token, submits it and
// waits until an element sel of the page it lands on is visible.
func (p *Page) SignIn(token, sel string) {
	p.t.Helper()
	p.Run(chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS(sel)))
}

// Texts returns the trimmed text, white space collapsed, of every element
// sel matches.
func (p *Page) Texts(sel string) []string {
	p.t.Helper()
	q, _ := json.Marshal(sel)
	return Eval[[]string](p, `Array.from(document.querySelectorAll(`+string(q)+`)).map(e => e.textContent.trim().replace(/\s+/g, " "))`)
}

// Text returns the text of the one element sel matches.
func (p *Page) Text(sel string) string {
	p.t.Helper()
	ts := p.Texts(sel)
	if len(ts) != 1 {
		p.t.Fatalf("%s matches %d elements: %q", sel, len(ts), ts)
	}
	return ts[0]
}

// Want checks that the one element sel matches shows want; from names
// where want comes from (the admin API, the demo's report).
func (p *Page) Want(sel, want, from string) {
	p.t.Helper()
	if got := p.Text(sel); got != want {
		p.t.Errorf("%s shows %q, %s says %q", sel, got, from, want)
	}
}

// Shot saves a full-page PNG screenshot as name.png.
func (p *Page) Shot(name string) {
	p.t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.dir, name+".png"), png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}
