package secagg

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
)

// Hard bounds of the wire format; Limits may only tighten them.
const (
	// MaxClients bounds every list of clients in a message.
	MaxClients = 1 << 17
	// MaxDim bounds Params.Dim (the masked vector has one more word).
	MaxDim = 1 << 26
)

// Limits bound what Unmarshal accepts before it allocates anything. The zero
// value means the hard bounds; a server should pass its round's n and Dim+1.
type Limits struct {
	MaxPeers  int // longest list of clients
	MaxVector int // longest masked vector, in words
}

func (l Limits) norm() Limits {
	if l.MaxPeers <= 0 || l.MaxPeers > MaxClients {
		l.MaxPeers = MaxClients
	}
	if l.MaxVector <= 0 || l.MaxVector > MaxDim+1 {
		l.MaxVector = MaxDim + 1
	}
	return l
}

// Wire layout (little-endian): "SA", version 1, kind, round u64, sender u32,
// step u8, then the body of the kind. Lists are a u32 count then fixed-size
// elements, ids strictly ascending; the optional identity is a 0/1 flag.
// Every encoding is canonical: Unmarshal accepts exactly what AppendBinary
// produces, so re-encoding a parsed message gives back the same bytes.
const (
	wireVersion = 1
	headerSize  = 17
	identSize   = ed25519.PublicKeySize + ed25519.SignatureSize
	peerSize    = 4 + 2*KeySize + 1
	sealedSize  = 4 + SealedSize
	ownedSize   = 4 + 8*ShareChunks
	signedSize  = 4 + ed25519.SignatureSize
)

func appendHeader(b []byte, k Kind, h Header) ([]byte, error) {
	if h.Step != k.Step() {
		return b, fmt.Errorf("%w: %v in step %v", ErrMalformed, k, h.Step)
	}
	if k.FromServer() != (h.Sender == ServerID) {
		return b, fmt.Errorf("%w: %v from sender %d", ErrMalformed, k, h.Sender)
	}
	b = append(b, 'S', 'A', wireVersion, byte(k))
	b = binary.LittleEndian.AppendUint64(b, h.Round)
	b = binary.LittleEndian.AppendUint32(b, h.Sender)
	return append(b, byte(h.Step)), nil
}

func appendIdentity(b []byte, id *Identity) ([]byte, error) {
	if id == nil {
		return append(b, 0), nil
	}
	if len(id.Public) != ed25519.PublicKeySize || len(id.Sig) != ed25519.SignatureSize {
		return b, fmt.Errorf("%w: identity sizes %d, %d", ErrMalformed, len(id.Public), len(id.Sig))
	}
	b = append(b, 1)
	b = append(b, id.Public...)
	return append(b, id.Sig...), nil
}

func ascending(i int, prev, id uint32) error {
	if id == 0 || (i > 0 && id <= prev) {
		return fmt.Errorf("%w: ids not ascending and non-zero at %d", ErrMalformed, i)
	}
	return nil
}

func appendCount(b []byte, n int) []byte { return binary.LittleEndian.AppendUint32(b, uint32(n)) }

func appendIDs(b []byte, ids []uint32) ([]byte, error) {
	b = appendCount(b, len(ids))
	for i, id := range ids {
		if i > 0 {
			if err := ascending(i, ids[i-1], id); err != nil {
				return b, err
			}
		} else if err := ascending(0, 0, id); err != nil {
			return b, err
		}
		b = binary.LittleEndian.AppendUint32(b, id)
	}
	return b, nil
}

func appendSealed(b []byte, boxes []Sealed) ([]byte, error) {
	b = appendCount(b, len(boxes))
	for i := range boxes {
		var prev uint32
		if i > 0 {
			prev = boxes[i-1].Peer
		}
		if err := ascending(i, prev, boxes[i].Peer); err != nil {
			return b, err
		}
		b = binary.LittleEndian.AppendUint32(b, boxes[i].Peer)
		b = append(b, boxes[i].Box[:]...)
	}
	return b, nil
}

