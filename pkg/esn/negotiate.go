package esn

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/xmltree"
)

// Limits on negotiation field sizes (digest §8.6).
const (
	maxIdentityLen = 4096
	maxMACLen      = 64
)

// start builds M1 (XEP-0116 §4.3, 4-message variant): one key pair per
// offered group, their SHA-256 commitments, and N_A.
func (s *Session) start(prefs Preferences) (Output, error) {
	if prefs.Profile == ProfileGajim {
		return s.startGajim(prefs) // gajim_negotiate.go
	}
	var out Output
	n := &negotiation{}
	s.neg = n
	var he [][]byte
	for _, id := range prefs.Groups {
		g, err := crypt.GroupByID(id)
		if err != nil {
			n.erase()
			return out, fmt.Errorf("esn: offering group %d: %w", id, err)
		}
		k, err := s.cfg.ent.key(g)
		if err != nil {
			n.erase()
			return out, err
		}
		n.keys = append(n.keys, k)
		he = append(he, k.Commitment())
	}
	var err error
	if n.na, err = s.cfg.ent.nonce(); err != nil {
		n.erase()
		return out, err
	}
	n.offer = buildRequest(prefs, n.na, he)
	if s.pk != nil {
		s.pk.applyKeyOffer(n.offer, n.keys)
	}
	n.formA = s.suite.NormalizeContent(n.offer.Element())
	m := s.message("normal")
	m.AddChild(featureWrap(n.offer))
	m.AddChild(ampNoStore())
	out.Send = append(out.Send, m)
	s.state = stateAwaitingResponse
	return out, nil
}

// onRequest is the responder's processing of M1 (XEP-0116 §4.4, digest
// §5.4, §5.5): select by our preferences, draw N_B, C_A and y, answer M2.
func (s *Session) onRequest(in *inbound) (Output, error) {
	if s.prefs().Profile == ProfileGajim {
		return s.onRequestGajim(in) // gajim_negotiate.go
	}
	var out Output
	prefs := s.prefs()
	prefs.keys = s.setupResponder(prefs, in.form)
	r, nerr := selectRequest(prefs, in.form)
	if nerr != nil {
		s.fail(&out, nerr, nerr, in.wrapper)
		return out, nil
	}
	suite, err := s.suite.WithAlgorithms(r.params.Cipher, r.params.Hash)
	if err != nil {
		nerr := negFail("request", CondNotAcceptable, err, "crypt_algs", "hash_algs")
		s.fail(&out, nerr, nerr, in.wrapper)
		return out, nil
	}
	suite.MACKeyBits128 = prefs.MacKeyBits128
	suite.MinGroup = min(slices.Min(prefs.Groups), suite.MinGroup)
	s.suite, s.params = suite, r.params
	n := &negotiation{na: r.na, he: r.he}
	s.neg = n
	g, _ := crypt.GroupByID(r.params.Group)
	if n.nb, err = s.cfg.ent.nonce(); err == nil {
		if n.ca, err = s.cfg.ent.counter(); err == nil {
			n.priv, err = s.cfg.ent.key(g)
		}
	}
	if err != nil {
		s.end(&out, err, false, false)
		return out, err
	}
	n.cb = n.ca.Peer()
	n.formA = s.suite.NormalizeContent(in.form.Element())
	f := NewForm(FormTypeSubmit)
	for _, fl := range r.answer {
		switch fl.Var {
		case "FORM_TYPE":
			continue
		case "my_nonce":
			fl.Values = []string{crypt.EncodeBase64(n.nb)}
		case "dhkeys":
			fl.Values = []string{crypt.EncodeBase64(n.priv.PublicBytes())}
		}
		f.Add(fl)
	}
	f.Add(Field{Var: "nonce", Values: []string{crypt.EncodeBase64(n.na)}})
	f.Add(Field{Var: "counter", Values: []string{crypt.EncodeBase64(n.ca.Bytes())}})
	n.formB = s.suite.NormalizeContent(f.Element())
	if r.three {
		if nerr := s.signResponse3(f, r.e); nerr != nil {
			s.fail(&out, nerr, nerr, in.wrapper)
			return out, nil
		}
	}
	m := s.message("normal")
	m.AddChild(featureWrap(f))
	out.Send = append(out.Send, m)
	s.state = stateAwaitingCompletion
	s.deadline = s.cfg.now().Add(s.cfg.negTimeout())
	return out, nil
}

