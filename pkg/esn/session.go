package esn

import (
	"crypto/hmac"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/xmltree"
)

// state is named for what the session awaits (style of otr's authState).
type state int

const (
	stateIdle               state = iota
	stateAwaitingResponse         // initiator sent M1, awaits M2
	stateAwaitingCompletion       // responder sent M2, awaits M3
	stateAwaitingIdentity         // initiator sent M3, awaits M4
	stateEstablished              // stanzas are encrypted
	stateAwaitingAck              // we sent the encrypted terminate
	stateTerminated
)

var stateNames = [...]string{"idle", "awaiting-response", "awaiting-completion", "awaiting-identity",
	"established", "awaiting-ack", "terminated"}

func (s state) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// entropy supplies every random value of a negotiation. The default draws
// from Config.Rand; the known-answer test injects the digest's vector V4.
type entropy interface {
	nonce() ([]byte, error)
	counter() (crypt.Counter, error)
	key(g *crypt.Group) (*crypt.PrivateKey, error)
	filler(n int) ([]byte, error)
}

type randEntropy struct {
	r    io.Reader
	mode crypt.ExponentMode
}

func (e randEntropy) nonce() ([]byte, error)          { return crypt.GenerateNonce(e.r) }
func (e randEntropy) counter() (crypt.Counter, error) { return crypt.GenerateCounter(e.r) }
func (e randEntropy) key(g *crypt.Group) (*crypt.PrivateKey, error) {
	return g.GenerateKey(e.r, e.mode)
}
func (e randEntropy) filler(n int) ([]byte, error) {
	b := make([]byte, n)
	_, err := io.ReadFull(e.r, b)
	return b, err
}

// negotiation holds what one negotiation learns; it is erased when the
// negotiation ends, successfully or not (XEP-0116 §4.4: discard everything
// learned from a failed negotiation).
type negotiation struct {
	// Initiator.
	offer  *Form
	keys   []*crypt.PrivateKey // one per offered group, in offer order
	rsUsed []RetainedSecret    // the secrets hashed into rshashes
	// Both.
	na, nb  []byte
	priv    *crypt.PrivateKey // x or y of the chosen group
	peerPub *big.Int          // d (initiator) or e (responder)
	he      []byte            // responder: the commitment for the chosen group
	ca, cb  crypt.Counter     // running C_A and C_B
	k       crypt.Key         // K = HASH(g^xy)
	formA   []byte
	formB   []byte
	mA      []byte
	alt     *gajimAlt // gajim profile responder only (gajim.go)
}

func (n *negotiation) erase() {
	if n == nil {
		return
	}
	for _, k := range n.keys {
		k.Erase()
	}
	n.priv.Erase()
	n.k.Erase()
	for _, rs := range n.rsUsed {
		clear(rs.Secret)
	}
	*n = negotiation{}
}

// Session is the state machine of one stanza session (one XEP-0201 thread)
// in the style of otr.Conversation: [Session.Receive] consumes a stanza and
// returns the stanzas to send and the events, without I/O.
//
// A Session is not safe for concurrent use; [Manager] serializes access to
// each of its sessions.
type Session struct {
	// Set at creation, never changed.
	thread string
	role   crypt.Role
	cfg    *Manager // shared configuration; read-only
	local  string   // our full JID
	// peer is the full JID the session is bound to (XEP-0155 §5): the
	// responder's after M2, the initiator's from M1. Before M2 the
	// initiator holds the address it sent M1 to. Changed by continue.
	peer     string
	peerBare string

	state    state
	deadline time.Time // zero: none

	suite  crypt.Suite
	params Params
	neg    *negotiation // nil once established or ended
	stream *crypt.Stream

	prefsOverride *Preferences // per-session preferences (Initiate options)
	pk            *keyState    // public-key authentication; nil for SAS only

	sas      string
	verified bool
	srs      bool
	endErr   error
}

// Thread returns the session's thread id.
func (s *Session) Thread() string { return s.thread }

// Peer returns the full JID the session is bound to.
func (s *Session) Peer() string { return s.peer }

// Info describes a session for display.
type Info struct {
	Thread      string
	Peer        string
	Role        crypt.Role
	State       string
	Established bool
	Params      Params
	SAS         string
	Verified    bool
}

