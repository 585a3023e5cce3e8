package offline

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/pubkey"
	"github.com/esn-project/esn/pkg/xmltree"
)

// SendConfig configures Bob's side of an offline ESession.
type SendConfig struct {
	// Local is Bob's full JID, the from of every stanza.
	Local string
	// Signer is Bob's identity key (RSA). XEP-0187 §3.3 assumes the
	// 'key' method: Alice needs his whole <KeyValue/> (O-20).
	Signer crypto.Signer
	// Preferences are Bob's acceptable values.
	Preferences Preferences
	// OneShot puts terminate=1 into the init form: the session ends
	// with its first stanza (XEP-0187 §3.3, "equivalent to object
	// encryption with PFS").
	OneShot bool
	// Rand is the CSPRNG (crypto/rand when nil); Now the clock.
	Rand io.Reader
	Now  func() time.Time
}

// Session is Bob's side of one offline ESession (XEP-0187 §3.3, §4, §5):
// the response form with his identity, then XEP-0200 stanzas under the
// responder keys, one way. It does no I/O and is not safe for concurrent
// use.
type Session struct {
	cfg     SendConfig
	params  Params
	to      string // Alice's bare JID, or full JID with match_resource
	owner   string
	thread  string
	amp     bool
	stream  *crypt.Stream
	init    *xmltree.Element // the <init/> until the first stanza is sent
	ended   bool
	expires time.Time
}

