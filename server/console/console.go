package console

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is where the server mounts the console.
const Prefix = "/console/"

// CookieName is the session cookie's name.
const CookieName = "sextant_console"

// Config configures a Console; Source is required.
type Config struct {
	Source Source
	// Clock times sessions (default clock.Real).
	Clock clock.Clock
	// Logger receives errors (default: discard).
	Logger *slog.Logger
	// SessionTTL is how long a sign-in lasts (default 12 h).
	SessionTTL time.Duration
	// MaxSessions bounds the sessions kept (default 10 000); when full,
	// expired ones are dropped, then the oldest.
	MaxSessions int
	// Poll is how often an event stream looks for changes (default 1 s).
	Poll time.Duration
	// StreamLifetime ends an event stream after this long (default
	// 5 min); the browser reconnects by itself.
	StreamLifetime time.Duration
}

// Console serves the pages. Create it with New; call Close when the server
// shuts down so open event streams end.
type Console struct {
	cfg   Config
	src   Source
	clk   clock.Clock
	log   *slog.Logger
	pages map[string]*template.Template
	mux   *http.ServeMux

	mu       sync.Mutex
	sessions map[string]session

	closeOnce sync.Once
	done      chan struct{}
}

type session struct {
	hash    string // the token's hash
	expires time.Time
}

// New returns a console over cfg.Source. It does no I/O.
func New(cfg Config) (*Console, error) {
	if cfg.Source == nil {
		return nil, errors.New("console: config needs a source")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 10_000
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.StreamLifetime <= 0 {
		cfg.StreamLifetime = 5 * time.Minute
	}
	c := &Console{cfg: cfg, src: cfg.Source, clk: cfg.Clock, log: cfg.Logger,
		sessions: map[string]session{}, done: make(chan struct{})}
	if err := c.parse(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

// Close ends the open event streams; pages keep being served.
func (c *Console) Close() { c.closeOnce.Do(func() { close(c.done) }) }

func (c *Console) parse() error {
	funcs := template.FuncMap{
		"num":   Num,
		"pct":   func(bp uint32) string { return Num(float64(bp)/100) + " %" },
		"share": func(f float64) string { return Num(100*f) + " %" },
		"time":  fmtTime,
		"dur":   func(d time.Duration) string { return d.String() },
		"short": short,
		"join":  strings.Join,
		"add":   func(a, b int) int { return a + b },
		"frac": func(a, b int) float64 {
			if b == 0 {
				return 0
			}
			return float64(a) / float64(b)
		},
	}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return fmt.Errorf("console: templates: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return fmt.Errorf("console: templates: %w", err)
	}
	c.pages = map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return fmt.Errorf("console: template %s: %w", n, err)
		}
		c.pages[base] = t
	}
	return nil
}

func (c *Console) routes() {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix(Prefix+"static/", http.FileServerFS(static))
	mux.Handle("GET "+Prefix+"static/", files)
	mux.HandleFunc("GET "+Prefix+"login", c.loginPage)
	mux.HandleFunc("POST "+Prefix+"login", c.login)
	mux.HandleFunc("POST "+Prefix+"logout", c.logout)
	mux.Handle("GET "+Prefix+"{$}", c.page("overview", c.overview))
	mux.Handle("GET "+Prefix+"models", c.page("models", c.models))
	mux.Handle("GET "+Prefix+"models/{name}", c.page("model", c.model))
	mux.Handle("GET "+Prefix+"rollouts", c.page("rollouts", c.rolloutList))
	mux.Handle("GET "+Prefix+"rollouts/{id}", c.page("rollout", c.rollout))
	mux.Handle("GET "+Prefix+"experiments", c.page("experiments", c.experiments))
	mux.Handle("GET "+Prefix+"federated", c.page("federated", c.federated))
	mux.Handle("GET "+Prefix+"fleet", c.page("fleet", c.fleet))
	mux.Handle("GET "+Prefix+"events", c.authed(c.events))
	mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, nil, http.StatusNotFound, "No such page.")
	})
	c.mux = mux
}

// ServeHTTP serves the console under Prefix.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	if !strings.HasPrefix(r.URL.Path, Prefix+"static/") {
		h.Set("Cache-Control", "no-store")
	}
	c.mux.ServeHTTP(w, r)
}

// view is what every page template gets.
type view struct {
	Title  string
	Active string
	Token  delivery.Token
	Data   any
	Error  string
	Next   string
}

