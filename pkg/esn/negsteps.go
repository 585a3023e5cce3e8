package esn

import (
	"errors"
	"fmt"
	"slices"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/xmltree"
)

// Steps shared by every negotiation variant (XEP-0116 §4, SIGMA-I and the
// gajim profile): each variant differs only in the values it passes (the
// suite, the nonce and counter draws, the form builder), so a profile is
// one more value here, not a fork of the code.

// offerKeys starts an initiator's negotiation: one key pair per offered
// group, their commitments, and N_A from drawNonce (the profiles differ in
// its size).
func (s *Session) offerKeys(groups []int, drawNonce func() ([]byte, error)) (*negotiation, [][]byte, error) {
	n := &negotiation{}
	s.neg = n
	var he [][]byte
	for _, id := range groups {
		g, err := crypt.GroupByID(id)
		if err != nil {
			n.erase()
			return nil, nil, fmt.Errorf("esn: offering group %d: %w", id, err)
		}
		k, err := s.cfg.ent.key(g)
		if err != nil {
			n.erase()
			return nil, nil, err
		}
		n.keys = append(n.keys, k)
		he = append(he, k.Commitment())
	}
	var err error
	if n.na, err = drawNonce(); err != nil {
		n.erase()
		return nil, nil, err
	}
	return n, he, nil
}

// sendOffer sends M1 (n.offer), not to be stored offline (XEP-0116 §4.3).
func (s *Session) sendOffer(n *negotiation) Output {
	var out Output
	n.formA = s.suite.NormalizeContent(n.offer.Element())
	m := s.message("normal")
	m.AddChild(featureWrap(n.offer))
	m.AddChild(ampNoStore())
	out.Send = append(out.Send, m)
	s.state = stateAwaitingResponse
	return out
}

// sendStep sends a negotiation form and waits for the peer's next one
// within the negotiation timeout.
func (s *Session) sendStep(out *Output, f *Form, next state) {
	m := s.message("normal")
	m.AddChild(featureWrap(f))
	out.Send = append(out.Send, m)
	s.state = next
	s.deadline = s.cfg.now().Add(s.cfg.negTimeout())
}

// sendInit sends M4, which XEP-0116 §4.7 wraps in <init/>, not <feature/>.
func (s *Session) sendInit(out *Output, f *Form) {
	m := s.message("normal")
	m.AddChild(xmltree.New(NSInit, "init").AddChild(f.Element()))
	out.Send = append(out.Send, m)
}

// beginResponse adopts the responder's suite and parameters and draws N_B,
// C_A and y for the chosen group (XEP-0116 §4.4); the profiles differ in
// how nonce and counter are drawn. request is M1.
func (s *Session) beginResponse(suite crypt.Suite, r *request, request *Form,
	drawNonce func() ([]byte, error), drawCounter func() (crypt.Counter, error)) (*negotiation, error) {
	s.suite, s.params = suite, r.params
	n := &negotiation{na: r.na, he: r.he}
	s.neg = n
	g, _ := crypt.GroupByID(r.params.Group)
	var err error
	if n.nb, err = drawNonce(); err == nil {
		if n.ca, err = drawCounter(); err == nil {
			n.priv, err = s.cfg.ent.key(g)
		}
	}
	if err != nil {
		return n, err
	}
	n.cb = n.ca.Peer()
	n.formA = s.suite.NormalizeContent(request.Element())
	return n, nil
}

// screenResponse handles whatever in M2's place is not an accept: a
// decline ends the session, a malformed form fails it. done says the
// caller has nothing more to do.
func (s *Session) screenResponse(out *Output, in *inbound, perr error) (done bool, err error) {
	switch in.kind {
	case kindDecline:
		reason, _ := in.form.Value("reason")
		s.peer = in.from
		s.end(out, fmt.Errorf("%w: %q", ErrDeclined, truncate(reason)), true, false)
		return true, nil
	case kindAccept:
		return false, nil
	}
	if perr != nil {
		s.peer = in.from
		nerr := negFail("response", CondNotAcceptable, perr, formErrField(perr)...)
		s.fail(out, nerr, nerr, nil)
		return true, nil
	}
	return true, fmt.Errorf("esn: unexpected %s while awaiting the response", in.kind)
}

// screenCompletion is screenResponse for M3: a cancel ends the session.
func (s *Session) screenCompletion(out *Output, in *inbound, perr error) (done bool, err error) {
	switch in.kind {
	case kindCancel:
		reason, _ := in.form.Value("reason")
		s.end(out, fmt.Errorf("%w: initiator cancelled: %q", ErrDeclined, truncate(reason)), true, false)
		return true, nil
	case kindComplete:
		return false, nil
	}
	if perr != nil {
		nerr := negFail("completion", CondNotAcceptable, perr, formErrField(perr)...)
		s.fail(out, nerr, nerr, nil)
		return true, nil
	}
	return true, fmt.Errorf("esn: unexpected %s while awaiting the completion", in.kind)
}