// Start makes Bob's XEP-0116 responder computations on verified options
// (XEP-0187 §3.3; digest §4.6): it refuses expired options (O-18) and
// options without an acceptable value in some field, checks 1 < e < p−1
// (O-19: the caller abandons silently, sending nothing), draws N_B, C_A
// and y, derives the six keys from K = HASH(e^y mod p), and builds the
// submit form with nonce = N_A, counter = C_A and his identity proof
// (identity = ID_B, mac = M_B; no pubkey field, O-21).
func Start(o *Options, cfg SendConfig) (*Session, error) {
	if o == nil || o.signer == nil {
		return nil, errNotVerified
	}
	if cfg.Signer == nil {
		return nil, ErrNoIdentity
	}
	pub, ok := cfg.Signer.Public().(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("offline: identity key is %T, not RSA", cfg.Signer.Public())
	}
	if cfg.Local == "" || !strings.Contains(cfg.Local, "/") {
		return nil, fmt.Errorf("offline: Local must be a full JID, not %q", cfg.Local)
	}
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	r := cfg.Rand
	if r == nil {
		r = rand.Reader
	}
	if !now().Before(o.Expires) {
		return nil, fmt.Errorf("%w: the options of %s expired on %s", ErrExpired, o.Owner, pubkey.FormatTime(o.Expires))
	}
	p, err := selectParams(o.form, cfg.Preferences)
	if err != nil {
		return nil, err
	}
	suite, err := crypt.XEPSuite().WithAlgorithms(p.Cipher, p.Hash)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	g, err := crypt.GroupByID(p.Group)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	idx := -1
	for i, id := range o.Groups {
		if id == p.Group {
			idx = i
			break
		}
	}
	e, err := g.ParsePublic("dhkeys", strings.TrimSpace(o.form.Field("dhkeys").Values[idx]))
	if err != nil {
		return nil, fmt.Errorf("%w: the published dhkeys value is unusable: %v", ErrMalformed, err)
	}
	nb, err := crypt.GenerateNonce(r)
	if err != nil {
		return nil, err
	}
	ca, err := crypt.GenerateCounter(r)
	if err != nil {
		return nil, err
	}
	cb := ca.Peer()
	y, err := g.GenerateKey(r, crypt.ShortExponent)
	if err != nil {
		return nil, err
	}
	d := y.Public()
	k, err := suite.SharedKey(y, e)
	y.Erase()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	ka := suite.SessionKeys(k, crypt.Initiator)
	kb := suite.SessionKeys(k, crypt.Responder)
	k.Erase()
	defer ka.Erase()
	defer kb.Erase()

	thread, err := esn.NewThreadID(r)
	if err != nil {
		return nil, err
	}
	f := esn.NewForm(esn.FormTypeSubmit)
	for _, fl := range p.answerFields() {
		f.Add(fl)
	}
	f.Add(esn.Field{Var: "my_nonce", Values: []string{crypt.EncodeBase64(nb)}})
	f.Add(esn.Field{Var: "dhkeys", Values: []string{crypt.EncodeBase64(crypt.I2B(d))}})
	f.Add(esn.Field{Var: "nonce", Values: []string{crypt.EncodeBase64(o.nonce)}})
	f.Add(esn.Field{Var: "counter", Values: []string{crypt.EncodeBase64(ca.Bytes())}})
	if cfg.OneShot {
		f.Add(esn.Field{Var: "terminate", Values: []string{"1"}})
	}
	formB := esn.NormContent(f.Element())
	kv := esn.KeyValue(pub)
	macB := suite.MacB(kb.SIGMA, o.nonce, nb, d, kv, formB, nil)
	sig, err := pubkey.Sign(r, cfg.Signer, macB)
	clear(macB)
	if err != nil {
		return nil, err
	}
	plain := identityPlaintext(kv, sig)
	idB, mB, err := suite.EncryptIdentity(kb.Cipher, kb.MAC, &cb, plain)
	clear(plain)
	if err != nil {
		return nil, err
	}
	f.Add(esn.Field{Var: "identity", Values: []string{crypt.EncodeBase64(idB)}})
	f.Add(esn.Field{Var: "mac", Values: []string{crypt.EncodeBase64(mB)}})
	stream, err := crypt.NewStream(crypt.StreamConfig{
		Suite:      suite,
		SendCipher: kb.Cipher, SendMAC: kb.MAC, SendCounter: cb,
		RecvCipher: ka.Cipher, RecvMAC: ka.MAC, RecvCounter: ca,
		RekeyFreq: crypt.NoRekey, Rand: r, Now: cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	s := &Session{cfg: cfg, params: p, owner: o.Owner, to: o.Owner, thread: thread, stream: stream,
		expires: o.Expires}
	s.cfg.Now, s.cfg.Rand = now, r
	if o.MatchResource != "" {
		s.to, s.amp = o.Owner+"/"+o.MatchResource, true
	}
	s.init = xmltree.New(NSInit, "init").AddChild(f.Element())
	return s, nil
}

// Thread returns the session's ThreadID (digest #34: Bob generates one).
func (s *Session) Thread() string { return s.thread }

// To returns where the stanzas go: Alice's bare JID, or her full JID when
// she published match_resource (O-24).
func (s *Session) To() string { return s.to }

// Params returns Bob's choices.
func (s *Session) Params() Params { return s.params }

// Ended reports whether the session has ended.
func (s *Session) Ended() bool { return s.ended }

// Sent reports whether the first stanza (with the <init/>) was sealed.
func (s *Session) Sent() bool { return s.init == nil }

// SealBody is Seal with a <body/>.
func (s *Session) SealBody(body string) (*xmltree.Element, error) {
	return s.Seal(xmltree.New(esn.NSClient, "body").AddText(body))
}

// Seal encrypts one message (XEP-0187 §4, XEP-0200 §6) into a stanza of
// type chat (digest #35) for [Session.To], adding a SHIM Created header
// inside the encrypted content (O-35) and, with match_resource, the AMP
// rule that keeps the stanza from other resources (O-24, #36, without
// per-hop). The first stanza also carries the <init/> with Bob's
// response form. A one-shot session ends with it.
func (s *Session) Seal(children ...*xmltree.Element) (*xmltree.Element, error) {
	if s.ended {
		return nil, ErrEnded
	}
	if !s.cfg.Now().Before(s.expires) {
		return nil, fmt.Errorf("%w: the options of %s expired on %s", ErrExpired, s.owner, pubkey.FormatTime(s.expires))
	}
	m := s.message()
	for _, c := range children {
		m.AddChild(c)
	}
	m.AddChild(createdHeader(s.cfg.Now()))
	return s.seal(m, s.cfg.OneShot)
}

func (s *Session) message() *xmltree.Element {
	m := xmltree.New(esn.NSClient, "message",
		xml.Attr{Name: xml.Name{Local: "from"}, Value: s.cfg.Local},
		xml.Attr{Name: xml.Name{Local: "to"}, Value: s.to},
		xml.Attr{Name: xml.Name{Local: "type"}, Value: "chat"})
	m.AddChild(xmltree.New(esn.NSClient, "thread").AddText(s.thread))
	return m
}

func (s *Session) seal(m *xmltree.Element, endAfterFirst bool) (*xmltree.Element, error) {
	if s.amp {
		amp := xmltree.New(esn.NSAMP, "amp")
		amp.AddChild(xmltree.New(esn.NSAMP, "rule",
			xml.Attr{Name: xml.Name{Local: "action"}, Value: "error"},
			xml.Attr{Name: xml.Name{Local: "condition"}, Value: "match-resource"},
			xml.Attr{Name: xml.Name{Local: "value"}, Value: "other"}))
		m.AddChild(amp)
	}
	out, err := s.stream.Seal(m)
	if err != nil {
		return nil, err
	}
	if s.init != nil {
		insertBeforeC(out, s.init)
		s.init = nil
		if endAfterFirst {
			s.end()
		}
	}
	return out, nil
}

// insertBeforeC puts el just before the <c/> child of st.
func insertBeforeC(st, el *xmltree.Element) {
	for i, n := range st.Nodes {
		if n.Element != nil && n.Element.Name.Space == esn.NSC && n.Element.Name.Local == "c" {
			st.Nodes = append(st.Nodes[:i], append([]xmltree.Node{{Element: el}}, st.Nodes[i:]...)...)
			return
		}
	}
	st.AddChild(el)
}

// Terminate ends the session (XEP-0187 §5, XEP-0116 §10): it returns the
// encrypted SSN terminate form to send, and erases the keys; Alice does not
// acknowledge it (O-38). It returns nil when there is nothing to send: a
// one-shot session, a session that already ended, or one whose first
// stanza was never sealed (Alice never learned of it).
func (s *Session) Terminate() (*xmltree.Element, error) {
	if s.ended {
		return nil, nil
	}
	if s.init != nil {
		s.end()
		return nil, nil
	}
	m := s.message()
	m.AddChild(terminateForm())
	out, err := s.seal(m, false)
	s.end()
	return out, err
}

func (s *Session) end() {
	s.ended = true
	s.stream.Close()
}

// Close erases the keys without sending anything.
func (s *Session) Close() {
	if !s.ended {
		s.end()
	}
}

// Receive handles a stanza from Alice in this session: her XEP-0116
// termination (O-34), protected with KC_A/KM_A from counter C_A, after
// which the session is over (reported as ended); or an error bounce for one
// of Bob's stanzas (a *DeliveryError). Stanzas of other threads or
// senders return ErrNotOffline. A MAC failure ends the session too.
func (s *Session) Receive(st *xmltree.Element) (ended bool, err error) {
	if st == nil || st.Name.Local != "message" || st.ChildText("", "thread") != s.thread ||
		!strings.EqualFold(bareOf(st.Attribute("from")), s.owner) {
		return false, ErrNotOffline
	}
	if st.Attribute("type") == "error" {
		return false, deliveryError(st)
	}
	c := st.Child(esn.NSC, "c")
	if c == nil || s.ended {
		return s.ended, ErrNotOffline
	}
	op, err := s.stream.Open(c)
	if err != nil {
		s.end()
		return true, fmt.Errorf("%w: %v", ErrAuthentication, err)
	}
	if !isTerminate(op.Children) {
		// Alice MUST NOT send content in an offline ESession (O-33).
		s.end()
		return true, fmt.Errorf("%w: %s sent content inside an offline ESession", ErrMalformed, s.owner)
	}
	s.end()
	return true, nil
}

// DeliveryError is a stanza error returned for one of Bob's stanzas, e.g.
// service-unavailable when Alice's server stores no offline messages
// (XEP-0160 §3).
type DeliveryError struct {
	Condition string
}

func (e *DeliveryError) Error() string {
	return fmt.Sprintf("offline: the server returned %q for an offline message", e.Condition)
}

func deliveryError(st *xmltree.Element) error {
	cond := "undefined-condition"
	if e := st.Child("", "error"); e != nil {
		for _, c := range e.Children() {
			if c.Name.Space == esn.NSStanzas && c.Name.Local != "text" {
				cond = c.Name.Local
				if len(cond) > 64 {
					cond = cond[:64]
				}
				break
			}
		}
	}
	return &DeliveryError{Condition: cond}
}

// terminateForm is the SSN terminate form (XEP-0155 §8, XEP-0116 §10).
func terminateForm() *xmltree.Element {
	f := esn.NewForm(esn.FormTypeSubmit)
	f.Add(esn.Field{Var: "terminate", Values: []string{"1"}})
	return xmltree.New(esn.NSFeatureNeg, "feature").AddChild(f.Element())
}

// isTerminate reports whether decrypted children carry an SSN terminate
// form (submit or result, terminate true).
func isTerminate(children []*xmltree.Element) bool {
	for _, c := range children {
		if c.Name.Space != esn.NSFeatureNeg || c.Name.Local != "feature" {
			continue
		}
		x := c.Child(esn.NSData, "x")
		if x == nil {
			continue
		}
		f, err := esn.ParseForm(x, esn.FormLimits{})
		if err != nil || f.FormType() != esn.NSSSN {
			continue
		}
		if v, ok := f.Value("terminate"); ok {
			if b, ok := esn.ParseBool(v); ok && b {
				return true
			}
		}
	}
	return false
}

// createdHeader is the SHIM Created header (XEP-0131) Bob puts inside the
// encryption (O-35).
func createdHeader(t time.Time) *xmltree.Element {
	h := xmltree.New(NSSHIM, "header", xml.Attr{Name: xml.Name{Local: "name"}, Value: "Created"})
	h.AddText(pubkey.FormatTime(t))
	return xmltree.New(NSSHIM, "headers").AddChild(h)
}

func bareOf(j string) string {
	if i := strings.IndexByte(j, '/'); i >= 0 {
		return j[:i]
	}
	return j
}