// page wraps a page handler: a signed-in session, then the page's data
// rendered in its template.
func (c *Console) page(name string, load func(r *http.Request) (title string, data any, err error)) http.Handler {
	return c.authed(func(w http.ResponseWriter, r *http.Request, tok delivery.Token) {
		title, data, err := load(r)
		if err != nil {
			code := http.StatusInternalServerError
			msg := "The data could not be read; the server log says why."
			if errors.Is(err, delivery.ErrNotFound) {
				code, msg = http.StatusNotFound, err.Error()
			}
			c.fail(w, r, &tok, code, msg)
			if code == http.StatusInternalServerError {
				c.log.ErrorContext(r.Context(), "console page", slog.String("page", name), slog.Any("err", err))
			}
			return
		}
		c.render(w, r, name, http.StatusOK, view{Title: title, Active: name, Token: tok, Data: data})
	})
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, name string, code int, v view) {
	var b strings.Builder
	if err := c.pages[name].ExecuteTemplate(&b, "layout", v); err != nil {
		c.log.ErrorContext(r.Context(), "console render", slog.String("page", name), slog.Any("err", err))
		http.Error(w, "render failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprint(w, b.String())
}

func (c *Console) fail(w http.ResponseWriter, r *http.Request, tok *delivery.Token, code int, msg string) {
	v := view{Title: http.StatusText(code), Error: msg}
	if tok != nil {
		v.Token = *tok
	}
	c.render(w, r, "error", code, v)
}

// authed requires a session whose token still exists, is unrevoked and
// may read. Without one, a page redirects to the sign-in form.
func (c *Console) authed(h func(http.ResponseWriter, *http.Request, delivery.Token)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := c.sessionToken(r)
		if !ok {
			if r.URL.Path == Prefix+"events" {
				http.Error(w, "sign in first", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, Prefix+"login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h(w, r, tok)
	})
}

func (c *Console) sessionToken(r *http.Request) (delivery.Token, bool) {
	ck, err := r.Cookie(CookieName)
	if err != nil || len(ck.Value) > 128 {
		return delivery.Token{}, false
	}
	c.mu.Lock()
	s, ok := c.sessions[ck.Value]
	if ok && !c.clk.Now().Before(s.expires) {
		delete(c.sessions, ck.Value)
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		return delivery.Token{}, false
	}
	tok, err := c.src.TokenByHash(r.Context(), s.hash)
	if err != nil || !tok.Allows(delivery.ScopeRead) {
		if err != nil && !errors.Is(err, delivery.ErrNotFound) {
			c.log.ErrorContext(r.Context(), "console session token", slog.Any("err", err))
		}
		return delivery.Token{}, false
	}
	return tok, true
}

// sameOrigin rejects cross-site form posts. Browsers that send
// Sec-Fetch-Site are trusted on it (same-origin, or none for a request
// the user made); otherwise an Origin header, when sent, must name this
// host (clients without either are not browsers).
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" {
		return s == "same-origin" || s == "none"
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// safeNext keeps a post-sign-in redirect inside the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") ||
		strings.HasPrefix(next, Prefix+"login") || strings.HasPrefix(next, Prefix+"events") {
		return Prefix
	}
	return next
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, "login", http.StatusOK, view{Title: "Sign in", Next: safeNext(r.URL.Query().Get("next"))})
}

// maxLoginBody bounds the sign-in form.
const maxLoginBody = 4 << 10

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "cross-site sign-in refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		c.render(w, r, "login", http.StatusBadRequest, view{Title: "Sign in", Error: "The form could not be read.", Next: Prefix})
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	secret := strings.TrimSpace(r.PostForm.Get("token"))
	refuse := func(msg string) {
		c.render(w, r, "login", http.StatusUnauthorized, view{Title: "Sign in", Error: msg, Next: next})
	}
	if secret == "" || len(secret) > 512 {
		refuse("Paste an admin token (sextant token create).")
		return
	}
	hash := delivery.HashSecret(secret)
	tok, err := c.src.TokenByHash(r.Context(), hash)
	switch {
	case errors.Is(err, delivery.ErrNotFound):
		refuse("Unknown token.")
		return
	case err != nil:
		c.log.ErrorContext(r.Context(), "console sign-in", slog.Any("err", err))
		refuse("The token store could not be read; try again.")
		return
	case !tok.RevokedAt.IsZero():
		refuse("This token is revoked.")
		return
	case !tok.Allows(delivery.ScopeRead):
		refuse("A " + string(tok.Scope) + " token cannot read; use a read, publish or rollout token.")
		return
	}
	id := randomID()
	now := c.clk.Now()
	c.mu.Lock()
	if len(c.sessions) >= c.cfg.MaxSessions {
		c.prune(now)
	}
	c.sessions[id] = session{hash: hash, expires: now.Add(c.cfg.SessionTTL)}
	c.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: id, Path: Prefix, MaxAge: int(c.cfg.SessionTTL / time.Second),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	if _, err := c.src.AppendAudit(r.Context(), delivery.AuditEvent{Who: tok.ID, What: "console.login"}); err != nil {
		c.log.ErrorContext(r.Context(), "audit append failed", slog.String("what", "console.login"), slog.Any("err", err))
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// prune drops expired sessions, then the one expiring first while still
// full. c.mu is held.
func (c *Console) prune(now time.Time) {
	for k, s := range c.sessions {
		if !now.Before(s.expires) {
			delete(c.sessions, k)
		}
	}
	for len(c.sessions) >= c.cfg.MaxSessions {
		var oldest string
		var at time.Time
		for k, s := range c.sessions {
			if oldest == "" || s.expires.Before(at) {
				oldest, at = k, s.expires
			}
		}
		delete(c.sessions, oldest)
	}
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "cross-site sign-out refused", http.StatusForbidden)
		return
	}
	if ck, err := r.Cookie(CookieName); err == nil {
		c.mu.Lock()
		delete(c.sessions, ck.Value)
		c.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: Prefix, MaxAge: -1,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
}

func randomID() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// short abbreviates a long identifier (a content hash) for display.
func short(s string) string {
	if len(s) > 19 {
		return s[:19] + "…"
	}
	return s
}

// wait sleeps d; false when ctx ended or the console closed first.
func (c *Console) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-c.done:
	}
	return false
}
