package offline

import (
	"crypto/rsa"
	"crypto/subtle"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/pubkey"
	"github.com/esn-project/esn/pkg/xmltree"
)

// ReplayStore remembers, per option set, the d and N_B values of accepted
// offline ESession requests (XEP-0187 §6.1; digest #45). For a long-lived
// all-entities set the record MUST survive restarts (O-41): [Store]
// implements it over pkg/store. Values are opaque bytes.
type ReplayStore interface {
	// Seen reports whether value was recorded for the set.
	Seen(setID string, value []byte) (bool, error)
	// Record records the values for the set.
	Record(setID string, values ...[]byte) error
}

// MemoryReplay is a ReplayStore in memory, for the subscribers' set (whose
// secrets die at login anyway) and tests. It is safe for concurrent use.
type MemoryReplay struct {
	mu   sync.Mutex
	seen map[string]struct{}
}

// Seen implements ReplayStore.
func (m *MemoryReplay) Seen(setID string, value []byte) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.seen[setID+"\x00"+string(value)]
	return ok, nil
}

// Record implements ReplayStore.
func (m *MemoryReplay) Record(setID string, values ...[]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[string]struct{}{}
	}
	for _, v := range values {
		m.seen[setID+"\x00"+string(v)] = struct{}{}
	}
	return nil
}

// ReceiverConfig configures Alice's side.
type ReceiverConfig struct {
	// Local is Alice's full JID (the from of her termination stanzas).
	Local string
	// Sets are the option sets whose secrets were loaded. The Receiver
	// owns them and erases them on Close or Forget.
	Sets []*Secrets
	// Keys decides on Bob's key once his signature verified (XEP-0116
	// §7.4, O-31/O-32): CheckKey must return nil for a trusted key.
	Keys KeyRing
	// Replay persists the replay record of SetAll sets (O-41); nil keeps
	// it in memory. SetSubscribers sets always use memory.
	Replay ReplayStore
	// Now is the clock (time.Now when nil); Rand the randomness.
	Now func() time.Time
}

// Receiver is Alice's side of the offline ESessions that Bob started while
// she was offline (XEP-0187 §3.4, §4, §5). It is safe for concurrent use;
// stanzas must be fed in the order received.
type Receiver struct {
	mu       sync.Mutex
	cfg      ReceiverConfig
	sets     []*Secrets
	mem      MemoryReplay
	sessions map[string]*aliceSession
}

type aliceSession struct {
	peer    string // Bob's full JID
	thread  string
	set     *Secrets
	setKind Set
	expires time.Time
	key     *rsa.PublicKey
	params  Params
	stream  *crypt.Stream
}

