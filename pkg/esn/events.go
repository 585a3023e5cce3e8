package esn

import (
	"crypto/rsa"
	"strconv"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/xmltree"
)

// Change says how a call changed the security state of a session, like
// otr.SecurityChange.
type Change int

const (
	NoChange    Change = iota
	Established        // the negotiation completed
	Rekeyed            // a XEP-0200 re-key was sent or accepted
	Terminated         // the session ended
)

var changeNames = [...]string{"NoChange", "Established", "Rekeyed", "Terminated"}

func (c Change) String() string {
	if c >= 0 && int(c) < len(changeNames) {
		return changeNames[c]
	}
	return "Change(" + strconv.Itoa(int(c)) + ")"
}

// Output is what a call produced: stanzas to send, in order, and events.
type Output struct {
	Send []*xmltree.Element
	// Raw holds the serialized form of the stanzas of Send that exist as
	// bytes already: Raw[i], when i < len(Raw) and Raw[i] is not nil, is
	// Send[i] exactly as pkg/crypt wrote it (the encrypted stanzas, with
	// their id). A transport that can write bytes sends Raw[i] as it is
	// (transport.Conn.SendRaw) instead of serializing Send[i] again; both
	// are the same stanza. Raw is never longer than Send. With
	// Config.BytesOnly, Send[i] is nil wherever Raw[i] is set.
	Raw    [][]byte
	Events []Event
	Change Change
}

// RawAt returns the serialized form of Send[i], or nil when it has none.
func (o *Output) RawAt(i int) []byte {
	if i < len(o.Raw) {
		return o.Raw[i]
	}
	return nil
}

func (o *Output) add(ev Event) { o.Events = append(o.Events, ev) }

// addSealed appends an encrypted stanza with its bytes.
func (o *Output) addSealed(m sealed) {
	for len(o.Raw) < len(o.Send) {
		o.Raw = append(o.Raw, nil)
	}
	o.Send = append(o.Send, m.el)
	o.Raw = append(o.Raw, m.raw)
}

func (o *Output) merge(p Output) {
	if len(p.Raw) > 0 {
		for len(o.Raw) < len(o.Send) {
			o.Raw = append(o.Raw, nil)
		}
		o.Raw = append(o.Raw, p.Raw...)
	}
	o.Send = append(o.Send, p.Send...)
	o.Events = append(o.Events, p.Events...)
	if p.Change > o.Change {
		o.Change = p.Change
	}
}

// Event is one of [NegotiatedEvent], [MessageEvent], [TerminatedEvent],
// [RekeyedEvent], [WarningEvent].
type Event interface{ event() }

// NegotiatedEvent reports a completed negotiation. SAS is the short
// authentication string to compare out of band (XEP-0116 §10); Verified
// says the retained-secret chain shared with the peer was confirmed by a
// SAS comparison earlier, so no comparison is needed now.
type NegotiatedEvent struct {
	Thread string
	Peer   string // the peer's full JID the session is bound to
	Role   crypt.Role
	Params Params
	SAS    string
	// RetainedSecret says a retained secret from an earlier session was
	// shared (and so mixed into the keys).
	RetainedSecret bool
	Verified       bool
	// PeerKey is the peer's RSA key when it identified with one (its
	// signature verified and the KeyRing trusted it); nil for SAS.
	PeerKey *rsa.PublicKey
	// ThreeMessage says the 3-message (SIGMA-I) variant was used (no SAS).
	ThreeMessage bool
}

// MessageEvent is a decrypted stanza. Stanza is the received stanza with
// its <c/> replaced by the decrypted children; Body is the text of its
// <body/>, if any.
type MessageEvent struct {
	Thread string
	Peer   string
	Stanza *xmltree.Element
	Body   string
}

// TerminatedEvent reports the end of a session. Err is nil for a clean
// end: our terminate acknowledged (Acknowledged), or the peer's terminate
// acknowledged by us (ByPeer). Otherwise it is a *NegotiationError or a
// *TerminatedError saying why, or wraps ErrTimeout or ErrDeclined.
type TerminatedEvent struct {
	Thread       string
	Peer         string
	Err          error
	ByPeer       bool
	Acknowledged bool
	// Replacement is set when the session was dropped in favour of the
	// peer's simultaneous request (see the package doc).
	Replacement string
}

// RekeyedEvent reports a XEP-0200 key exchange.
type RekeyedEvent struct {
	Thread string
	ByPeer bool
}

// WarningEvent is something the user must be told, such as a disclosure
// value other than never (XEP-0116 §14) or a declined request.
type WarningEvent struct {
	Thread string
	Peer   string
	Text   string
}

func (NegotiatedEvent) event() {}
func (MessageEvent) event()    {}
func (TerminatedEvent) event() {}
func (RekeyedEvent) event()    {}
func (WarningEvent) event()    {}
