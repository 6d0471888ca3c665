package server

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/signing"
)

// bearer returns the request's bearer secret, or an ErrUnauthorized.
func bearer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" || len(secret) > 512 {
		return "", delivery.Errorf(delivery.ErrUnauthorized, "a bearer token is required")
	}
	return strings.TrimSpace(secret), nil
}

// tokenFor authenticates the request's bearer token.
func (s *Server) tokenFor(r *http.Request) (delivery.Token, error) {
	secret, err := bearer(r)
	if err != nil {
		return delivery.Token{}, err
	}
	tok, err := s.store.TokenByHash(r.Context(), delivery.HashSecret(secret))
	if errors.Is(err, delivery.ErrNotFound) {
		return delivery.Token{}, delivery.Errorf(delivery.ErrUnauthorized, "unknown token")
	}
	if err != nil {
		return delivery.Token{}, err
	}
	if !tok.RevokedAt.IsZero() {
		return delivery.Token{}, delivery.Errorf(delivery.ErrUnauthorized, "token revoked")
	}
	return tok, nil
}

func rateLimited(wait time.Duration) error {
	return &httpError{code: codeRateLimited, msg: "too many requests", retryAfter: wait}
}

// call is an authenticated admin call: the handler names what it touched
// for the audit log.
type call struct {
	token  delivery.Token
	target string
}

// admin wraps an admin handler: bearer token, rate limit, scope, and an
// audit entry (who, what, target, outcome) for every authenticated call.
func (s *Server) admin(scope delivery.Scope, action string, h func(http.ResponseWriter, *http.Request, *call) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := s.tokenFor(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if ok, wait := s.tokenLimit.allow(tok.ID); !ok {
			s.writeError(w, r, rateLimited(wait))
			return
		}
		c := &call{token: tok}
		if !tok.Allows(scope) {
			err = delivery.Errorf(delivery.ErrForbidden, "a %s token may not %s (needs scope %s)", tok.Scope, action, scope)
		} else {
			err = h(w, r, c)
		}
		if err != nil {
			s.writeError(w, r, err)
		}
		s.audit(r, c, action, err)
	})
}

// audit appends an admin call to the audit log. A failure to write it is
// logged: the call has happened either way.
func (s *Server) audit(r *http.Request, c *call, action string, err error) {
	outcome := "ok"
	if err != nil {
		outcome, _ = codeOf(err)
	}
	details, _ := json.Marshal(map[string]string{"outcome": outcome})
	if _, aerr := s.store.AppendAudit(r.Context(), delivery.AuditEvent{
		Who: c.token.ID, What: action, Target: c.target, Details: details,
	}); aerr != nil {
		s.log.ErrorContext(r.Context(), "audit append failed", slog.String("what", action), slog.Any("err", aerr))
	}
}

// enroll wraps the registration handler: an unrevoked enrollment-scoped
// token, rate-limited per token.
func (s *Server) enroll(h func(http.ResponseWriter, *http.Request, delivery.Token) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := s.tokenFor(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if ok, wait := s.enrollLimit.allow(tok.ID); !ok {
			s.writeError(w, r, rateLimited(wait))
			return
		}
		if !tok.Allows(delivery.ScopeEnroll) {
			s.writeError(w, r, delivery.Errorf(delivery.ErrForbidden, "registering a device needs an enroll token"))
			return
		}
		if err := h(w, r, tok); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// credentialDevice authenticates the request's device credential: the
// enrolled device it belongs to, from the cache, else from the
// credential's own MAC (signing.DeviceCredentials: no database round
// trip; the device's row is written, or re-created, by its check-in's
// batched stamp), else from the store.
func (s *Server) credentialDevice(r *http.Request) (*cachedDevice, error) {
	secret, err := bearer(r)
	if err != nil {
		return nil, err
	}
	hash := delivery.HashSecret(secret)
	if d := s.devices.get(hash); d != nil {
		return d, nil
	}
	if id, ok := s.sign.Director().Credentials().Verify(secret); ok {
		return s.devices.putVerified(hash, id), nil
	}
	dev, err := s.loadDevice(r.Context(), hash) // devload.go
	if errors.Is(err, delivery.ErrNotFound) {
		return nil, delivery.Errorf(delivery.ErrUnauthorized, "unknown device credential")
	}
	if err != nil {
		return nil, err
	}
	return s.devices.put(hash, dev), nil
}

// pathDevice authenticates the request's device credential, which must
// belong to the device the path names.
func (s *Server) pathDevice(r *http.Request) (*cachedDevice, error) {
	d, err := s.credentialDevice(r)
	if err != nil {
		return nil, err
	}
	if d.id != r.PathValue("id") {
		return nil, delivery.Errorf(delivery.ErrForbidden, "the credential belongs to another device")
	}
	return d, nil
}

// device wraps a device handler: the device's credential, which must belong
// to the device the path names, rate-limited per device.
func (s *Server) device(h func(http.ResponseWriter, *http.Request, *cachedDevice) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := s.pathDevice(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if ok, wait := s.deviceLimit.allow(d.id); !ok {
			s.writeError(w, r, rateLimited(wait))
			return
		}
		if err := h(w, r, d); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// deviceCache remembers authenticated devices by credential hash, and what
// each last reported, so an unchanged check-in touches the store not at
// all. At most max entries are kept; when full, an arbitrary one is
// dropped (it is reloaded from the store on its next call).
type deviceCache struct {
	max int
	// mu guards m.
	mu sync.Mutex
	m  map[string]*cachedDevice
}

// cachedDevice is a device's cached state; its mutex guards the fields
// after it.
type cachedDevice struct {
	id string
	// hash is the credential's hash, which a batched stamp needs to
	// re-create a missing row.
	hash string
	// verified: authenticated by the credential's MAC, without reading
	// the device's row (which may not exist yet).
	verified bool

	mu      sync.Mutex
	attrs   string    // the attributes' canonical JSON, as stored
	stamped time.Time // the store's last check-in time
	// assignment is what the last check-in assigned (Device "" before
	// one): the director document the device then fetches.
	assignment signing.Assignment
}

func newDeviceCache(max int) *deviceCache {
	if max <= 0 {
		max = 100_000
	}
	return &deviceCache{max: max, m: map[string]*cachedDevice{}}
}

func (c *deviceCache) get(hash string) *cachedDevice {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[hash]
}

func (c *deviceCache) put(hash string, d delivery.Device) *cachedDevice {
	attrs, _ := json.Marshal(d.Attributes)
	return c.insert(hash, &cachedDevice{id: d.ID, hash: hash, attrs: string(attrs), stamped: d.LastCheckIn})
}

// putVerified caches a device authenticated by its credential's MAC: what
// it last reported is unknown, so its first check-in stamps it.
func (c *deviceCache) putVerified(hash, id string) *cachedDevice {
	return c.insert(hash, &cachedDevice{id: id, hash: hash, verified: true})
}

// insert caches cd under hash unless another is there, which it returns.
func (c *deviceCache) insert(hash string, cd *cachedDevice) *cachedDevice {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.m[hash]; cur != nil {
		return cur
	}
	if len(c.m) >= c.max {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[hash] = cd
	return cd
}
