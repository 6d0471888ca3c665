// Package client is the device half of secure aggregation (Bonawitz et al.
// 2017; SecAgg+, Bell et al. 2020): a Client turns the server's message of
// each step into its answer, keeps its secrets, and refuses anything that
// would let the server unmask its input. It links only package secagg and
// the standard library, so a phone build carries no server code.
//
// A round on the device:
//
//	c, err := client.New(client.Config{Params: p, ID: id})  // crypto/rand
//	adv, err := c.Start()                                    // send adv
//	_, err = c.SetInput(update)                              // any time before step 2
//	for each server message m { reply, err := c.Handle(m); send reply }
//
// Handle is not safe for concurrent use; the transport serializes it.
package client

import (
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"

	"github.com/sextant-ml/sextant/secagg"
)

// Config configures one client for one round.
type Config struct {
	// Params must equal the server's.
	Params secagg.Params
	// ID is the client's id in the round (non-zero, assigned by the
	// coordinator).
	ID uint32
	// Rand supplies every random byte; nil means crypto/rand.Reader. Tests
	// and simulations pass a seeded generator.
	Rand io.Reader
	// Identity is the client's Ed25519 identity key; required with
	// Params.ConsistencyCheck.
	Identity ed25519.PrivateKey
	// Trust vouches for a peer's identity key (the PKI of the active
	// variant, e.g. device attestation); required with
	// Params.ConsistencyCheck. A non-nil error rejects the peer.
	Trust func(id uint32, pub ed25519.PublicKey) error
}

// Client is one participant's state for one round.
type Client struct {
	p     secagg.Params
	id    uint32
	rand  io.Reader
	ident ed25519.PrivateKey
	trust func(uint32, ed25519.PublicKey) error

	next  secagg.Step // the step of the next server message
	cKey  *secagg.PrivateKey
	sKey  *secagg.PrivateKey
	bSeed [secagg.SecretSize]byte
	peers map[uint32]*secagg.PeerKeys // U1 ∩ N(u), from the KeyList
	boxes map[uint32]*[secagg.SealedSize]byte
	// boxKeys are the box keys (secagg.BoxKey of the c-key agreements)
	// with the neighbours, kept from step 1 to open their boxes in step 4.
	boxKeys map[uint32]cipher.AEAD
	// sAgreed are the s-key agreements with the neighbours, made in step
	// 1 in the same batch as the c-key ones and used in step 2.
	sAgreed map[uint32]agreed
	input   []uint32 // Dim+1 words; nil until set
	signed  []uint32 // U3 as signed in step 3
}

// agreed is one X25519 agreement's result (secagg.Agreements).
type agreed struct {
	secret []byte
	err    error
}

// New returns a client for one round.
func New(cfg Config) (*Client, error) {
	if cfg.ID == secagg.ServerID {
		return nil, fmt.Errorf("secagg client: id 0 is reserved for the server")
	}
	if cfg.Params.Threshold < 1 || cfg.Params.Dim < 1 || cfg.Params.Dim > secagg.MaxDim {
		return nil, fmt.Errorf("secagg client: bad params (threshold %d, dim %d)", cfg.Params.Threshold, cfg.Params.Dim)
	}
	if err := cfg.Params.Encoding.Validate(); err != nil {
		return nil, err
	}
	if cfg.Params.ConsistencyCheck && (len(cfg.Identity) != ed25519.PrivateKeySize || cfg.Trust == nil) {
		return nil, fmt.Errorf("secagg client: the consistency check needs an identity key and a Trust function")
	}
	r := cfg.Rand
	if r == nil {
		r = rand.Reader
	}
	return &Client{p: cfg.Params, id: cfg.ID, rand: r, ident: cfg.Identity, trust: cfg.Trust, next: secagg.StepAdvertiseKeys}, nil
}

// Step returns the step of the server message the client expects next.
func (c *Client) Step() secagg.Step { return c.next }

// SetInput encodes the update x (Params.Dim values) with Params.Encoding and
// returns how many coordinates were clipped; that count is summed securely
// with the update and reported by the server for the round.
func (c *Client) SetInput(x []float32) (clipped int, err error) {
	if len(x) != c.p.Dim {
		return 0, fmt.Errorf("secagg client: input of %d values, want %d", len(x), c.p.Dim)
	}
	if c.next > secagg.StepMaskedInput {
		return 0, fmt.Errorf("secagg client: input set after step 2")
	}
	v, n := c.p.Encoding.AppendEncode(make([]uint32, 0, c.p.Dim+1), x)
	c.input = append(v, uint32(n))
	return n, nil
}

