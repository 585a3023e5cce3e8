package esn

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/xmltree"
)

// onEstablished handles a stanza of an established session (or one
// awaiting our terminate's acknowledgement): XEP-0200 §8 decryption and the
// encrypted SSN forms of XEP-0116 §10 (terminate), XEP-0155 §7
// (continue) and §8 (renegotiate).
func (s *Session) onEstablished(in *inbound, perr error) (Output, error) {
	var out Output
	if in.c == nil {
		// Clear text inside an ESession: never shown as secure, and a
		// clear-text terminate is ignored, since it MUST be encrypted
		// (digest §7.1 hardening).
		return out, ErrPlaintext
	}
	op, err := s.stream.Open(in.c)
	if err != nil {
		reason := "message authentication failed"
		switch {
		case errors.Is(err, crypt.ErrReplay):
			reason = "replayed stanza"
		case errors.Is(err, crypt.ErrMAC):
		case errors.Is(err, crypt.ErrProtocol):
			reason = "stanza encryption protocol violation"
		default:
			reason = "malformed encrypted stanza"
		}
		s.abort(&out, &TerminatedError{Reason: reason, Err: err})
		return out, nil
	}
	if op.Rekeyed {
		out.Change = max(out.Change, Rekeyed)
		out.add(RekeyedEvent{Thread: s.thread, ByPeer: true})
	}
	var payload []*xmltree.Element
	for _, c := range op.Children {
		if c.Name.Space == NSFeatureNeg && c.Name.Local == "feature" {
			k, f, err := classifyWrapper(c, s.cfg.formLimits())
			if err != nil {
				s.abort(&out, &TerminatedError{Reason: "malformed encrypted session form", Err: err})
				return out, nil
			}
			p, err := s.onSessionForm(k, f)
			out.merge(p)
			return out, err
		}
		payload = append(payload, c)
	}
	if s.state == stateAwaitingAck {
		// We terminated; only the acknowledgement is expected now.
		return out, nil
	}
	if len(payload) == 0 {
		return out, nil // e.g. a content-less re-key stanza
	}
	st := &xmltree.Element{Name: in.st.Name, Attr: in.st.Attr}
	for _, n := range in.st.Nodes {
		if n.Element == in.c {
			for _, c := range payload {
				st.AddChild(c)
			}
			continue
		}
		if s.suite.DropsClear(n.Element) {
			continue // the gajim profile's clear <body/> notice
		}
		st.Nodes = append(st.Nodes, n)
	}
	ev := MessageEvent{Thread: s.thread, Peer: s.peer, Stanza: st}
	if b := st.Child("", "body"); b != nil {
		ev.Body = b.Text()
	}
	out.add(ev)
	return out, nil
}

// onSessionForm handles a decrypted SSN form.
func (s *Session) onSessionForm(k kind, f *Form) (Output, error) {
	var out Output
	switch k {
	case kindTerminate:
		if s.params.Profile == ProfileGajim {
			s.end(&out, nil, true, false) // Gajim never acknowledges (gajim.go)
			return out, nil
		}
		if s.state == stateAwaitingAck {
			// Both sides terminated at once: neither can acknowledge.
			s.end(&out, nil, true, false)
			return out, nil
		}
		ack := simpleForm(FormTypeResult, boolField("terminate", true))
		m, err := s.seal(featureWrap(ack))
		if err == nil {
			out.addSealed(m)
		}
		s.end(&out, nil, true, false)
		return out, nil
	case kindTerminateAck:
		if s.state == stateAwaitingAck {
			s.end(&out, nil, false, true)
			return out, nil
		}
	case kindContinue:
		// [XEP-0155] §7: the other party continues from another of its
		// resources; accept automatically.
		res, _ := f.Value("continue")
		if res == "" || len(res) > 1023 {
			break
		}
		s.peer = s.peerBare + "/" + res
		ans := simpleForm(FormTypeResult, Field{Var: "continue", Values: []string{res}})
		m, err := s.seal(featureWrap(ans))
		if err != nil {
			return out, err
		}
		out.addSealed(m)
		return out, nil
	case kindRenegotiate:
		// The parameters of an ESession are bound to its key exchange:
		// reject ([XEP-0155] §8: the old parameters stay in force). To
		// change them, terminate and negotiate a new session.
		ans := simpleForm(FormTypeSubmit, boolField("renegotiate", false))
		m, err := s.seal(featureWrap(ans))
		if err != nil {
			return out, err
		}
		out.addSealed(m)
		return out, nil
	case kindContinueAck, kindRenegotiateReply:
		return out, nil // we never send the requests these answer
	}
	s.abort(&out, &TerminatedError{Reason: fmt.Sprintf("unexpected encrypted %s form", k)})
	return out, nil
}

// abort terminates after a MAC failure or protocol violation (D-21):
// best-effort encrypted terminate, erase the keys, tell the user.
func (s *Session) abort(out *Output, err error) {
	if s.state == stateEstablished {
		term := simpleForm(FormTypeSubmit, boolField("terminate", true))
		if m, serr := s.seal(featureWrap(term)); serr == nil {
			out.addSealed(m)
		}
	}
	s.end(out, err, false, false)
}

// seal encrypts children into a message of this thread.
func (s *Session) seal(children ...*xmltree.Element) (sealed, error) {
	m := s.message("")
	for _, c := range children {
		m.AddChild(c)
	}
	return s.sealStanza(m)
}

