package console

import (
	"bufio"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/rollout"
	"github.com/sextant-ml/sextant/store"
)

// storeSource is the console's Source over a real SQLite store, with no
// rollouts, no fleet, no tasks and the experiments of a board.
type storeSource struct {
	*store.DB
	ExperimentBoard
	Coordinators
}

func (*storeSource) Rollouts(context.Context) ([]rollout.Status, error) { return nil, nil }
func (*storeSource) Fleet(context.Context) (Fleet, error)               { return Fleet{}, nil }

func newTestConsole(t *testing.T, tune func(*Config)) (*Console, *storeSource, *httptest.Server, string) {
	t.Helper()
	db, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	const secret = "console-test-secret"
	if _, err := db.CreateToken(t.Context(), delivery.Token{ID: "tok-read", Hash: delivery.HashSecret(secret), Scope: delivery.ScopeRead}); err != nil {
		t.Fatal(err)
	}
	src := &storeSource{DB: db}
	cfg := Config{Source: src, Poll: 10 * time.Millisecond}
	if tune != nil {
		tune(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(c)
	t.Cleanup(ts.Close)
	t.Cleanup(c.Close)
	return c, src, ts, secret
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func signIn(t *testing.T, ts *httptest.Server, secret string) *http.Cookie {
	t.Helper()
	resp, err := noRedirect.PostForm(ts.URL+Prefix+"login", url.Values{"token": {secret}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		t.Fatalf("sign-in: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	return resp.Cookies()[0]
}

func get(t *testing.T, ts *httptest.Server, path string, ck *http.Cookie) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
	if ck != nil {
		req.AddCookie(ck)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// TestSessionsAreBounded: past MaxSessions the oldest sign-in ends, and a
// sign-in is audited.
func TestSessionsAreBounded(t *testing.T) {
	_, src, ts, secret := newTestConsole(t, func(c *Config) { c.MaxSessions = 2 })
	first := signIn(t, ts, secret)
	if resp, _ := get(t, ts, Prefix, first); resp.StatusCode != http.StatusOK {
		t.Fatalf("overview: %d", resp.StatusCode)
	}
	signIn(t, ts, secret)
	signIn(t, ts, secret)
	if resp, _ := get(t, ts, Prefix, first); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the oldest of 3 sessions (max 2) still works: %d", resp.StatusCode)
	}
	es, err := src.ListAudit(t.Context(), delivery.AuditQuery{What: "console.login"})
	if err != nil || len(es) != 3 || es[0].Who != "tok-read" {
		t.Errorf("sign-ins audited: %+v, %v", es, err)
	}
}

// TestEmptyStates: a server without experiments or tasks says so rather
// than showing an empty table.
func TestEmptyStates(t *testing.T) {
	_, _, ts, secret := newTestConsole(t, nil)
	ck := signIn(t, ts, secret)
	for path, id := range map[string]string{"experiments": `id="no-experiments"`, "federated": `id="no-tasks"`, "fleet": `id="no-share"`} {
		resp, body := get(t, ts, Prefix+path, ck)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, id) {
			t.Errorf("%s: %d without its empty state", path, resp.StatusCode)
		}
	}
}

// TestEventStream: the stream says hello, sends a change when an audit
// event is appended, and ends when the console closes.
func TestEventStream(t *testing.T) {
	c, src, ts, secret := newTestConsole(t, nil)
	ck := signIn(t, ts, secret)
	req, _ := http.NewRequest(http.MethodGet, ts.URL+Prefix+"events", nil)
	req.AddCookie(ck)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	events := make(chan string, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if ev, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				events <- ev
			}
		}
	}()
	next := func() (string, bool) {
		select {
		case ev, ok := <-events:
			return ev, ok
		case <-time.After(10 * time.Second):
			t.Fatal("no event in 10 s")
		}
		return "", false
	}
	if ev, _ := next(); ev != "hello" {
		t.Fatalf("first event %q", ev)
	}
	if _, err := src.AppendAudit(t.Context(), delivery.AuditEvent{Who: "system", What: "test"}); err != nil {
		t.Fatal(err)
	}
	if ev, _ := next(); ev != "change" {
		t.Fatalf("after an audit event: %q", ev)
	}
	c.Close()
	if ev, ok := next(); ok {
		t.Fatalf("after Close the stream sent %q instead of ending", ev)
	}
}

// TestSafeNext: the sign-in redirect never leaves the console.
func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/console/fleet":          "/console/fleet",
		"/console/rollouts/a?b=c": "/console/rollouts/a?b=c",
		"//evil.example/console/": Prefix,
		"https://evil.example/":   Prefix,
		"/console/login":          Prefix,
		"/console/\\evil":         Prefix,
		"":                        Prefix,
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestChartsWellFormed: every chart is well-formed XML with an accessible
// title and a description that states the numbers, escaping labels.
func TestChartsWellFormed(t *testing.T) {
	charts := map[string]string{
		"bar": string(BarChart("b", "Bars <&>", "", []Bar{{"a<b", 3}, {"c&d", 0.25}})),
		"line": string(LineChart("l", "Lines", "round", "ε", nil, []Series{
			{Name: "x", Points: []Point{{X: 1, Y: 0.5}, {X: 2, Y: 1.25}}, Step: true, Marks: map[int]string{1: "#f00"}},
			{Name: "y", Points: []Point{{X: 1, Y: 2}, {X: 3, Y: 4}}}})),
		"interval": string(IntervalChart("i", "Gates", []Interval{{Label: "err", Estimate: 0.04, Low: 0.028, High: 0.051, Limit: 0.01, Verdict: "fail"}})),
	}
	wantDesc := map[string][]string{
		"bar":      {"a<b: 3", "c&d: 0.25"},
		"line":     {"x: 1 → 0.5, 2 → 1.25", "y: 1 → 2, 3 → 4"},
		"interval": {"err: 0.04 in [0.028, 0.051], limit 0.01, fail"},
	}
	for name, svg := range charts {
		dec := xml.NewDecoder(strings.NewReader(svg))
		var title, desc, in string
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: not well-formed: %v\n%s", name, err, svg)
			}
			switch tok := tok.(type) {
			case xml.StartElement:
				in = tok.Name.Local
				if in == "svg" && !strings.Contains(svg, `role="img"`) {
					t.Errorf("%s: no role=img", name)
				}
			case xml.CharData:
				if in == "title" && title == "" {
					title = string(tok)
				}
				if in == "desc" {
					desc += string(tok)
				}
			case xml.EndElement:
				in = ""
			}
		}
		if title == "" {
			t.Errorf("%s: no title", name)
		}
		for _, w := range wantDesc[name] {
			if !strings.Contains(desc, w) {
				t.Errorf("%s: description %q lacks %q", name, desc, w)
			}
		}
	}
	if BarChart("e", "Empty", "", nil) != "" || LineChart("e", "Empty", "", "", nil, nil) != "" {
		t.Error("an empty chart is drawn")
	}
}

func TestNum(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 3: "3", -2: "-2", 1e-6: "1e-06", 0.123456: "0.1235", 2.5: "2.5", 123456.7: "1.235e+05"} {
		if got := Num(v); got != want {
			t.Errorf("Num(%g) = %q, want %q", v, got, want)
		}
	}
}