// takeResponse reads N_B, C_A and d from M2 and keeps the key pair of the
// chosen group (offer index keyIdx), erasing the others (XEP-0116 §4.5,
// digest §5.6 steps 2-5). On failure it names the field to blame.
func (n *negotiation) takeResponse(resp *Form, keyIdx int) (field string, err error) {
	if n.nb, err = b64Field(resp, "my_nonce", maxNonceLen); err != nil || len(n.nb) < minNonceLen {
		return "my_nonce", fmt.Errorf("my_nonce: %v", err)
	}
	if ctEqual(n.nb, n.na) {
		return "my_nonce", errReflection
	}
	cv, _ := resp.Value("counter")
	if n.ca, err = crypt.ParseCounter(cv); err != nil {
		return "counter", err
	}
	n.cb = n.ca.Peer()
	for i, k := range n.keys {
		if i != keyIdx {
			k.Erase()
		}
	}
	n.priv = n.keys[keyIdx]
	n.keys = nil
	dk := resp.Field("dhkeys")
	if dk == nil || len(dk.Values) != 1 {
		return "dhkeys", errors.New("dhkeys must hold one value")
	}
	// XEP-0116 §4.5: "Return <not-acceptable/> unless 1 < d < p-1".
	d, err := n.priv.Group().ParsePublic("dhkeys", dk.Values[0])
	if err != nil {
		return "dhkeys", err
	}
	if d.Cmp(n.priv.Public()) == 0 {
		return "dhkeys", errReflection
	}
	n.peerPub = d
	return "", nil
}

// hashRetained returns HMAC(N_A, RS) of at most limit retained secrets
// shared with the peer, remembering which were used (XEP-0116 §4.6). The
// error is the store's.
func (s *Session) hashRetained(limit int) ([][]byte, error) {
	n := s.neg
	if s.cfg.cfg.Secrets == nil {
		return nil, nil
	}
	list, err := s.cfg.cfg.Secrets.Retained(s.cfg.account, s.peerBare)
	if err != nil {
		return nil, fmt.Errorf("esn: reading retained secrets: %w", err)
	}
	if len(list) > limit {
		list = list[:limit]
	}
	n.rsUsed = list
	var rsh [][]byte
	for _, rs := range list {
		rsh = append(rsh, s.suite.RetainedSecretHash(n.na, crypt.NewKey(rs.Secret)))
	}
	return rsh, nil
}

// base64s encodes each value for a multi-valued field.
func base64s(bs [][]byte) []string {
	vs := make([]string, len(bs))
	for i, b := range bs {
		vs[i] = crypt.EncodeBase64(b)
	}
	return vs
}

// sealIdentity encrypts the identity proof for mac (ID_X and M_X, digest
// §6.6) under k, advancing ctr; mac is cleared. method is the sender's
// public-key method (none for the gajim profile).
func (s *Session) sealIdentity(method string, mac []byte, k crypt.DirectionKeys, ctr *crypt.Counter) (id, m []byte, err error) {
	plain, err := s.identityPlaintext(method, mac)
	clear(mac)
	if err != nil {
		return nil, nil, err
	}
	id, m, err = s.suite.EncryptIdentity(k.Cipher, k.MAC, ctr, plain)
	clear(plain)
	return id, m, err
}

// openIdentity decrypts the peer's identity and mac fields under k,
// advancing ctr; who (M_A or M_B) names the failing proof. Any error is
// for the caller's one crypto-failure answer (digest §5.12).
func (s *Session) openIdentity(f *Form, who string, k crypt.DirectionKeys, ctr *crypt.Counter) (plain, id, mac []byte, err error) {
	id, err1 := b64Field(f, "identity", maxIdentityLen)
	mac, err2 := b64Field(f, "mac", maxMACLen)
	if err1 != nil || err2 != nil {
		return nil, nil, nil, errors.Join(err1, err2)
	}
	plain, err = s.suite.DecryptIdentity(k.Cipher, k.MAC, ctr, id, mac)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %s", ErrAuthentication, who)
	}
	return plain, id, mac, nil
}