// sealed is an encrypted stanza: the bytes pkg/crypt wrote, which go on
// the wire as they are (Output.Raw), and the same stanza as an element.
type sealed struct {
	el  *xmltree.Element
	raw []byte
}

// sealStanza encrypts a stanza with the stream. It gives the stanza an id
// first (RFC 6120 §8.1.3), since its bytes are sent without the
// transport's serializer, which would add one.
func (s *Session) sealStanza(m *xmltree.Element) (sealed, error) {
	if m.Attribute("id") == "" {
		m.SetAttr("id", newStanzaID())
	}
	if s.cfg.cfg.BytesOnly {
		b, err := s.stream.AppendSeal(nil, m)
		if err != nil {
			return sealed{}, err
		}
		return sealed{raw: b}, nil
	}
	b, el, err := s.stream.AppendSealElement(nil, m)
	if err != nil {
		return sealed{}, err
	}
	return sealed{el: el, raw: b}, nil
}

// newStanzaID returns a random stanza id: 96 bits, hex, like the
// transport's.
func newStanzaID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Encrypt returns an encrypted chat message carrying children (a <body/>,
// chat states...) to the peer ([XEP-0200] §6). Only message stanzas are
// produced here, and the negotiation always includes them.
func (s *Session) Encrypt(children ...*xmltree.Element) (Output, error) {
	var out Output
	switch s.state {
	case stateEstablished:
	case stateTerminated, stateAwaitingAck:
		return out, ErrSessionEnded
	default:
		return out, ErrNotEstablished
	}
	if !s.params.AllowsStanza("message") {
		return out, ErrStanzaNotAgreed
	}
	m := s.message("chat")
	for _, c := range children {
		m.AddChild(c)
	}
	sm, err := s.sealStanza(m)
	if errors.Is(err, crypt.ErrKeyExhausted) {
		s.abort(&out, &TerminatedError{Reason: "block budget of the keys exhausted", Err: err})
		return out, err
	}
	if err != nil {
		return out, fmt.Errorf("esn: encrypt: %w", err)
	}
	out.addSealed(sm)
	// Re-key as regularly as rekey_freq allows ([XEP-0200] §9.1): the
	// next stanza carries the <key/>.
	if s.cfg.cfg.AutoRekey && s.stream.CanRekey() {
		if err := s.stream.Rekey(); err == nil {
			out.Change = max(out.Change, Rekeyed)
			out.add(RekeyedEvent{Thread: s.thread})
		}
	}
	return out, nil
}

// Rekey starts a XEP-0200 §9.2 key exchange now and returns the
// content-less stanza that carries the new DH value. It fails with an error
// wrapping crypt.ErrRekeyRefused when rekey_freq forbids it.
func (s *Session) Rekey() (Output, error) {
	var out Output
	if s.state != stateEstablished {
		return out, ErrNotEstablished
	}
	if err := s.stream.Rekey(); err != nil {
		return out, fmt.Errorf("esn: rekey: %w", err)
	}
	m, err := s.seal()
	if err != nil {
		return out, fmt.Errorf("esn: rekey: %w", err)
	}
	out.addSealed(m)
	out.Change = Rekeyed
	out.add(RekeyedEvent{Thread: s.thread})
	return out, nil
}

// Terminate ends the session. An established session sends the encrypted
// terminate form of [XEP-0116] §10, erases its send keys at once and keeps
// its receive keys until the acknowledgement or the timeout (D-24); the
// TerminatedEvent comes with the acknowledgement (or from Tick). A session
// still negotiating sends a cancel and ends at once.
func (s *Session) Terminate() (Output, error) {
	var out Output
	switch s.state {
	case stateTerminated, stateAwaitingAck:
		return out, ErrSessionEnded
	case stateEstablished:
		term := simpleForm(FormTypeSubmit, boolField("terminate", true))
		m, err := s.seal(featureWrap(term))
		if err != nil {
			s.end(&out, &TerminatedError{Reason: "could not encrypt the terminate form", Err: err}, false, false)
			return out, err
		}
		out.addSealed(m)
		s.stream.CloseSend()
		if s.params.Profile == ProfileGajim {
			s.end(&out, nil, false, false) // no acknowledgement to wait for (gajim.go)
			return out, nil
		}
		s.state = stateAwaitingAck
		s.deadline = s.cfg.now().Add(s.cfg.ackTimeout())
		return out, nil
	default:
		cancel := simpleForm(FormTypeResult, boolField("accept", false))
		m := s.message("normal")
		m.AddChild(featureWrap(cancel))
		out.Send = append(out.Send, m)
		s.end(&out, &TerminatedError{Reason: "cancelled during negotiation"}, false, false)
		return out, nil
	}
}

// tick ends the session when its deadline has passed.
func (s *Session) tick(now time.Time) Output {
	var out Output
	if s.deadline.IsZero() || now.Before(s.deadline) {
		return out
	}
	switch s.state {
	case stateAwaitingAck:
		s.end(&out, &TerminatedError{Reason: "no acknowledgement of our terminate", Err: ErrTimeout}, false, false)
	case stateAwaitingResponse, stateAwaitingCompletion, stateAwaitingIdentity:
		s.end(&out, &NegotiationError{Step: s.state.String(), Err: ErrTimeout}, false, false)
	}
	return out
}
