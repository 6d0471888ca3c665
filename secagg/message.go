package secagg

import "crypto/ed25519"

// Header is carried by every message: the round, the sender (ServerID for
// the server) and the step the message belongs to. A server message of step
// s is what a client needs to perform step s; a client message of step s is
// that step's answer.
type Header struct {
	Round  uint64
	Sender uint32
	Step   Step
}

// Kind names a message type on the wire.
type Kind uint8

// The message kinds, with the direction and step of each.
const (
	KindAdvertiseKeys   Kind = 1 + iota // client → server, step 0
	KindKeyList                         // server → client, step 1
	KindEncryptedShares                 // client → server, step 1
	KindShareBundle                     // server → client, step 2
	KindMaskedInput                     // client → server, step 2
	KindSurvivorList                    // server → client, step 3
	KindConsistencySig                  // client → server, step 3
	KindUnmaskRequest                   // server → client, step 4
	KindUnmaskResponse                  // client → server, step 4
	kindEnd
)

var kindNames = [...]string{"", "AdvertiseKeys", "KeyList", "EncryptedShares", "ShareBundle",
	"MaskedInput", "SurvivorList", "ConsistencySig", "UnmaskRequest", "UnmaskResponse"}

func (k Kind) String() string {
	if k == 0 || k >= kindEnd {
		return "Kind(?)"
	}
	return kindNames[k]
}

// Step returns the step a message of kind k belongs to.
func (k Kind) Step() Step {
	return [...]Step{0, StepAdvertiseKeys, StepShareKeys, StepShareKeys, StepMaskedInput,
		StepMaskedInput, StepConsistencyCheck, StepConsistencyCheck, StepUnmask, StepUnmask}[k]
}

// FromServer reports whether messages of kind k are sent by the server.
func (k Kind) FromServer() bool { return k%2 == 0 }

// Message is one protocol message.
type Message interface {
	// Head returns the message's header.
	Head() Header
	// Kind returns the message's type.
	Kind() Kind
	// AppendBinary appends the wire encoding to b (encoding.BinaryAppender).
	AppendBinary(b []byte) ([]byte, error)
}

// Identity is the optional Ed25519 identity of the consistency-check
// variant: the client's public key and its signature over its round keys.
type Identity struct {
	Public ed25519.PublicKey // ed25519.PublicKeySize bytes
	Sig    []byte            // ed25519.SignatureSize bytes
}

// AdvertiseKeys is a client's step-0 message: its two fresh public keys.
type AdvertiseKeys struct {
	Header
	CPub, SPub [KeySize]byte
	Identity   *Identity // set only with Params.ConsistencyCheck
}

// PeerKeys is one neighbour's advertised keys, as relayed by the server.
type PeerKeys struct {
	ID         uint32
	CPub, SPub [KeySize]byte
	Identity   *Identity
}

// KeyList starts step 1 for one client: the keys of its neighbours that
// advertised (U1 ∩ N(u)), in ascending id order.
type KeyList struct {
	Header
	Peers []PeerKeys
}

// Sealed is one sealed pair of shares and the other end of it: the
// recipient in EncryptedShares, the sender in ShareBundle.
type Sealed struct {
	Peer uint32
	Box  [SealedSize]byte
}

// EncryptedShares is a client's step-1 answer: one box per neighbour, in
// ascending id order.
type EncryptedShares struct {
	Header
	Boxes []Sealed
}

// ShareBundle starts step 2 for one client: the boxes its neighbours that
// completed step 1 (U2 ∩ N(u)) sealed for it, in ascending sender order.
type ShareBundle struct {
	Header
	Boxes []Sealed
}

// MaskedInput is a client's step-2 answer: y_u, Params.Dim+1 words.
type MaskedInput struct {
	Header
	Vector []uint32
}

// SurvivorList starts step 3: the clients whose masked input arrived (U3),
// ascending.
type SurvivorList struct {
	Header
	Survivors []uint32
}

// ConsistencySig is a client's step-3 answer: its signature over U3.
type ConsistencySig struct {
	Header
	Sig [ed25519.SignatureSize]byte
}

// SignedBy is one client's consistency signature, relayed by the server.
type SignedBy struct {
	ID  uint32
	Sig [ed25519.SignatureSize]byte
}

// UnmaskRequest starts step 4: U3, and with the consistency check the
// signatures over it (ascending ids).
type UnmaskRequest struct {
	Header
	Survivors []uint32
	Sigs      []SignedBy
}

// OwnedShare is a share of client Of's secret, held by the message's sender.
type OwnedShare struct {
	Of uint32
	Y  [ShareChunks]uint64
}

// UnmaskResponse is a client's step-4 answer: the shares of b_v for
// neighbours that survived and of s_sk for neighbours that dropped, each
// list ascending by Of.
type UnmaskResponse struct {
	Header
	SelfMask []OwnedShare // shares of b_v, v ∈ U3
	MaskKey  []OwnedShare // shares of s_sk of v, v ∈ U2 \ U3
}

func (m *AdvertiseKeys) Head() Header   { return m.Header }
func (m *KeyList) Head() Header         { return m.Header }
func (m *EncryptedShares) Head() Header { return m.Header }
func (m *ShareBundle) Head() Header     { return m.Header }
func (m *MaskedInput) Head() Header     { return m.Header }
func (m *SurvivorList) Head() Header    { return m.Header }
func (m *ConsistencySig) Head() Header  { return m.Header }
func (m *UnmaskRequest) Head() Header   { return m.Header }
func (m *UnmaskResponse) Head() Header  { return m.Header }

func (*AdvertiseKeys) Kind() Kind   { return KindAdvertiseKeys }
func (*KeyList) Kind() Kind         { return KindKeyList }
func (*EncryptedShares) Kind() Kind { return KindEncryptedShares }
func (*ShareBundle) Kind() Kind     { return KindShareBundle }
func (*MaskedInput) Kind() Kind     { return KindMaskedInput }
func (*SurvivorList) Kind() Kind    { return KindSurvivorList }
func (*ConsistencySig) Kind() Kind  { return KindConsistencySig }
func (*UnmaskRequest) Kind() Kind   { return KindUnmaskRequest }
func (*UnmaskResponse) Kind() Kind  { return KindUnmaskResponse }
