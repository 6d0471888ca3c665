package verify

import (
	"crypto/sha256"
	"runtime"
	"sync"
	"weak"
)

// Most updates find nothing new: the device's stored documents and the
// fetched timestamp and director document are the bytes it verified last
// time. Caches make such an update cheap without changing what it checks.
//
// Parsing is a pure function of a document's bytes, so parses are shared:
// parsed keeps one read-only parse per (role type, SHA-256 of the bytes),
// held weakly, for every client in the process (a simulator's 10⁵ phones
// that hold the same image metadata share one copy of it).
//
// A signature check is a pure function of the signed bytes and the key set
// and threshold it is checked against, so each Client keeps a sigMemo of
// the (document, signer, role) triples it verified in its last update. The
// document and the signer are identified by the pointers of their shared
// parses, which stand for their exact bytes (the memo holds them, so their
// memory cannot be reused for other bytes); the role's keys and threshold
// are read from the signer. The director document, which is the device's
// own, is not shared: the Client keeps the one it last verified with its
// SHA-256 and the root it was checked under (Client.directorDoc). Every
// other check (versions, rollback, expiry against the clock, lengths and
// hashes listed by the parent, the device binding, agreement) runs on every
// update as before.

// parsedKey names a shared parse: the role type it was parsed as and the
// SHA-256 of the document's bytes.
type parsedKey struct {
	typ string
	sum [32]byte
}

// shared is one document's parse. Nothing may modify it once it is
// published in parsed.
type shared[T any] struct {
	env    envelope
	signed T
}

// parsed maps a parsedKey to a weak.Pointer[shared[T]].
var parsed sync.Map

// parseShared is parse through the process-wide cache of parses: the same
// bytes parsed as the same type return the same pointers while anyone holds
// them. Failed parses are not cached. With cache false it parses afresh.
// Callers must not modify data afterwards (the key is its hash), nor the
// parse it returns.
func parseShared[T any, PT interface {
	*T
	hdr() *header
}](data []byte, wantType string, cache bool) (*envelope, PT, error) {
	if !cache {
		s := new(shared[T])
		env, err := parse(data, wantType, PT(&s.signed))
		if err != nil {
			return nil, nil, err
		}
		s.env = *env
		return &s.env, &s.signed, nil
	}
	k := parsedKey{typ: wantType, sum: sha256.Sum256(data)}
	if v, ok := parsed.Load(k); ok {
		if wp, ok := v.(weak.Pointer[shared[T]]); ok {
			if s := wp.Value(); s != nil {
				return &s.env, &s.signed, nil
			}
		}
	}
	s := new(shared[T])
	env, err := parse(data, wantType, PT(&s.signed))
	if err != nil {
		return nil, nil, err
	}
	s.env = *env
	wp := weak.Make(s)
	parsed.Store(k, wp)
	runtime.AddCleanup(s, func(k parsedKey) { parsed.CompareAndDelete(k, wp) }, k)
	return &s.env, &s.signed, nil
}

// sigKey is one signature check that passed: document env met the
// threshold of role as signer defines it (a root's role, or a delegation
// of a targets document).
type sigKey struct {
	env    *envelope
	signer any
	role   string
}

// sigMemo is the signature checks a client passed in its last update and
// in the current one. It holds the shared parses it names, so they stay
// cached between updates; it is bounded by the documents one update uses.
type sigMemo struct {
	last, cur []sigKey
	// checks counts the signature checks run (not answered by the memo),
	// for tests.
	checks int
}

// begin starts an update: what the last update verified is kept only if
// this one uses it again.
func (m *sigMemo) begin() {
	m.last, m.cur = m.cur, make([]sigKey, 0, len(m.cur))
}

// verified reports whether k passed before, carrying it into this update.
func (m *sigMemo) verified(k sigKey) bool {
	for _, e := range m.cur {
		if e == k {
			return true
		}
	}
	for _, e := range m.last {
		if e == k {
			m.cur = append(m.cur, k)
			return true
		}
	}
	return false
}

// passed records a check that passed.
func (m *sigMemo) passed(k sigKey) { m.cur = append(m.cur, k) }

// end finishes an update: only what it used is kept.
func (m *sigMemo) end() {
	m.last = nil
}