// takeCompletion checks N_B and e of M3 against the commitment of M1 and
// derives K (XEP-0116 §4.7 steps 1-3: the commitment first, then the
// range). Any error is for the caller's one crypto-failure answer.
func (s *Session) takeCompletion(f *Form) error {
	n := s.neg
	nb, err := b64Field(f, "nonce", maxNonceLen)
	if err != nil || !ctEqual(nb, n.nb) {
		return errNonce
	}
	g, _ := crypt.GroupByID(s.params.Group)
	dk := f.Field("dhkeys")
	if dk == nil || len(dk.Values) != 1 {
		return errors.New("dhkeys must hold one value")
	}
	e, err := crypt.DecodeInteger("dhkeys", dk.Values[0], g.ByteLen())
	if err != nil {
		return err
	}
	if !crypt.VerifyCommitment(n.he, e) {
		return errCommitment
	}
	if err := g.Validate(e); err != nil {
		return err
	}
	n.peerPub = e
	if n.k, err = s.suite.SharedKey(n.priv, e); err != nil {
		return err
	}
	s.keylog(KeyLogNegotiation, n.k.MarshalPrivate())
	return nil
}

// parseRSHashes reads the rshashes of M3 (XEP-0116 §4.7 step 6).
func parseRSHashes(f *Form) ([][]byte, error) {
	fl := f.Field("rshashes")
	if fl == nil {
		return nil, nil
	}
	if len(fl.Values) > maxRSHashes {
		return nil, errors.New("too many rshashes")
	}
	var rshashes [][]byte
	for _, v := range fl.Values {
		b, err := crypt.DecodeBase64("rshashes", v, maxMACLen)
		if err != nil {
			return nil, err
		}
		rshashes = append(rshashes, b)
	}
	return rshashes, nil
}

// findRetained returns the retained secret shared with the peer that one
// of rshashes names, if any, and a function erasing every candidate read
// from the store. The error is the store's.
func (s *Session) findRetained(rshashes [][]byte) (crypt.Key, *RetainedSecret, func(), error) {
	var srs crypt.Key
	if s.cfg.cfg.Secrets == nil {
		return srs, nil, func() {}, nil
	}
	cands, err := s.cfg.cfg.Secrets.Retained(s.cfg.account, s.peerBare)
	if err != nil {
		return srs, nil, func() {}, fmt.Errorf("esn: reading retained secrets: %w", err)
	}
	keys := make([]crypt.Key, len(cands))
	for i, c := range cands {
		keys[i] = crypt.NewKey(c.Secret)
	}
	erase := func() {
		for _, k := range keys {
			k.Erase()
		}
		for _, c := range cands {
			clear(c.Secret)
		}
	}
	if i := s.suite.MatchRetainedSecret(s.neg.na, keys, rshashes); i >= 0 {
		return keys[i], &cands[i], erase, nil
	}
	return srs, nil, erase, nil
}

// matchUsedSecret returns the secret among those hashed into rshashes
// that srshash names, if any (digest §6.7), and a function erasing them.
func (s *Session) matchUsedSecret(srshash []byte) (crypt.Key, *RetainedSecret, func()) {
	n := s.neg
	keys := make([]crypt.Key, len(n.rsUsed))
	for i, rs := range n.rsUsed {
		keys[i] = crypt.NewKey(rs.Secret)
	}
	erase := func() {
		for _, k := range keys {
			k.Erase()
		}
	}
	if i := s.suite.MatchSharedRetainedSecret(keys, srshash); i >= 0 {
		return keys[i], &n.rsUsed[i], erase
	}
	return crypt.Key{}, nil, erase
}

// keepRetained stores RS_new in place of the shared secret (or as a new
// one) and records what the session was authenticated by.
func (s *Session) keepRetained(kf crypt.Key, srsEntry *RetainedSecret) error {
	if err := s.storeRetained(s.suite.NewRetainedSecret(kf), srsEntry); err != nil {
		return err
	}
	s.srs = srsEntry != nil
	s.verified = srsEntry != nil && srsEntry.Verified
	return nil
}

// piggyback processes an optional <c/> carried by the last negotiation
// message, only once the peer's identity verified.
func (s *Session) piggyback(out *Output, in *inbound) error {
	if in.c == nil {
		return nil
	}
	p, err := s.onEstablished(&inbound{st: in.st, from: in.from, thread: in.thread, kind: kindEncrypted, c: in.c}, nil)
	out.merge(p)
	return err
}

// oss is the other shared secret hashed into K_final: Gajim's is always
// empty (checkGajimPrefs refuses one).
func (s *Session) oss() []byte {
	if s.prefs().Profile == ProfileGajim {
		return nil
	}
	return s.prefs().OSS
}