// NewReceiver returns a Receiver for the given secrets.
func NewReceiver(cfg ReceiverConfig) (*Receiver, error) {
	if cfg.Keys == nil {
		return nil, errors.New("offline: a Receiver needs a KeyRing to verify senders")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Receiver{cfg: cfg, sets: cfg.Sets, sessions: map[string]*aliceSession{}}, nil
}

// Event is something the Receiver reports.
type Event interface{ isEvent() }

// EstablishedEvent reports an offline ESession whose <init/> verified.
type EstablishedEvent struct {
	Peer, Thread string
	Set          Set
	// Key is Bob's verified, trusted key.
	Key     *rsa.PublicKey
	Params  Params
	OneShot bool
}

// MessageEvent is one decrypted message.
type MessageEvent struct {
	Peer, Thread string
	Set          Set
	Key          *rsa.PublicKey
	// Body is the text of the decrypted <body/>, "" without one.
	Body string
	// Children are all decrypted children (body, headers, chat states).
	Children []*xmltree.Element
	// Created is Bob's encrypted SHIM Created header (zero if absent):
	// the time to show, since Bob is trusted (O-36, #48).
	Created time.Time
	// Delay is the server's clear-text delay stamp (XEP-0203, or the
	// legacy XEP-0091), zero for a message delivered live.
	Delay time.Time
}

// EndedEvent reports the end of an offline ESession: Bob's termination
// (or a one-shot init), or a failure that ended it (Err).
type EndedEvent struct {
	Peer, Thread string
	ByPeer       bool
	Err          error
}

func (EstablishedEvent) isEvent() {}
func (MessageEvent) isEvent()     {}
func (EndedEvent) isEvent()       {}

// Receive processes one incoming message stanza (XEP-0187 §3.4, §4):
//
//   - an <init/> with a submit form whose nonce names a loaded set: the
//     expiry check (O-27), the replay check (O-29, O-40), Bob's choices
//     (O-30), d, K, his identity (M_B, ID_B, mac_B, sign_B; O-31, O-32)
//     and key trust, then the <c/> of the same stanza;
//   - a <c/> of a known offline session: expiry, then XEP-0200 decryption.
//
// Stanzas outside offline ESessions return ErrNotOffline. Any other error
// means the stanza was discarded (and its session, if any, ended):
// nothing must be sent in reply (XEP-0187 §3.4 "terminate silently").
func (r *Receiver) Receive(st *xmltree.Element) ([]Event, error) {
	if st == nil || st.Name.Local != "message" || st.Attribute("type") == "error" {
		return nil, ErrNotOffline
	}
	thread := st.ChildText("", "thread")
	from := st.Attribute("from")
	if thread == "" || from == "" {
		return nil, ErrNotOffline
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if in := st.Child(NSInit, "init"); in != nil {
		x := in.Child(esn.NSData, "x")
		if x == nil || x.Attribute("type") != esn.FormTypeSubmit {
			return nil, ErrNotOffline // e.g. the 4-message M4 (result)
		}
		return r.onInit(st, x, from, thread)
	}
	c := st.Child(esn.NSC, "c")
	s := r.sessions[sessionKey(from, thread)]
	if c == nil || s == nil {
		return nil, ErrNotOffline
	}
	return r.onStanza(s, st, c)
}

func sessionKey(from, thread string) string { return from + "\x00" + thread }

func (r *Receiver) onInit(st, x *xmltree.Element, from, thread string) ([]Event, error) {
	if !strings.Contains(from, "/") {
		return nil, fmt.Errorf("%w: offline ESession request without a full from JID", ErrMalformed)
	}
	f, err := esn.ParseForm(x, esn.FormLimits{})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if f.FormType() != esn.NSSSN {
		return nil, ErrNotOffline
	}
	nv, ok := f.Value("nonce")
	if !ok {
		return nil, ErrNotOffline
	}
	na, err := crypt.DecodeBase64("nonce", nv, 64)
	if err != nil {
		return nil, malformed("nonce", "not Base64")
	}
	var set *Secrets
	for _, s := range r.sets {
		if s.keys != nil && len(s.nonce) == len(na) && subtle.ConstantTimeCompare(s.nonce, na) == 1 {
			set = s
		}
	}
	if set == nil {
		return nil, fmt.Errorf("%w (from %s)", ErrUnknownNonce, from)
	}
	now := r.cfg.Now()
	if set.Expired(now) {
		// O-27: discarded without decrypting.
		return nil, fmt.Errorf("%w: set %s expired on %s; the request from %s was discarded undecrypted", ErrExpired, set.ID, pubkey.FormatTime(set.Expires), from)
	}
	if _, dup := r.sessions[sessionKey(from, thread)]; dup {
		return nil, fmt.Errorf("%w: a second request on thread %q", ErrReplay, trunc(thread))
	}
	s, oneShot, err := r.verifyInit(set, f, from, thread)
	if err != nil {
		return nil, err
	}
	evs := []Event{EstablishedEvent{Peer: from, Thread: thread, Set: set.Set, Key: s.key, Params: s.params, OneShot: oneShot}}
	r.sessions[sessionKey(from, thread)] = s
	if c := st.Child(esn.NSC, "c"); c != nil {
		more, err := r.onStanza(s, st, c)
		evs = append(evs, more...)
		if err != nil {
			return evs, err
		}
	}
	if oneShot && r.sessions[sessionKey(from, thread)] != nil {
		r.endSession(s)
		evs = append(evs, EndedEvent{Peer: from, Thread: thread, ByPeer: true})
	}
	return evs, nil
}

// verifyInit runs XEP-0116 "Diffie-Hellman Preparation (Alice)" and
// "Verifying Bob's Identity" as XEP-0187 §3.4 uses them (digest §4.9 step
// 4).
func (r *Receiver) verifyInit(set *Secrets, f *esn.Form, from, thread string) (*aliceSession, bool, error) {
	offer, err := set.offered()
	if err != nil {
		return nil, false, err
	}
	p, err := checkAnswer(offer, f)
	if err != nil {
		return nil, false, err
	}
	if f.Field("identity") == nil || f.Field("mac") == nil {
		return nil, false, malformed("identity", "no identity proof")
	}
	suite, err := crypt.XEPSuite().WithAlgorithms(p.Cipher, p.Hash)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	priv, err := set.privateKey(p.Group)
	if err != nil {
		return nil, false, err
	}
	defer priv.Erase()
	dv, _ := f.Value("dhkeys")
	if fl := f.Field("dhkeys"); fl == nil || len(fl.Values) != 1 {
		return nil, false, malformed("dhkeys", "want exactly one value")
	}
	d, err := priv.Group().ParsePublic("dhkeys", strings.TrimSpace(dv))
	if err != nil {
		return nil, false, fmt.Errorf("%w: d: %v", ErrMalformed, err)
	}
	nbv, _ := f.Value("my_nonce")
	nb, err := crypt.DecodeBase64("my_nonce", nbv, 64)
	if err != nil || crypt.CheckNonce(nb) != nil {
		return nil, false, malformed("my_nonce", "not a nonce")
	}
	if subtle.ConstantTimeCompare(nb, set.nonce) == 1 || d.Cmp(priv.Public()) == 0 {
		return nil, false, malformed("my_nonce", "Bob echoed Alice's values")
	}
	// Replay (O-29, O-40): the same d or N_B since the options were
	// published.
	db := crypt.I2B(d)
	rs := r.replayFor(set)
	for _, v := range [][]byte{replayValue("d", db), replayValue("nb", nb)} {
		seen, err := rs.Seen(set.ID, v)
		if err != nil {
			return nil, false, fmt.Errorf("offline: replay store: %w", err)
		}
		if seen {
			return nil, false, fmt.Errorf("%w from %s (set %s)", ErrReplay, from, set.ID)
		}
	}
	cv, _ := f.Value("counter")
	ca, err := crypt.ParseCounter(cv)
	if err != nil {
		return nil, false, malformed("counter", "not a counter")
	}
	cb := ca.Peer()
	k, err := suite.SharedKey(priv, d)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	ka := suite.SessionKeys(k, crypt.Initiator)
	kb := suite.SessionKeys(k, crypt.Responder)
	k.Erase()
	defer ka.Erase()
	defer kb.Erase()
	iv, _ := f.Value("identity")
	mv, _ := f.Value("mac")
	idB, err1 := crypt.DecodeBase64("identity", strings.TrimSpace(iv), maxIdentityLen)
	mB, err2 := crypt.DecodeBase64("mac", strings.TrimSpace(mv), 64)
	if err1 != nil || err2 != nil {
		return nil, false, malformed("identity", "not Base64")
	}
	plain, err := suite.DecryptIdentity(kb.Cipher, kb.MAC, &cb, idB, mB)
	if err != nil {
		return nil, false, fmt.Errorf("%w: M_B", ErrAuthentication)
	}
	pub, kv, sig, err := parseIdentity(plain)
	clear(plain)
	if err != nil {
		return nil, false, fmt.Errorf("%w: identity: %v", ErrAuthentication, err)
	}
	formB := esn.NormContent(f.Element(), "identity", "mac")
	macB := suite.MacB(kb.SIGMA, set.nonce, nb, d, kv, formB, nil)
	err = pubkey.Verify(pub, macB, sig)
	clear(macB)
	if err != nil {
		return nil, false, fmt.Errorf("%w: Bob's signature", ErrAuthentication)
	}
	if err := r.cfg.Keys.CheckKey(bareOf(from), pub); err != nil {
		return nil, false, fmt.Errorf("%w: %w", esn.ErrUntrustedKey, err)
	}
	if err := rs.Record(set.ID, replayValue("d", db), replayValue("nb", nb)); err != nil {
		return nil, false, fmt.Errorf("offline: replay store: %w", err)
	}
	oneShot := false
	if v, ok := f.Value("terminate"); ok {
		oneShot, _ = esn.ParseBool(v)
	}
	stream, err := crypt.NewStream(crypt.StreamConfig{
		Suite:      suite,
		SendCipher: ka.Cipher, SendMAC: ka.MAC, SendCounter: ca,
		RecvCipher: kb.Cipher, RecvMAC: kb.MAC, RecvCounter: cb,
		RekeyFreq: crypt.NoRekey, Now: r.cfg.Now,
	})
	if err != nil {
		return nil, false, err
	}
	return &aliceSession{peer: from, thread: thread, set: set, setKind: set.Set, expires: set.Expires,
		key: pub, params: p, stream: stream}, oneShot, nil
}

func replayValue(kind string, v []byte) []byte {
	return append([]byte(kind+":"), v...)
}

func (r *Receiver) replayFor(s *Secrets) ReplayStore {
	if s.Set == SetAll && r.cfg.Replay != nil {
		return r.cfg.Replay
	}
	return &r.mem
}

// onStanza decrypts a <c/> of an established session (XEP-0187 §4).
func (r *Receiver) onStanza(s *aliceSession, st, c *xmltree.Element) ([]Event, error) {
	if !r.cfg.Now().Before(s.expires) {
		r.endSession(s)
		err := fmt.Errorf("%w: a stanza from %s arrived after the options expired; discarded undecrypted", ErrExpired, s.peer)
		return []Event{EndedEvent{Peer: s.peer, Thread: s.thread, Err: err}}, err
	}
	op, err := s.stream.Open(c)
	if err != nil {
		r.endSession(s)
		err = fmt.Errorf("%w: %w", ErrAuthentication, err)
		return []Event{EndedEvent{Peer: s.peer, Thread: s.thread, Err: err}}, err
	}
	if isTerminate(op.Children) {
		r.endSession(s)
		return []Event{EndedEvent{Peer: s.peer, Thread: s.thread, ByPeer: true}}, nil
	}
	ev := MessageEvent{Peer: s.peer, Thread: s.thread, Set: s.setKind, Key: s.key, Children: op.Children, Delay: delayStamp(st)}
	for _, ch := range op.Children {
		switch {
		case ch.Name.Local == "body" && (ch.Name.Space == esn.NSClient || ch.Name.Space == "") && ev.Body == "":
			ev.Body = ch.Text()
		case ch.Name.Space == NSSHIM && ch.Name.Local == "headers":
			for _, h := range ch.Children() {
				if h.Name.Local == "header" && h.Attribute("name") == "Created" {
					if t, err := pubkey.ParseTime(h.Text()); err == nil {
						ev.Created = t
					}
				}
			}
		}
	}
	return []Event{ev}, nil
}

// delayStamp reads the server's <delay/> (XEP-0203) or legacy <x/>
// (XEP-0091) stamp; only the stamp is used, never the text (digest #52).
func delayStamp(st *xmltree.Element) time.Time {
	if d := st.Child(NSDelay, "delay"); d != nil {
		if t, err := pubkey.ParseTime(d.Attribute("stamp")); err == nil {
			return t
		}
	}
	if d := st.Child(NSLegacyDelay, "x"); d != nil {
		if t, err := time.Parse("20060102T15:04:05", d.Attribute("stamp")); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

func (r *Receiver) endSession(s *aliceSession) {
	s.stream.Close()
	delete(r.sessions, sessionKey(s.peer, s.thread))
}

// SessionInfo describes an open offline ESession.
type SessionInfo struct {
	Peer, Thread string
	Set          Set
}

// Sessions lists the open offline ESessions (Bob has not terminated them).
func (r *Receiver) Sessions() []SessionInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]SessionInfo, 0, len(r.sessions))
	for _, s := range r.sessions {
		out = append(out, SessionInfo{Peer: s.peer, Thread: s.thread, Set: s.setKind})
	}
	return out
}

// Terminate ends an open offline ESession from Alice's side and returns
// the stanza she must send before talking to Bob (XEP-0187 §5, O-34;
// digest #42): an SSN terminate form inside <c/>, with no other payload,
// protected with KC_A/KM_A from counter C_A, to the full JID Bob sent
// from. Her keys for the session are erased.
func (r *Receiver) Terminate(peer, thread string) (*xmltree.Element, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sessions[sessionKey(peer, thread)]
	if s == nil {
		return nil, fmt.Errorf("offline: no open offline ESession %q with %s", trunc(thread), peer)
	}
	m := xmltree.New(esn.NSClient, "message",
		xml.Attr{Name: xml.Name{Local: "to"}, Value: s.peer},
		xml.Attr{Name: xml.Name{Local: "type"}, Value: "chat"})
	if r.cfg.Local != "" {
		m.SetAttr("from", r.cfg.Local)
	}
	m.AddChild(xmltree.New(esn.NSClient, "thread").AddText(s.thread))
	m.AddChild(terminateForm())
	out, err := s.stream.Seal(m)
	r.endSession(s)
	return out, err
}

// Forget erases the working copies of the secrets of one set kind, once
// the stored offline messages have been processed (XEP-0187 §3.4 step 2).
// Sessions already established keep their own keys.
func (r *Receiver) Forget(kind Set) {
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := r.sets[:0]
	for _, s := range r.sets {
		if s.Set == kind {
			s.Erase()
			continue
		}
		kept = append(kept, s)
	}
	r.sets = kept
}

// Close erases every secret and session key the Receiver holds.
func (r *Receiver) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.sets {
		s.Erase()
	}
	r.sets = nil
	for _, s := range r.sessions {
		s.stream.Close()
	}
	r.sessions = map[string]*aliceSession{}
}

func trunc(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}