// onResponse is the initiator's processing of M2 and sending of M3
// (XEP-0116 §4.5, §4.6; digest §5.6, §5.7).
func (s *Session) onResponse(in *inbound, perr error) (Output, error) {
	if s.prefs().Profile == ProfileGajim {
		return s.onResponseGajim(in, perr) // gajim_negotiate.go
	}
	var out Output
	n := s.neg
	const step = "response"
	switch in.kind {
	case kindDecline:
		reason, _ := in.form.Value("reason")
		s.peer = in.from
		s.end(&out, fmt.Errorf("%w: %q", ErrDeclined, truncate(reason)), true, false)
		return out, nil
	case kindAccept:
	default:
		if perr != nil {
			s.peer = in.from
			nerr := negFail(step, CondNotAcceptable, perr, formErrField(perr)...)
			s.fail(&out, nerr, nerr, nil)
			return out, nil
		}
		return out, fmt.Errorf("esn: unexpected %s while awaiting the response", in.kind)
	}
	s.peer = in.from // bind to the responder's full JID ([XEP-0155] §5)
	resp := in.form
	par, nerr := checkResponse(s.prefs(), n.offer, resp)
	if nerr != nil {
		s.fail(&out, nerr, nerr, nil)
		return out, nil
	}
	bad := func(err error, cond string, fields ...string) (Output, error) {
		nerr := negFail(step, cond, err, fields...)
		s.fail(&out, nerr, nerr, nil)
		return out, nil
	}
	// Nonces and counter (digest §5.6 step 2, 4).
	na, err := b64Field(resp, "nonce", maxNonceLen)
	if err != nil {
		return bad(err, CondNotAcceptable, "nonce")
	}
	if !ctEqual(na, n.na) {
		return bad(errNonce, CondNotAcceptable, "nonce")
	}
	if n.nb, err = b64Field(resp, "my_nonce", maxNonceLen); err != nil || len(n.nb) < minNonceLen {
		return bad(fmt.Errorf("my_nonce: %v", err), CondNotAcceptable, "my_nonce")
	}
	if ctEqual(n.nb, n.na) {
		return bad(errReflection, CondNotAcceptable, "my_nonce")
	}
	cv, _ := resp.Value("counter")
	if n.ca, err = crypt.ParseCounter(cv); err != nil {
		return bad(err, CondNotAcceptable, "counter")
	}
	n.cb = n.ca.Peer()
	// The chosen group's key pair; erase the others.
	idx := slices.Index(choices(n.offer.Field("modp")), strconv.Itoa(par.Group))
	for i, k := range n.keys {
		if i != idx {
			k.Erase()
		}
	}
	n.priv = n.keys[idx]
	n.keys = nil
	g := n.priv.Group()
	dk := resp.Field("dhkeys")
	if dk == nil || len(dk.Values) != 1 {
		return bad(errors.New("dhkeys must hold one value"), CondNotAcceptable, "dhkeys")
	}
	// XEP-0116 §4.5: "Return <not-acceptable/> unless 1 < d < p-1".
	d, err := g.ParsePublic("dhkeys", dk.Values[0])
	if err != nil {
		return bad(err, CondNotAcceptable, "dhkeys")
	}
	if d.Cmp(n.priv.Public()) == 0 {
		return bad(errReflection, CondNotAcceptable, "dhkeys")
	}
	n.peerPub = d
	suite, err := s.suite.WithAlgorithms(par.Cipher, par.Hash)
	if err != nil {
		return bad(err, CondNotAcceptable, "crypt_algs", "hash_algs")
	}
	suite.MACKeyBits128 = s.prefs().MacKeyBits128
	suite.MinGroup = min(slices.Min(s.prefs().Groups), suite.MinGroup)
	s.suite, s.params = suite, par
	if n.k, err = s.suite.SharedKey(n.priv, d); err != nil {
		return bad(err, CondNotAcceptable, "dhkeys")
	}
	s.keylog(KeyLogNegotiation, n.k.MarshalPrivate())
	if s.pk != nil && s.pk.three {
		return s.completeResponse3(resp)
	}
	prov := s.suite.SessionKeys(n.k, crypt.Initiator) // provisory KC_A, KM_A, KS_A
	defer prov.Erase()
	n.formB = s.suite.NormalizeContent(resp.Element())

	// rshashes: the non-expired retained secrets shared with the peer, plus
	// fillers, in random positions (XEP-0116 §4.6, D-8).
	var rsh [][]byte
	if s.cfg.cfg.Secrets != nil {
		list, err := s.cfg.cfg.Secrets.Retained(s.cfg.account, s.peerBare)
		if err != nil {
			s.end(&out, fmt.Errorf("esn: reading retained secrets: %w", err), false, false)
			return out, nil
		}
		if len(list) > maxRSHashes-rsFillers {
			list = list[:maxRSHashes-rsFillers]
		}
		n.rsUsed = list
		for _, rs := range list {
			rsh = append(rsh, s.suite.RetainedSecretHash(n.na, crypt.NewKey(rs.Secret)))
		}
	}
	for range rsFillers {
		fl, err := s.cfg.ent.filler(s.suite.Hash.Size())
		if err != nil {
			s.end(&out, err, false, false)
			return out, err
		}
		pos, err := s.cfg.ent.filler(1)
		if err != nil {
			s.end(&out, err, false, false)
			return out, err
		}
		at := int(pos[0]) % (len(rsh) + 1)
		rsh = slices.Insert(rsh, at, fl)
	}
	f := NewForm(FormTypeResult)
	f.Add(Field{Var: "accept", Values: []string{"1"}})
	f.Add(Field{Var: "nonce", Values: []string{crypt.EncodeBase64(n.nb)}})
	f.Add(Field{Var: "dhkeys", Type: "hidden", Values: []string{crypt.EncodeBase64(n.priv.PublicBytes())}})
	rv := make([]string, len(rsh))
	for i, h := range rsh {
		rv[i] = crypt.EncodeBase64(h)
	}
	f.Add(Field{Var: "rshashes", Type: "hidden", Values: rv})
	formA2 := s.suite.NormalizeContent(f.Element())
	macA := s.suite.MacA(prov.SIGMA, n.na, n.nb, n.priv.Public(), s.ownPubKey(par.InitPubKey), n.formA, formA2)
	plainA, err := s.identityPlaintext(par.InitPubKey, macA)
	clear(macA)
	if err != nil {
		s.end(&out, err, false, false)
		return out, err
	}
	idA, mA, err := s.suite.EncryptIdentity(prov.Cipher, prov.MAC, &n.ca, plainA)
	clear(plainA)
	if err != nil {
		s.end(&out, err, false, false)
		return out, err
	}
	f.Add(Field{Var: "identity", Values: []string{crypt.EncodeBase64(idA)}})
	f.Add(Field{Var: "mac", Values: []string{crypt.EncodeBase64(mA)}})
	n.mA = mA
	s.sas = s.suite.SAS(mA, n.formB)
	m := s.message("normal")
	m.AddChild(featureWrap(f))
	out.Send = append(out.Send, m)
	s.state = stateAwaitingIdentity
	s.deadline = s.cfg.now().Add(s.cfg.negTimeout())
	return out, nil
}