func appendOwned(b []byte, s []OwnedShare) ([]byte, error) {
	b = appendCount(b, len(s))
	for i := range s {
		var prev uint32
		if i > 0 {
			prev = s[i-1].Of
		}
		if err := ascending(i, prev, s[i].Of); err != nil {
			return b, err
		}
		b = binary.LittleEndian.AppendUint32(b, s[i].Of)
		for _, y := range s[i].Y {
			if y >= fieldP {
				return b, fmt.Errorf("%w: share outside the field", ErrMalformed)
			}
			b = binary.LittleEndian.AppendUint64(b, y)
		}
	}
	return b, nil
}

// AppendBinary implements Message.
func (m *AdvertiseKeys) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendHeader(b, m.Kind(), m.Header)
	if err != nil {
		return b, err
	}
	b = append(b, m.CPub[:]...)
	b = append(b, m.SPub[:]...)
	return appendIdentity(b, m.Identity)
}

// AppendBinary implements Message.
func (m *KeyList) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendHeader(b, m.Kind(), m.Header)
	if err != nil {
		return b, err
	}
	b = appendCount(b, len(m.Peers))
	for i := range m.Peers {
		p := &m.Peers[i]
		var prev uint32
		if i > 0 {
			prev = m.Peers[i-1].ID
		}
		if err := ascending(i, prev, p.ID); err != nil {
			return b, err
		}
		b = binary.LittleEndian.AppendUint32(b, p.ID)
		b = append(b, p.CPub[:]...)
		b = append(b, p.SPub[:]...)
		if b, err = appendIdentity(b, p.Identity); err != nil {
			return b, err
		}
	}
	return b, nil
}

// AppendBinary implements Message.
func (m *EncryptedShares) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendHeader(b, m.Kind(), m.Header)
	if err != nil {
		return b, err
	}
	return appendSealed(b, m.Boxes)
}

// AppendBinary implements Message.
func (m *ShareBundle) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendHeader(b, m.Kind(), m.Header)
	if err != nil {
		return b, err
	}
	return appendSealed(b, m.Boxes)
}

// AppendBinary implements Message.
func (m *MaskedInput) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendHeader(b, m.Kind(), m.Header)
	if err != nil {
		return b, err
	}
	b = appendCount(b, len(m.Vector))
	return appendWords(b, m.Vector), nil
}

// AppendBinary implements Message.
func (m *SurvivorList) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendHeader(b, m.Kind(), m.Header)
	if err != nil {
		return b, err
	}
	return appendIDs(b, m.Survivors)
}

// AppendBinary implements Message.
func (m *ConsistencySig) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendHeader(b, m.Kind(), m.Header)
	if err != nil {
		return b, err
	}
	return append(b, m.Sig[:]...), nil
}

// AppendBinary implements Message.
func (m *UnmaskRequest) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendHeader(b, m.Kind(), m.Header)
	if err != nil {
		return b, err
	}
	if b, err = appendIDs(b, m.Survivors); err != nil {
		return b, err
	}
	b = appendCount(b, len(m.Sigs))
	for i := range m.Sigs {
		var prev uint32
		if i > 0 {
			prev = m.Sigs[i-1].ID
		}
		if err := ascending(i, prev, m.Sigs[i].ID); err != nil {
			return b, err
		}
		b = binary.LittleEndian.AppendUint32(b, m.Sigs[i].ID)
		b = append(b, m.Sigs[i].Sig[:]...)
	}
	return b, nil
}

// AppendBinary implements Message.
func (m *UnmaskResponse) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendHeader(b, m.Kind(), m.Header)
	if err != nil {
		return b, err
	}
	if b, err = appendOwned(b, m.SelfMask); err != nil {
		return b, err
	}
	return appendOwned(b, m.MaskKey)
}

func growBytes(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		return nb
	}
	return b
}

// Marshal returns the wire encoding of m.
func Marshal(m Message) ([]byte, error) { return m.AppendBinary(nil) }
