package verify

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// The TUF metadata this package reads (TUF specification §4), keeping only
// the fields it checks.

type envelope struct {
	Signed     json.RawMessage `json:"signed"`
	Signatures []signature     `json:"signatures"`
}

type signature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

type key struct {
	KeyType string `json:"keytype"`
	Scheme  string `json:"scheme"`
	KeyVal  struct {
		Public string `json:"public"`
	} `json:"keyval"`
}

type role struct {
	KeyIDs    []string `json:"keyids"`
	Threshold int      `json:"threshold"`
}

// header is what every role's signed part has.
type header struct {
	Type    string    `json:"_type"`
	Version int64     `json:"version"`
	Expires time.Time `json:"expires"`
}

type rootMeta struct {
	header
	Keys  map[string]key  `json:"keys"`
	Roles map[string]role `json:"roles"`
}

type metaFile struct {
	Version int64             `json:"version"`
	Length  int64             `json:"length"`
	Hashes  map[string]string `json:"hashes"`
}

// fileMeta is timestamp and snapshot.
type fileMeta struct {
	header
	Meta map[string]metaFile `json:"meta"`
}

type targetFile struct {
	Length int64             `json:"length"`
	Hashes map[string]string `json:"hashes"`
	Custom json.RawMessage   `json:"custom"`
}

type delegatedRole struct {
	Name        string   `json:"name"`
	KeyIDs      []string `json:"keyids"`
	Threshold   int      `json:"threshold"`
	Terminating bool     `json:"terminating"`
	Paths       []string `json:"paths"`
}

type targetsMeta struct {
	header
	Targets     map[string]targetFile `json:"targets"`
	Delegations *struct {
		Keys  map[string]key  `json:"keys"`
		Roles []delegatedRole `json:"roles"`
	} `json:"delegations"`
	// Device is set in director documents: the device they are for.
	Device string `json:"device"`
}

// parse decodes a document's envelope and its signed part into v (whose
// header it checks against wantType).
func parse(data []byte, wantType string, v interface{ hdr() *header }) (*envelope, error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fail(ErrMalformed, fmt.Sprintf("%s: %v", wantType, err))
	}
	if len(env.Signed) == 0 {
		return nil, fail(ErrMalformed, wantType+": no signed part")
	}
	if err := json.Unmarshal(env.Signed, v); err != nil {
		return nil, fail(ErrMalformed, fmt.Sprintf("%s: %v", wantType, err))
	}
	h := v.hdr()
	if h.Type != wantType {
		return nil, fail(ErrMalformed, fmt.Sprintf("type %q, want %q", h.Type, wantType))
	}
	if h.Version < 1 {
		return nil, fail(ErrMalformed, fmt.Sprintf("%s: version %d", wantType, h.Version))
	}
	return &env, nil
}

func (h *header) hdr() *header { return h }

// verifySignatures checks that env carries valid ed25519 signatures by at
// least r.Threshold distinct keys of r.
func verifySignatures(env *envelope, what string, keys map[string]key, r role) error {
	if r.Threshold < 1 {
		return fail(ErrSignature, fmt.Sprintf("%s: threshold %d", what, r.Threshold))
	}
	msg, err := canonical(env.Signed)
	if err != nil {
		return fail(ErrMalformed, fmt.Sprintf("%s: canonical form: %v", what, err))
	}
	sigs := make(map[string]string, len(env.Signatures))
	for _, s := range env.Signatures {
		sigs[s.KeyID] = s.Sig
	}
	counted := map[string]bool{} // by public key, so one key under two IDs counts once
	for _, id := range r.KeyIDs {
		k, ok := keys[id]
		if !ok || k.KeyType != "ed25519" || k.Scheme != "ed25519" {
			continue
		}
		pub, err := hex.DecodeString(k.KeyVal.Public)
		if err != nil || len(pub) != ed25519.PublicKeySize || counted[string(pub)] {
			continue
		}
		sig, err := hex.DecodeString(sigs[id])
		if err != nil || len(sig) != ed25519.SignatureSize {
			continue
		}
		if ed25519.Verify(pub, msg, sig) {
			counted[string(pub)] = true
		}
	}
	if len(counted) < r.Threshold {
		return fail(ErrSignature, fmt.Sprintf("%s: %d of %d signatures", what, len(counted), r.Threshold))
	}
	return nil
}