// onCompletion is the responder's processing of M3 and sending of M4
// (XEP-0116 §4.7, digest §5.8, §5.9, §8.7).
func (s *Session) onCompletion(in *inbound, perr error) (Output, error) {
	if s.prefs().Profile == ProfileGajim {
		return s.onCompletionGajim(in, perr) // gajim_negotiate.go
	}
	var out Output
	n := s.neg
	const step = "completion"
	switch in.kind {
	case kindCancel:
		reason, _ := in.form.Value("reason")
		s.end(&out, fmt.Errorf("%w: initiator cancelled: %q", ErrDeclined, truncate(reason)), true, false)
		return out, nil
	case kindComplete:
	default:
		if perr != nil {
			nerr := negFail(step, CondNotAcceptable, perr, formErrField(perr)...)
			s.fail(&out, nerr, nerr, nil)
			return out, nil
		}
		return out, fmt.Errorf("esn: unexpected %s while awaiting the completion", in.kind)
	}
	f := in.form
	if s.pk != nil && s.pk.three {
		return s.onCompletion3(in)
	}
	// Every failure below answers feature-not-implemented without a field
	// list: crypto failures must not be oracles (digest §5.12).
	cryptoFail := func(err error) (Output, error) {
		nerr := negFail(step, CondFeatureNotImplemented, err)
		s.fail(&out, nerr, nerr, nil)
		return out, nil
	}
	nb, err := b64Field(f, "nonce", maxNonceLen)
	if err != nil || !ctEqual(nb, n.nb) {
		return cryptoFail(errNonce)
	}
	g, _ := crypt.GroupByID(s.params.Group)
	dk := f.Field("dhkeys")
	if dk == nil || len(dk.Values) != 1 {
		return cryptoFail(errors.New("dhkeys must hold one value"))
	}
	// XEP-0116 §4.7 steps 1-2: the commitment first, then the range.
	e, err := crypt.DecodeInteger("dhkeys", dk.Values[0], g.ByteLen())
	if err != nil {
		return cryptoFail(err)
	}
	if !crypt.VerifyCommitment(n.he, e) {
		return cryptoFail(errCommitment)
	}
	if err := g.Validate(e); err != nil {
		return cryptoFail(err)
	}
	n.peerPub = e
	if n.k, err = s.suite.SharedKey(n.priv, e); err != nil {
		return cryptoFail(err)
	}
	s.keylog(KeyLogNegotiation, n.k.MarshalPrivate())
	prov := s.suite.SessionKeys(n.k, crypt.Initiator)
	defer prov.Erase()
	idA, err1 := b64Field(f, "identity", maxIdentityLen)
	mA, err2 := b64Field(f, "mac", maxMACLen)
	if err1 != nil || err2 != nil {
		return cryptoFail(errors.Join(err1, err2))
	}
	macA, err := s.suite.DecryptIdentity(prov.Cipher, prov.MAC, &n.ca, idA, mA)
	if err != nil {
		return cryptoFail(fmt.Errorf("%w: M_A", ErrAuthentication))
	}
	formA2 := s.suite.NormalizeContent(f.Element(), "identity", "mac")
	err = s.verifyIdentity(s.params.InitPubKey, macA, func(pk []byte) []byte {
		return s.suite.MacA(prov.SIGMA, n.na, n.nb, e, pk, n.formA, formA2)
	})
	clear(macA)
	if err != nil {
		return cryptoFail(err)
	}
	s.sas = s.suite.SAS(mA, n.formB)

	// Shared retained secret (XEP-0116 §4.7 step 6).
	var rshashes [][]byte
	if fl := f.Field("rshashes"); fl != nil {
		if len(fl.Values) > maxRSHashes {
			return cryptoFail(errors.New("too many rshashes"))
		}
		for _, v := range fl.Values {
			b, err := crypt.DecodeBase64("rshashes", v, maxMACLen)
			if err != nil {
				return cryptoFail(err)
			}
			rshashes = append(rshashes, b)
		}
	}
	var srs crypt.Key
	var srsEntry *RetainedSecret
	var cands []RetainedSecret
	if s.cfg.cfg.Secrets != nil {
		if cands, err = s.cfg.cfg.Secrets.Retained(s.cfg.account, s.peerBare); err != nil {
			s.end(&out, fmt.Errorf("esn: reading retained secrets: %w", err), false, false)
			return out, nil
		}
		keys := make([]crypt.Key, len(cands))
		for i, c := range cands {
			keys[i] = crypt.NewKey(c.Secret)
		}
		if i := s.suite.MatchRetainedSecret(n.na, keys, rshashes); i >= 0 {
			srs, srsEntry = keys[i], &cands[i]
		}
		defer func() {
			for _, k := range keys {
				k.Erase()
			}
			for _, c := range cands {
				clear(c.Secret)
			}
		}()
	}
	kf := s.suite.FinalKey(n.k, srs, s.prefs().OSS)
	defer kf.Erase()
	s.keylog(KeyLogFinal, kf.MarshalPrivate())
	ka := s.suite.SessionKeys(kf, crypt.Initiator)
	kb := s.suite.SessionKeys(kf, crypt.Responder)
	defer ka.Erase()
	defer kb.Erase()
	var srshash []byte
	if srsEntry != nil {
		srshash = s.suite.SharedRetainedSecretHash(srs)
	} else if srshash, err = s.suite.RandomHashValue(s.cfg.cfg.Rand); err != nil {
		s.end(&out, err, false, false)
		return out, err
	}
	m4 := NewForm(FormTypeResult)
	m4.Add(Field{Var: "nonce", Values: []string{crypt.EncodeBase64(n.na)}})
	m4.Add(Field{Var: "srshash", Values: []string{crypt.EncodeBase64(srshash)}})
	formB2 := s.suite.NormalizeContent(m4.Element())
	macB := s.suite.MacB(kb.SIGMA, n.na, n.nb, n.priv.Public(), s.ownPubKey(s.params.RespPubKey), n.formB, formB2)
	plainB, err := s.identityPlaintext(s.params.RespPubKey, macB)
	clear(macB)
	if err != nil {
		s.end(&out, err, false, false)
		return out, err
	}
	idB, mB, err := s.suite.EncryptIdentity(kb.Cipher, kb.MAC, &n.cb, plainB)
	clear(plainB)
	if err != nil {
		s.end(&out, err, false, false)
		return out, err
	}
	m4.Add(Field{Var: "identity", Values: []string{crypt.EncodeBase64(idB)}})
	m4.Add(Field{Var: "mac", Values: []string{crypt.EncodeBase64(mB)}})

	// RS_new is written before M4 is sent (XEP-0116 §4.7 step 12, D-16).
	if err := s.storeRetained(s.suite.NewRetainedSecret(kf), srsEntry); err != nil {
		nerr := negFail(step, "internal-server-error", err)
		s.fail(&out, nerr, nerr, nil)
		return out, nil
	}
	s.srs = srsEntry != nil
	s.verified = srsEntry != nil && srsEntry.Verified
	if err := s.establish(kb, ka, n.cb, n.ca); err != nil {
		s.end(&out, err, false, false)
		return out, err
	}
	m := s.message("normal")
	m.AddChild(xmltree.New(NSInit, "init").AddChild(m4.Element()))
	out.Send = append(out.Send, m)
	s.established(&out)
	return out, nil
}

