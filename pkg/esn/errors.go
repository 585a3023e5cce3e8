package esn

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Callers branch with errors.Is.
var (
	// ErrNotForUs is returned by Receive for a stanza that is not part of
	// the stanza-session protocol (no <thread/>, or neither a negotiation
	// form nor an encrypted <c/>). The caller may handle it otherwise.
	ErrNotForUs = errors.New("esn: stanza is not part of a stanza session")
	// ErrUnknownThread is returned for a session stanza whose thread no
	// session knows (digest §2.11: ignored, except new requests).
	ErrUnknownThread = errors.New("esn: stanza for an unknown thread")
	// ErrWrongSender is returned when a stanza for a known thread comes
	// from another full JID than the one the session is bound to
	// ([XEP-0155] §6: the session is bound to the responder's full JID).
	ErrWrongSender = errors.New("esn: stanza from a JID the session is not bound to")
	// ErrNotEstablished is returned by Encrypt before negotiation completed.
	ErrNotEstablished = errors.New("esn: session is not established")
	// ErrSessionEnded is returned by operations on a terminated session.
	ErrSessionEnded = errors.New("esn: session has ended")
	// ErrStanzaNotAgreed is returned when encrypting a stanza type that
	// the negotiated "stanzas" field does not include.
	ErrStanzaNotAgreed = errors.New("esn: stanza type not agreed for this session")
	// ErrTooManySessions is returned when the manager's session bound is
	// reached.
	ErrTooManySessions = errors.New("esn: too many sessions")
	// ErrPlaintext is returned for a clear-text stanza of an agreed type
	// received inside an established ESession (digest §7.1 hardening).
	ErrPlaintext = errors.New("esn: unencrypted stanza inside an encrypted session")
	// ErrTimeout is the reason of a session ended by [Manager.Tick].
	ErrTimeout = errors.New("esn: peer did not answer in time")
	// ErrDeclined is wrapped by the reason of a session the peer declined.
	ErrDeclined = errors.New("esn: peer declined the session")
	// ErrRekeyTooSoon is returned by Rekey before rekey_freq stanzas were
	// exchanged since the last key exchange ([XEP-0200] §9.1).
	ErrRekeyTooSoon = errors.New("esn: re-key not allowed yet (rekey_freq)")
)

// Stanza error conditions used by the negotiation (RFC 6120 §8.3.3).
const (
	CondNotAcceptable         = "not-acceptable"
	CondFeatureNotImplemented = "feature-not-implemented"
	CondServiceUnavailable    = "service-unavailable"
)

// NegotiationError reports a failed negotiation. Condition is the stanza
// error condition that was sent to the peer (Remote false) or received from
// it (Remote true); Fields lists the offending form fields named in the
// error, if any. Offered and PeerOffered are set for algorithm mismatches,
// like x/crypto/ssh's AlgorithmNegotiationError.
type NegotiationError struct {
	Step        string // "request", "response", "completion", "identity"
	Condition   string
	Fields      []string
	Offered     []string
	PeerOffered []string
	Remote      bool
	Err         error
}

func (e *NegotiationError) Error() string {
	var b strings.Builder
	b.WriteString("esn: negotiation failed")
	if e.Step != "" {
		fmt.Fprintf(&b, " at %s", e.Step)
	}
	if e.Remote {
		b.WriteString(": peer answered")
	} else if e.Condition != "" {
		b.WriteString(": answered")
	}
	if e.Condition != "" {
		fmt.Fprintf(&b, " %s", e.Condition)
	}
	if len(e.Fields) > 0 {
		fmt.Fprintf(&b, " (fields %q)", e.Fields)
	}
	if len(e.PeerOffered) > 0 || len(e.Offered) > 0 {
		fmt.Fprintf(&b, " (we support %q, peer offered %q)", e.Offered, e.PeerOffered)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *NegotiationError) Unwrap() error { return e.Err }

// TerminatedError is the reason of a session that ended abnormally: a MAC
// failure, a protocol violation, a timeout or a termination without
// acknowledgement. Reason is human-readable and never contains secrets.
type TerminatedError struct {
	Reason string
	ByPeer bool
	Err    error
}

func (e *TerminatedError) Error() string {
	s := "esn: session terminated: " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *TerminatedError) Unwrap() error { return e.Err }

// errMAC is the single error of every authentication failure: callers and
// peers learn only that a check failed, never which one.
var errMAC = errors.New("esn: message authentication failed")

// ErrAuthentication is wrapped by every failed MAC, commitment or identity
// check during negotiation and by every XEP-0200 MAC failure.
var ErrAuthentication = errMAC

// negFail builds the error we answer a failed negotiation step with.
func negFail(step, cond string, err error, fields ...string) *NegotiationError {
	return &NegotiationError{Step: step, Condition: cond, Fields: fields, Err: err}
}
