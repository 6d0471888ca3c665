package secagg

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
)

// decoder reads a message body; the first error sticks and later reads
// return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.fail("truncated: need %d bytes, have %d", n, len(d.b))
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) u8() uint8 {
	if p := d.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if p := d.take(4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if p := d.take(8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

// count reads a list length and checks it against limit and against the
// bytes left for elements of elemSize, so nothing is allocated for a count
// the input cannot back.
func (d *decoder) count(limit, elemSize int) int {
	n := int(d.u32())
	if d.err != nil {
		return 0
	}
	if n > limit {
		d.fail("list of %d exceeds the limit %d", n, limit)
		return 0
	}
	if n*elemSize > len(d.b) {
		d.fail("list of %d needs %d bytes, have %d", n, n*elemSize, len(d.b))
		return 0
	}
	return n
}

// id reads the i-th id of an ascending list.
func (d *decoder) id(i int, prev uint32) uint32 {
	id := d.u32()
	if d.err == nil {
		if err := ascending(i, prev, id); err != nil {
			d.err = err
		}
	}
	return id
}

func (d *decoder) identity() *Identity {
	switch d.u8() {
	case 0:
		return nil
	case 1:
		p := d.take(identSize)
		if p == nil {
			return nil
		}
		return &Identity{
			Public: ed25519.PublicKey(append([]byte(nil), p[:ed25519.PublicKeySize]...)),
			Sig:    append([]byte(nil), p[ed25519.PublicKeySize:]...),
		}
	default:
		d.fail("identity flag not 0 or 1")
		return nil
	}
}

func (d *decoder) sealed(lim Limits) []Sealed {
	n := d.count(lim.MaxPeers, sealedSize)
	if n == 0 {
		return nil
	}
	out := make([]Sealed, n)
	for i := range out {
		var prev uint32
		if i > 0 {
			prev = out[i-1].Peer
		}
		out[i].Peer = d.id(i, prev)
		copy(out[i].Box[:], d.take(SealedSize))
	}
	return out
}

func (d *decoder) ids(lim Limits) []uint32 {
	n := d.count(lim.MaxPeers, 4)
	if n == 0 {
		return nil
	}
	out := make([]uint32, n)
	for i := range out {
		var prev uint32
		if i > 0 {
			prev = out[i-1]
		}
		out[i] = d.id(i, prev)
	}
	return out
}

func (d *decoder) owned(lim Limits) []OwnedShare {
	n := d.count(lim.MaxPeers, ownedSize)
	if n == 0 {
		return nil
	}
	out := make([]OwnedShare, n)
	for i := range out {
		var prev uint32
		if i > 0 {
			prev = out[i-1].Of
		}
		out[i].Of = d.id(i, prev)
		for c := range out[i].Y {
			out[i].Y[c] = d.u64()
			if out[i].Y[c] >= fieldP {
				d.fail("share outside the field")
			}
		}
	}
	return out
}

// Unmarshal parses one message, checking every bound of lim (zero: the hard
// bounds) before allocating, and rejects anything AppendBinary would not
// have produced. Errors wrap ErrMalformed. The result does not alias b.
func Unmarshal(b []byte, lim Limits) (Message, error) {
	return UnmarshalWith(b, lim, nil)
}

// UnmarshalWith is Unmarshal that decodes a MaskedInput's vector into vec
// when it fits vec's capacity (the result's Vector then aliases vec), so
// a server that sums each vector and keeps none reuses one buffer instead
// of allocating Dim+1 words per client.
func UnmarshalWith(b []byte, lim Limits, vec []uint32) (Message, error) {
	lim = lim.norm()
	d := &decoder{b: b}
	magic := d.take(4)
	if magic == nil || magic[0] != 'S' || magic[1] != 'A' || magic[2] != wireVersion {
		return nil, fmt.Errorf("%w: not a secagg v%d message", ErrMalformed, wireVersion)
	}
	k := Kind(magic[3])
	if k == 0 || k >= kindEnd {
		return nil, fmt.Errorf("%w: unknown kind %d", ErrMalformed, k)
	}
	h := Header{Round: d.u64(), Sender: d.u32(), Step: Step(d.u8())}
	if d.err != nil {
		return nil, d.err
	}
	if h.Step != k.Step() {
		return nil, fmt.Errorf("%w: %v in step %v", ErrMalformed, k, h.Step)
	}
	if k.FromServer() != (h.Sender == ServerID) {
		return nil, fmt.Errorf("%w: %v from sender %d", ErrMalformed, k, h.Sender)
	}
	var m Message
	switch k {
	case KindAdvertiseKeys:
		a := &AdvertiseKeys{Header: h}
		copy(a.CPub[:], d.take(KeySize))
		copy(a.SPub[:], d.take(KeySize))
		a.Identity = d.identity()
		m = a
	case KindKeyList:
		l := &KeyList{Header: h}
		if n := d.count(lim.MaxPeers, peerSize); n > 0 {
			l.Peers = make([]PeerKeys, n)
			for i := range l.Peers {
				p := &l.Peers[i]
				var prev uint32
				if i > 0 {
					prev = l.Peers[i-1].ID
				}
				p.ID = d.id(i, prev)
				copy(p.CPub[:], d.take(KeySize))
				copy(p.SPub[:], d.take(KeySize))
				p.Identity = d.identity()
			}
		}
		m = l
	case KindEncryptedShares:
		m = &EncryptedShares{Header: h, Boxes: d.sealed(lim)}
	case KindShareBundle:
		m = &ShareBundle{Header: h, Boxes: d.sealed(lim)}
	case KindMaskedInput:
		v := &MaskedInput{Header: h}
		if n := d.count(lim.MaxVector, 4); n > 0 {
			if p := d.take(4 * n); len(p) == 4*n {
				if cap(vec) >= n {
					v.Vector = vec[:n]
				} else {
					v.Vector = make([]uint32, n)
				}
				readWords(v.Vector, p)
			}
		}
		m = v
	case KindSurvivorList:
		m = &SurvivorList{Header: h, Survivors: d.ids(lim)}
	case KindConsistencySig:
		c := &ConsistencySig{Header: h}
		copy(c.Sig[:], d.take(ed25519.SignatureSize))
		m = c
	case KindUnmaskRequest:
		r := &UnmaskRequest{Header: h, Survivors: d.ids(lim)}
		if n := d.count(lim.MaxPeers, signedSize); n > 0 {
			r.Sigs = make([]SignedBy, n)
			for i := range r.Sigs {
				var prev uint32
				if i > 0 {
					prev = r.Sigs[i-1].ID
				}
				r.Sigs[i].ID = d.id(i, prev)
				copy(r.Sigs[i].Sig[:], d.take(ed25519.SignatureSize))
			}
		}
		m = r
	case KindUnmaskResponse:
		m = &UnmaskResponse{Header: h, SelfMask: d.owned(lim), MaskKey: d.owned(lim)}
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(d.b))
	}
	return m, nil
}