// onIdentity is the initiator's processing of M4 (XEP-0116 §4.8, digest
// §5.10).
func (s *Session) onIdentity(in *inbound, perr error) (Output, error) {
	if s.prefs().Profile == ProfileGajim {
		return s.onIdentityGajim(in, perr) // gajim_negotiate.go
	}
	var out Output
	n := s.neg
	const step = "identity"
	cryptoFail := func(err error) (Output, error) {
		nerr := negFail(step, CondFeatureNotImplemented, err)
		s.fail(&out, nerr, nerr, nil)
		return out, nil
	}
	if in.kind != kindIdentity {
		if perr != nil {
			return cryptoFail(perr)
		}
		return out, fmt.Errorf("esn: unexpected %s while awaiting the identity", in.kind)
	}
	f := in.form
	na, err := b64Field(f, "nonce", maxNonceLen)
	if err != nil || !ctEqual(na, n.na) {
		return cryptoFail(errNonce)
	}
	srshash, err := b64Field(f, "srshash", maxMACLen)
	if err != nil {
		return cryptoFail(err)
	}
	// SRS: among exactly the secrets hashed into rshashes (digest §6.7).
	keys := make([]crypt.Key, len(n.rsUsed))
	for i, rs := range n.rsUsed {
		keys[i] = crypt.NewKey(rs.Secret)
	}
	defer func() {
		for _, k := range keys {
			k.Erase()
		}
	}()
	var srs crypt.Key
	var srsEntry *RetainedSecret
	if i := s.suite.MatchSharedRetainedSecret(keys, srshash); i >= 0 {
		srs, srsEntry = keys[i], &n.rsUsed[i]
	}
	kf := s.suite.FinalKey(n.k, srs, s.prefs().OSS)
	defer kf.Erase()
	ka := s.suite.SessionKeys(kf, crypt.Initiator)
	kb := s.suite.SessionKeys(kf, crypt.Responder)
	defer ka.Erase()
	defer kb.Erase()
	idB, err1 := b64Field(f, "identity", maxIdentityLen)
	mB, err2 := b64Field(f, "mac", maxMACLen)
	if err1 != nil || err2 != nil {
		return cryptoFail(errors.Join(err1, err2))
	}
	cb := n.cb
	macB, err := s.suite.DecryptIdentity(kb.Cipher, kb.MAC, &cb, idB, mB)
	if err != nil {
		return cryptoFail(fmt.Errorf("%w: M_B", ErrAuthentication))
	}
	formB2 := s.suite.NormalizeContent(f.Element(), "identity", "mac")
	err = s.verifyIdentity(s.params.RespPubKey, macB, func(pk []byte) []byte {
		return s.suite.MacB(kb.SIGMA, n.na, n.nb, n.peerPub, pk, n.formB, formB2)
	})
	clear(macB)
	if err != nil {
		return cryptoFail(err)
	}
	s.keylog(KeyLogFinal, kf.MarshalPrivate())
	// RS_new only after Bob's identity verified (D-13).
	if err := s.storeRetained(s.suite.NewRetainedSecret(kf), srsEntry); err != nil {
		s.end(&out, err, false, false)
		return out, nil
	}
	s.srs = srsEntry != nil
	s.verified = srsEntry != nil && srsEntry.Verified
	if err := s.establish(ka, kb, n.ca, cb); err != nil {
		s.end(&out, err, false, false)
		return out, err
	}
	s.established(&out)
	// An optional <c/> in M4, processed only now that Bob is verified.
	if in.c != nil {
		p, err := s.onEstablished(&inbound{st: in.st, from: in.from, thread: in.thread, kind: kindEncrypted, c: in.c}, nil)
		out.merge(p)
		return out, err
	}
	return out, nil
}

