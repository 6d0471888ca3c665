package secagg

import (
	"errors"
	"fmt"
)

// Sentinel errors; they reach callers wrapped, so test with errors.Is.
var (
	// ErrMalformed: a message does not parse, breaks a bound, or has fields
	// inconsistent with its step (wrong vector length, a share for a
	// non-neighbour, both secrets of one client, …).
	ErrMalformed = errors.New("secagg: malformed message")
	// ErrWrongRound: a message of another round (a replay from an earlier one).
	ErrWrongRound = errors.New("secagg: message of another round")
	// ErrWrongStep: a message that does not belong to the current step.
	ErrWrongStep = errors.New("secagg: message out of step")
	// ErrReplay: a second message from the same sender in one step.
	ErrReplay = errors.New("secagg: duplicate message")
	// ErrUnknownSender: the sender is not a participant of this step.
	ErrUnknownSender = errors.New("secagg: unknown sender")
	// ErrTooFewClients: fewer clients remain than the threshold needs; the
	// round cannot finish and must be retried.
	ErrTooFewClients = errors.New("secagg: too few clients")
	// ErrDecrypt: a sealed share did not authenticate.
	ErrDecrypt = errors.New("secagg: sealed shares do not authenticate")
	// ErrBadKey: a public key is invalid or gives a low-order agreement.
	ErrBadKey = errors.New("secagg: bad public key")
	// ErrBadSignature: a signature of the consistency-check variant failed.
	ErrBadSignature = errors.New("secagg: bad signature")
	// ErrReconstruct: shares did not rebuild a secret.
	ErrReconstruct = errors.New("secagg: secret reconstruction failed")
	// ErrBothSecrets: the server would learn both the self-mask seed and the
	// mask key of one client, which reveals that client's input. Never allowed.
	ErrBothSecrets = errors.New("secagg: both secrets of one client requested")
	// ErrMayWrap: the encoding's range times the number of clients exceeds
	// what Z_{2^32} holds, so the sum could wrap.
	ErrMayWrap = errors.New("secagg: modular sum may wrap")
	// ErrNoInput: step 2 arrived before the client's input was set.
	ErrNoInput = errors.New("secagg: no input set")
)

// ProtocolError is a rejected message or a failed step: which step, which
// sender (ServerID for the server) and why.
type ProtocolError struct {
	Step   Step
	Sender uint32
	Err    error
}

func (e *ProtocolError) Error() string {
	who := fmt.Sprintf("client %d", e.Sender)
	if e.Sender == ServerID {
		who = "server"
	}
	return fmt.Sprintf("secagg step %v, %s: %v", e.Step, who, e.Err)
}

func (e *ProtocolError) Unwrap() error { return e.Err }

// Reject wraps err as a *ProtocolError for the message with header h.
func Reject(h Header, err error) error {
	return &ProtocolError{Step: h.Step, Sender: h.Sender, Err: err}
}