// verifyPeerMAC checks the peer's decrypted identity proof against macOf.
// The gajim profile has no public keys: the proof is the bare mac, and a
// mismatch names it (which, e.g. mac_B).
func (s *Session) verifyPeerMAC(method, which string, plain []byte, macOf func(pubKey []byte) []byte) error {
	if s.prefs().Profile != ProfileGajim {
		return s.verifyIdentity(method, plain, macOf)
	}
	want := macOf(nil)
	defer clear(want)
	if !ctEqual(plain, want) {
		return fmt.Errorf("%w: %s", ErrAuthentication, which)
	}
	return nil
}

// establishStream creates the XEP-0200 stream the profile calls for.
func (s *Session) establishStream(send, recv crypt.DirectionKeys, sendCtr, recvCtr crypt.Counter) error {
	if s.prefs().Profile == ProfileGajim {
		return s.establishGajim(send, recv, sendCtr, recvCtr)
	}
	return s.establish(send, recv, sendCtr, recvCtr)
}

// randomHashValue is the srshash sent when no retained secret is shared
// (XEP-0116 §4.7 step 8); Gajim draws it as plain random octets.
func (s *Session) randomHashValue() ([]byte, error) {
	if s.prefs().Profile == ProfileGajim {
		return s.cfg.ent.filler(s.suite.Hash.Size())
	}
	return s.suite.RandomHashValue(s.cfg.cfg.Rand)
}

// resultForm starts a result form: Gajim writes FORM_TYPE as a typed
// text-single field, NewForm as a hidden one.
func (s *Session) resultForm() *Form {
	if s.prefs().Profile == ProfileGajim {
		f := &Form{Type: FormTypeResult}
		f.Add(gajimField("FORM_TYPE", NSSSN))
		return f
	}
	return NewForm(FormTypeResult)
}

// field is a plain negotiation field as the profile writes it (Gajim
// types every field text-single).
func (s *Session) field(v string, values ...string) Field {
	if s.prefs().Profile == ProfileGajim {
		return gajimField(v, values...)
	}
	return Field{Var: v, Values: values}
}

// maxRetainedHashed is how many retained secrets M3 may name: XEP-0116
// leaves room for the fillers, Gajim adds none beside real hashes.
func (s *Session) maxRetainedHashed() int {
	if s.prefs().Profile == ProfileGajim {
		return maxRSHashes
	}
	return maxRSHashes - rsFillers
}

// padRSHashes hides how many secrets rsh names: XEP-0116 §4.6 (D-8) adds
// rsFillers random values at random positions; Gajim adds one random
// value, and only when rsh is empty.
func (s *Session) padRSHashes(rsh [][]byte) ([][]byte, error) {
	if s.prefs().Profile == ProfileGajim {
		if len(rsh) > 0 {
			return rsh, nil
		}
		fl, err := s.cfg.ent.filler(s.suite.Hash.Size())
		if err != nil {
			return nil, err
		}
		return append(rsh, fl), nil
	}
	for range rsFillers {
		fl, err := s.cfg.ent.filler(s.suite.Hash.Size())
		if err != nil {
			return nil, err
		}
		pos, err := s.cfg.ent.filler(1)
		if err != nil {
			return nil, err
		}
		at := int(pos[0]) % (len(rsh) + 1)
		rsh = slices.Insert(rsh, at, fl)
	}
	return rsh, nil
}

// completionForm is M3 before its identity and mac (XEP-0116 §4.6): Gajim
// writes rshashes before dhkeys and types both text-single.
func (s *Session) completionForm(rsh [][]byte) *Form {
	n := s.neg
	f := s.resultForm()
	f.Add(s.field("accept", "1"))
	f.Add(s.field("nonce", crypt.EncodeBase64(n.nb)))
	dh := crypt.EncodeBase64(n.priv.PublicBytes())
	if s.prefs().Profile == ProfileGajim {
		f.Add(gajimField("rshashes", base64s(rsh)...))
		f.Add(gajimField("dhkeys", dh))
		return f
	}
	f.Add(Field{Var: "dhkeys", Type: "hidden", Values: []string{dh}})
	f.Add(Field{Var: "rshashes", Type: "hidden", Values: base64s(rsh)})
	return f
}

// cryptoFailer returns the one answer of a step to every failure of its
// cryptographic checks: feature-not-implemented without a field list, so
// that they are no oracle (digest §5.12). It fails the session into out
// and returns it.
func (s *Session) cryptoFailer(out *Output, step string) func(error) (Output, error) {
	return func(err error) (Output, error) {
		nerr := negFail(step, CondFeatureNotImplemented, err)
		s.fail(out, nerr, nerr, nil)
		return *out, nil
	}
}