// storeRetained replaces the shared secret's entry, or adds a new one.
func (s *Session) storeRetained(rsNew crypt.Key, srs *RetainedSecret) error {
	defer rsNew.Erase()
	st := s.cfg.cfg.Secrets
	if st == nil {
		return nil
	}
	b := rsNew.MarshalPrivate()
	defer clear(b)
	var err error
	if srs != nil {
		err = st.ReplaceRetained(s.cfg.account, srs.ID, b, s.peerBare)
	} else {
		err = st.AddRetained(s.cfg.account, s.peerBare, b)
	}
	if err != nil {
		return fmt.Errorf("esn: storing the new retained secret: %w", err)
	}
	return nil
}

// established finishes a negotiation: erase it and report.
func (s *Session) established(out *Output) {
	s.neg.erase()
	s.neg = nil
	s.state = stateEstablished
	s.deadline = time.Time{}
	out.Change = max(out.Change, Established)
	out.add(NegotiatedEvent{Thread: s.thread, Peer: s.peer, Role: s.role, Params: s.params,
		SAS: s.sas, RetainedSecret: s.srs, Verified: s.verified,
		PeerKey: s.pk.verifiedPeerKey(), ThreeMessage: s.pk != nil && s.pk.three})
	if s.params.Disclosure != DisclosureNever {
		out.add(WarningEvent{Thread: s.thread, Peer: s.peer,
			Text: fmt.Sprintf("disclosure is %q, not \"never\": the session content may be disclosed to third parties", s.params.Disclosure)})
	}
}