// SetInputWithNoise is SetInput with integer noise added to each encoded
// coordinate (mod 2^32) before masking: distributed DP, where each client
// adds a share of the noise (Kairouz et al. 2021) so that no party ever sees
// an un-noised sum. noise has Params.Dim values in fixed-point units.
func (c *Client) SetInputWithNoise(x []float32, noise []int64) (clipped int, err error) {
	if len(noise) != c.p.Dim {
		return 0, fmt.Errorf("secagg client: %d noise values, want %d", len(noise), c.p.Dim)
	}
	return c.SetInputNoised(x, func(words []uint32) {
		for i, z := range noise {
			words[i] += uint32(z)
		}
	})
}

// SetInputNoised is SetInput followed by add on the Params.Dim encoded
// words (not the clipped count), before masking: add puts distributed-DP
// noise into them in place, mod 2^32, with no noise vector of its own.
func (c *Client) SetInputNoised(x []float32, add func(words []uint32)) (clipped int, err error) {
	if clipped, err = c.SetInput(x); err != nil {
		return 0, err
	}
	add(c.input[:c.p.Dim])
	return clipped, nil
}

// SetEncodedInput sets an input already in Z_{2^32} (Params.Dim words, no
// clipping); the clipped count is 0.
func (c *Client) SetEncodedInput(units []uint32) error {
	if len(units) != c.p.Dim {
		return fmt.Errorf("secagg client: input of %d words, want %d", len(units), c.p.Dim)
	}
	if c.next > secagg.StepMaskedInput {
		return fmt.Errorf("secagg client: input set after step 2")
	}
	c.input = append(append(make([]uint32, 0, c.p.Dim+1), units...), 0)
	return nil
}

// Start performs step 0: it draws the two key pairs and returns the
// AdvertiseKeys message.
func (c *Client) Start() (*secagg.AdvertiseKeys, error) {
	h := secagg.Header{Round: c.p.Round, Sender: c.id, Step: secagg.StepAdvertiseKeys}
	if c.next != secagg.StepAdvertiseKeys {
		return nil, secagg.Reject(h, fmt.Errorf("%w: already started", secagg.ErrWrongStep))
	}
	var err error
	if c.cKey, err = secagg.NewKey(c.rand); err != nil {
		return nil, err
	}
	if c.sKey, err = secagg.NewKey(c.rand); err != nil {
		return nil, err
	}
	m := &secagg.AdvertiseKeys{Header: h}
	m.CPub, m.SPub = c.cKey.Public(), c.sKey.Public()
	if c.p.ConsistencyCheck {
		m.Identity = &secagg.Identity{
			Public: c.ident.Public().(ed25519.PublicKey),
			Sig:    secagg.SignKeys(c.ident, c.p.Round, c.id, m.CPub[:], m.SPub[:]),
		}
	}
	c.next = secagg.StepShareKeys
	return m, nil
}

// Handle performs the step a server message starts and returns the answer.
// A message of another round, not from the server, of an earlier step
// (ErrReplay) or a later one (ErrWrongStep) is rejected without changing
// the client's state, as is one that fails a check of its step.
func (c *Client) Handle(m secagg.Message) (secagg.Message, error) {
	h := m.Head()
	var err error
	switch {
	case h.Round != c.p.Round:
		err = fmt.Errorf("%w: round %d, this is %d", secagg.ErrWrongRound, h.Round, c.p.Round)
	case h.Sender != secagg.ServerID || !m.Kind().FromServer():
		err = fmt.Errorf("%w: %v from %d is not a server message", secagg.ErrUnknownSender, m.Kind(), h.Sender)
	case h.Step != m.Kind().Step():
		err = fmt.Errorf("%w: %v in step %v", secagg.ErrMalformed, m.Kind(), h.Step)
	case h.Step < c.next:
		err = fmt.Errorf("%w: step %v already done", secagg.ErrReplay, h.Step)
	case h.Step != c.next:
		err = fmt.Errorf("%w: got %v, expecting step %v", secagg.ErrWrongStep, m.Kind(), c.next)
	}
	if err != nil {
		return nil, secagg.Reject(h, err)
	}
	var out secagg.Message
	switch m := m.(type) {
	case *secagg.KeyList:
		out, err = c.shareKeys(m)
	case *secagg.ShareBundle:
		out, err = c.maskInput(m)
	case *secagg.SurvivorList:
		out, err = c.signSurvivors(m)
	case *secagg.UnmaskRequest:
		out, err = c.unmask(m)
	default:
		err = fmt.Errorf("%w: unexpected %v", secagg.ErrWrongStep, m.Kind())
	}
	if err != nil {
		return nil, secagg.Reject(h, err)
	}
	return out, nil
}

func (c *Client) header(s secagg.Step) secagg.Header {
	return secagg.Header{Round: c.p.Round, Sender: c.id, Step: s}
}