// Info returns the session's public state.
func (s *Session) Info() Info {
	return Info{Thread: s.thread, Peer: s.peer, Role: s.role, State: s.state.String(),
		Established: s.state == stateEstablished, Params: s.params, SAS: s.sas, Verified: s.verified}
}

func (s *Session) message(typ string) *xmltree.Element {
	return newMessage(s.local, s.peer, typ, s.thread)
}

// fail ends a negotiation: it sends the error (if any), erases everything
// and reports a TerminatedEvent.
func (s *Session) fail(out *Output, err error, sendErr *NegotiationError, echo *xmltree.Element) {
	if sendErr != nil && sendErr.Condition != "" {
		fields := sendErr.Fields
		out.Send = append(out.Send, errorMessage(s.local, s.peer, s.thread, sendErr.Condition, fields, echo))
	}
	s.end(out, err, false, false)
}

// end erases every key and reports the termination.
func (s *Session) end(out *Output, err error, byPeer, acked bool) {
	if s.state == stateTerminated {
		return
	}
	s.neg.erase()
	s.neg = nil
	if s.stream != nil {
		s.stream.Close()
	}
	s.state = stateTerminated
	s.endErr = err
	s.deadline = time.Time{}
	out.Change = max(out.Change, Terminated)
	out.add(TerminatedEvent{Thread: s.thread, Peer: s.peer, Err: err, ByPeer: byPeer, Acknowledged: acked})
}

// keylog reports a secret to the configured hook (item 6 of issue 4).
func (s *Session) keylog(label string, secret []byte) {
	if s.cfg.cfg.KeyLog != nil {
		s.cfg.cfg.KeyLog(KeyLogEntry{Label: label, Thread: s.thread, Secret: append([]byte(nil), secret...)})
	}
}

// Receive processes one incoming stanza for this session.
func (s *Session) Receive(st *xmltree.Element) (Output, error) {
	in, err := parseInbound(st, s.cfg.formLimits())
	if err != nil && in == nil {
		return Output{}, err
	}
	return s.receive(in, err)
}

// receive dispatches a parsed stanza; perr is a form parse error.
func (s *Session) receive(in *inbound, perr error) (Output, error) {
	var out Output
	if in.thread != s.thread {
		return out, ErrUnknownThread
	}
	if s.state == stateTerminated {
		return out, ErrSessionEnded
	}
	// Binding ([XEP-0155] §5): before M2 the initiator accepts any resource
	// of the bare JID it addressed; afterwards only the bound full JID.
	if s.state == stateAwaitingResponse {
		if bareOf(in.from) != s.peerBare {
			return out, ErrWrongSender
		}
	} else if in.from != s.peer {
		return out, ErrWrongSender
	}
	if in.kind == kindError {
		nerr := &NegotiationError{Condition: in.errCond, Fields: in.errFields, Remote: true, Step: s.state.String()}
		if s.state == stateEstablished || s.state == stateAwaitingAck {
			s.end(&out, &TerminatedError{Reason: "peer reported " + in.errCond, ByPeer: true, Err: nerr}, true, false)
		} else {
			s.end(&out, nerr, true, false)
		}
		return out, nil
	}
	if in.kind == kindNone && s.state != stateEstablished && s.state != stateAwaitingAck {
		return out, ErrNotForUs
	}
	switch s.state {
	case stateAwaitingResponse:
		return s.onResponse(in, perr)
	case stateAwaitingCompletion:
		return s.onCompletion(in, perr)
	case stateAwaitingIdentity:
		return s.onIdentity(in, perr)
	case stateEstablished, stateAwaitingAck:
		return s.onEstablished(in, perr)
	}
	panic("esn: internal error: bad state " + s.state.String())
}

// ctEqual compares secrets or nonces in constant time.
func ctEqual(a, b []byte) bool { return hmac.Equal(a, b) }

var (
	errNonce      = errors.New("echoed nonce does not match")
	errReflection = errors.New("peer reflected our nonce or DH value")
	errCommitment = errors.New("DH value does not match its hash commitment")
)

// prefs returns the preferences in force for this session.
func (s *Session) prefs() Preferences {
	if s.prefsOverride != nil {
		return *s.prefsOverride
	}
	return s.cfg.prefs
}