// establish creates the XEP-0200 stream from the final keys.
func (s *Session) establish(send, recv crypt.DirectionKeys, sendCtr, recvCtr crypt.Counter) error {
	n := s.neg
	g, err := crypt.GroupByID(s.params.Group)
	if err != nil {
		return err
	}
	cfg := crypt.StreamConfig{
		Suite:      s.suite,
		SendCipher: send.Cipher, SendMAC: send.MAC, SendCounter: sendCtr,
		RecvCipher: recv.Cipher, RecvMAC: recv.MAC, RecvCounter: recvCtr,
		RekeyFreq: s.params.RekeyFreq,
		Now:       s.cfg.now,
		Rand:      s.cfg.cfg.Rand,
		OnRekey:   s.rekeyHook(), // keylog.go
	}
	if s.params.RekeyFreq != crypt.NoRekey {
		cfg.Group, cfg.Own, cfg.PeerPublic = g, n.priv, n.peerPub
		n.priv = nil // the stream owns it now
	}
	st, err := crypt.NewStream(cfg)
	if err != nil {
		return err
	}
	s.stream = st
	return nil
}

// b64Field decodes the single Base64 value of a field.
func b64Field(f *Form, v string, maxLen int) ([]byte, error) {
	fl := f.Field(v)
	if fl == nil || len(fl.Values) != 1 {
		return nil, fmt.Errorf("field %q must hold one value", v)
	}
	b, err := crypt.DecodeBase64(v, fl.Values[0], maxLen)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("field %q is empty", v)
	}
	return b, nil
}

func formErrField(err error) []string {
	var fe *FormError
	if errors.As(err, &fe) && fe.Field != "" {
		return []string{fe.Field}
	}
	return nil
}
