package esn

import (
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/xmltree"
)

// The 4-message negotiation of the gajim profile (gajim-compat.md
// "Negotiation"). It follows XEP-0116 §4 like negotiate.go, with Gajim's
// forms, its c14n (through the suite), 8-octet nonces, a uniformly random
// counter, no OSS, no public keys and no re-keying. Each step is entered
// from the matching step of negotiate.go.

// gajimNonce draws Gajim's 8-octet my_nonce.
func (s *Session) gajimNonce() ([]byte, error) {
	return s.cfg.ent.filler(crypt.GajimNonceSize)
}

// gajimCounter draws C_A as Gajim does: 128 uniformly random bits.
func (s *Session) gajimCounter() (crypt.Counter, error) {
	b, err := s.cfg.ent.filler(16)
	if err != nil {
		return crypt.Counter{}, fmt.Errorf("esn: drawing a counter: %w", err)
	}
	return crypt.CounterFromBytes(b)
}

// checkGajimPrefs refuses what Gajim cannot do. AuthAuto means the SAS
// here: Gajim has no public keys to use.
func checkGajimPrefs(p Preferences) error {
	if p.Auth == AuthKey {
		return fmt.Errorf("%w: public-key authentication (Gajim's init_pubkey and resp_pubkey are always none)", ErrProfileFeature)
	}
	if len(p.OSS) > 0 {
		return fmt.Errorf("%w: an other shared secret (Gajim's OSS is always empty)", ErrProfileFeature)
	}
	return nil
}

// startGajim builds Gajim's M1.
func (s *Session) startGajim(prefs Preferences) (Output, error) {
	var out Output
	if err := checkGajimPrefs(prefs); err != nil {
		return out, err
	}
	s.pk = nil // AuthAuto: no keys to offer (setupInitiator prepared some)
	s.suite = gajimSuite(s.suite)
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
	if n.na, err = s.gajimNonce(); err != nil {
		n.erase()
		return out, err
	}
	n.offer = buildGajimRequest(prefs, n.na, he)
	n.formA = s.suite.NormalizeContent(n.offer.Element())
	m := s.message("normal")
	m.AddChild(featureWrap(n.offer))
	m.AddChild(ampNoStore())
	out.Send = append(out.Send, m)
	s.state = stateAwaitingResponse
	return out, nil
}

// onRequestGajim answers M1 with Gajim's M2: a submit form whose fields
// are all typed text-single, accept=true, the negotiated fields, modp,
// my_nonce, dhkeys, counter and nonce.
func (s *Session) onRequestGajim(in *inbound) (Output, error) {
	var out Output
	prefs := s.prefs()
	r, nerr := gajimSelect(prefs, in.form)
	if nerr == nil {
		if err := checkGajimPrefs(prefs); err != nil {
			nerr = negFail("request", CondFeatureNotImplemented, err)
		}
	}
	if nerr != nil {
		s.fail(&out, nerr, nerr, in.wrapper)
		return out, nil
	}
	suite, err := gajimSuite(s.suite).WithAlgorithms(CipherAES128CTR, HashSHA256)
	if err != nil {
		return out, err
	}
	suite.MinGroup = min(slices.Min(prefs.Groups), suite.MinGroup)
	s.suite, s.params = suite, r.params
	n := &negotiation{na: r.na, he: r.he}
	s.neg = n
	g, _ := crypt.GroupByID(r.params.Group)
	if n.nb, err = s.gajimNonce(); err == nil {
		if n.ca, err = s.gajimCounter(); err == nil {
			n.priv, err = s.cfg.ent.key(g)
		}
	}
	if err != nil {
		s.end(&out, err, false, false)
		return out, err
	}
	n.cb = n.ca.Peer()
	n.formA = s.suite.NormalizeContent(in.form.Element())
	f := &Form{Type: FormTypeSubmit}
	f.Add(gajimField("FORM_TYPE", NSSSN))
	f.Add(gajimField("accept", "true"))
	for _, fl := range r.answer {
		f.Add(fl)
	}
	f.Add(gajimField("modp", fmt.Sprint(r.params.Group)))
	f.Add(gajimField("my_nonce", crypt.EncodeBase64(n.nb)))
	f.Add(gajimField("dhkeys", crypt.EncodeBase64(n.priv.PublicBytes())))
	f.Add(gajimField("counter", crypt.EncodeBase64(n.ca.Bytes())))
	f.Add(gajimField("nonce", crypt.EncodeBase64(n.na)))
	n.formB = s.suite.NormalizeContent(f.Element())
	xep := crypt.XEPSuite()
	n.alt = &gajimAlt{xepFormA: xep.NormalizeContent(in.form.Element()), xepFormB: xep.NormalizeContent(f.Element())}
	m := s.message("normal")
	m.AddChild(featureWrap(f))
	out.Send = append(out.Send, m)
	s.state = stateAwaitingCompletion
	s.deadline = s.cfg.now().Add(s.cfg.negTimeout())
	return out, nil
}

// onResponseGajim checks M2 and sends Gajim's M3: a result form with
// FORM_TYPE, accept, nonce, rshashes, dhkeys, identity and mac.
func (s *Session) onResponseGajim(in *inbound, perr error) (Output, error) {
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
	s.peer = in.from
	resp := in.form
	bad := func(err error, cond string, fields ...string) (Output, error) {
		nerr := negFail(step, cond, err, fields...)
		s.fail(&out, nerr, nerr, nil)
		return out, nil
	}
	par, nerr := gajimCheckResponse(s.prefs(), n.offer, resp)
	if nerr != nil {
		s.fail(&out, nerr, nerr, nil)
		return out, nil
	}
	na, err := b64Field(resp, "nonce", maxNonceLen)
	if err != nil || !ctEqual(na, n.na) {
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
	// The first group: gajimCheckResponse made sure of it.
	for _, k := range n.keys[1:] {
		k.Erase()
	}
	n.priv = n.keys[0]
	n.keys = nil
	dk := resp.Field("dhkeys")
	if dk == nil || len(dk.Values) != 1 {
		return bad(errors.New("dhkeys must hold one value"), CondNotAcceptable, "dhkeys")
	}
	d, err := n.priv.Group().ParsePublic("dhkeys", dk.Values[0])
	if err != nil {
		return bad(err, CondNotAcceptable, "dhkeys")
	}
	if d.Cmp(n.priv.Public()) == 0 {
		return bad(errReflection, CondNotAcceptable, "dhkeys")
	}
	n.peerPub = d
	suite, err := s.suite.WithAlgorithms(CipherAES128CTR, HashSHA256)
	if err != nil {
		return bad(err, CondNotAcceptable, "crypt_algs", "hash_algs")
	}
	suite.MinGroup = min(slices.Min(s.prefs().Groups), suite.MinGroup)
	s.suite, s.params = suite, par
	if n.k, err = s.suite.SharedKey(n.priv, d); err != nil {
		return bad(err, CondNotAcceptable, "dhkeys")
	}
	s.keylog(KeyLogNegotiation, n.k.MarshalPrivate())
	prov := s.suite.SessionKeys(n.k, crypt.Initiator)
	defer prov.Erase()
	n.formB = s.suite.NormalizeContent(resp.Element())

	// rshashes: HMAC(N_A, RS) of every retained secret; with none, exactly
	// one random value (Gajim adds no fillers otherwise).
	var rsh [][]byte
	if s.cfg.cfg.Secrets != nil {
		list, err := s.cfg.cfg.Secrets.Retained(s.cfg.account, s.peerBare)
		if err != nil {
			s.end(&out, fmt.Errorf("esn: reading retained secrets: %w", err), false, false)
			return out, nil
		}
		if len(list) > maxRSHashes {
			list = list[:maxRSHashes]
		}
		n.rsUsed = list
		for _, rs := range list {
			rsh = append(rsh, s.suite.RetainedSecretHash(n.na, crypt.NewKey(rs.Secret)))
		}
	}
	if len(rsh) == 0 {
		fl, err := s.cfg.ent.filler(s.suite.Hash.Size())
		if err != nil {
			s.end(&out, err, false, false)
			return out, err
		}
		rsh = append(rsh, fl)
	}
	rv := make([]string, len(rsh))
	for i, h := range rsh {
		rv[i] = crypt.EncodeBase64(h)
	}
	f := &Form{Type: FormTypeResult}
	f.Add(gajimField("FORM_TYPE", NSSSN))
	f.Add(gajimField("accept", "1"))
	f.Add(gajimField("nonce", crypt.EncodeBase64(n.nb)))
	f.Add(gajimField("rshashes", rv...))
	f.Add(gajimField("dhkeys", crypt.EncodeBase64(n.priv.PublicBytes())))
	formA2 := s.suite.NormalizeContent(f.Element())
	macA := s.suite.MacA(prov.SIGMA, n.na, n.nb, n.priv.Public(), nil, n.formA, formA2)
	idA, mA, err := s.suite.EncryptIdentity(prov.Cipher, prov.MAC, &n.ca, macA)
	clear(macA)
	if err != nil {
		s.end(&out, err, false, false)
		return out, err
	}
	f.Add(gajimField("identity", crypt.EncodeBase64(idA)))
	f.Add(gajimField("mac", crypt.EncodeBase64(mA)))
	n.mA = mA
	s.sas = s.suite.SAS(mA, n.formB)
	m := s.message("normal")
	m.AddChild(featureWrap(f))
	out.Send = append(out.Send, m)
	s.state = stateAwaitingIdentity
	s.deadline = s.cfg.now().Add(s.cfg.negTimeout())
	return out, nil
}

// onCompletionGajim verifies M3 and sends Gajim's M4: <init/> around a
// result form with FORM_TYPE, nonce, srshash, identity and mac.
func (s *Session) onCompletionGajim(in *inbound, perr error) (Output, error) {
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
	// As in onCompletion: one answer for every failure, no field list.
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
	caBefore := n.ca
	macA, err := s.suite.DecryptIdentity(prov.Cipher, prov.MAC, &n.ca, idA, mA)
	if err != nil {
		return cryptoFail(fmt.Errorf("%w: M_A", ErrAuthentication))
	}
	formA2 := s.suite.NormalizeContent(f.Element(), "identity", "mac")
	want := s.suite.MacA(prov.SIGMA, n.na, n.nb, e, nil, n.formA, formA2)
	ok := ctEqual(macA, want)
	clear(macA)
	clear(want)
	if !ok {
		return cryptoFail(s.gajimDiagnose(caBefore, idA, mA, e, f.Element()))
	}
	s.sas = s.suite.SAS(mA, n.formB)

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
	if s.cfg.cfg.Secrets != nil {
		cands, err := s.cfg.cfg.Secrets.Retained(s.cfg.account, s.peerBare)
		if err != nil {
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
	// K' = SHA256(K | SRS), hashed even with no SRS; Gajim's OSS is empty.
	kf := s.suite.FinalKey(n.k, srs, nil)
	defer kf.Erase()
	s.keylog(KeyLogFinal, kf.MarshalPrivate())
	ka := s.suite.SessionKeys(kf, crypt.Initiator)
	kb := s.suite.SessionKeys(kf, crypt.Responder)
	defer ka.Erase()
	defer kb.Erase()
	var srshash []byte
	if srsEntry != nil {
		srshash = s.suite.SharedRetainedSecretHash(srs)
	} else if srshash, err = s.cfg.ent.filler(s.suite.Hash.Size()); err != nil {
		s.end(&out, err, false, false)
		return out, err
	}
	m4 := &Form{Type: FormTypeResult}
	m4.Add(gajimField("FORM_TYPE", NSSSN))
	m4.Add(gajimField("nonce", crypt.EncodeBase64(n.na)))
	m4.Add(gajimField("srshash", crypt.EncodeBase64(srshash)))
	formB2 := s.suite.NormalizeContent(m4.Element())
	macB := s.suite.MacB(kb.SIGMA, n.na, n.nb, n.priv.Public(), nil, n.formB, formB2)
	idB, mB, err := s.suite.EncryptIdentity(kb.Cipher, kb.MAC, &n.cb, macB)
	clear(macB)
	if err != nil {
		s.end(&out, err, false, false)
		return out, err
	}
	m4.Add(gajimField("identity", crypt.EncodeBase64(idB)))
	m4.Add(gajimField("mac", crypt.EncodeBase64(mB)))
	if err := s.storeRetained(s.suite.NewRetainedSecret(kf), srsEntry); err != nil {
		nerr := negFail(step, "internal-server-error", err)
		s.fail(&out, nerr, nerr, nil)
		return out, nil
	}
	s.srs = srsEntry != nil
	s.verified = srsEntry != nil && srsEntry.Verified
	if err := s.establishGajim(kb, ka, n.cb, n.ca); err != nil {
		s.end(&out, err, false, false)
		return out, err
	}
	m := s.message("normal")
	m.AddChild(xmltree.New(NSInit, "init").AddChild(m4.Element()))
	out.Send = append(out.Send, m)
	s.established(&out)
	return out, nil
}

// gajimDiagnose says why mac_A failed: when the identity verifies under
// the XEP profile (its normalization, cipher key length and CTR start),
// the initiator is a XEP peer, and the error wraps [ErrProfileMismatch];
// otherwise it is an authentication failure. Either way the peer gets the
// same answer.
func (s *Session) gajimDiagnose(ca crypt.Counter, idA, mA []byte, e *big.Int, m3 *xmltree.Element) error {
	n := s.neg
	authErr := fmt.Errorf("%w: mac_A", ErrAuthentication)
	if n.alt == nil {
		return authErr
	}
	xs := crypt.XEPSuite()
	prov := xs.SessionKeys(n.k, crypt.Initiator)
	defer prov.Erase()
	macA, err := xs.DecryptIdentity(prov.Cipher, prov.MAC, &ca, idA, mA)
	if err != nil {
		return authErr
	}
	defer clear(macA)
	want := xs.MacA(prov.SIGMA, n.na, n.nb, e, nil, n.alt.xepFormA, xs.NormalizeContent(m3, "identity", "mac"))
	defer clear(want)
	if ctEqual(macA, want) {
		return mismatch("the initiator's identity verifies under the XEP profile (AES-128, XEP-0116 normalization), not Gajim's")
	}
	return authErr
}

// onIdentityGajim verifies Gajim's M4 and establishes the session.
func (s *Session) onIdentityGajim(in *inbound, perr error) (Output, error) {
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
	kf := s.suite.FinalKey(n.k, srs, nil)
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
	want := s.suite.MacB(kb.SIGMA, n.na, n.nb, n.peerPub, nil, n.formB, formB2)
	ok := ctEqual(macB, want)
	clear(macB)
	clear(want)
	if !ok {
		return cryptoFail(fmt.Errorf("%w: mac_B", ErrAuthentication))
	}
	s.keylog(KeyLogFinal, kf.MarshalPrivate())
	if err := s.storeRetained(s.suite.NewRetainedSecret(kf), srsEntry); err != nil {
		s.end(&out, err, false, false)
		return out, nil
	}
	s.srs = srsEntry != nil
	s.verified = srsEntry != nil && srsEntry.Verified
	if err := s.establishGajim(ka, kb, n.ca, cb); err != nil {
		s.end(&out, err, false, false)
		return out, err
	}
	s.established(&out)
	if in.c != nil {
		p, err := s.onEstablished(&inbound{st: in.st, from: in.from, thread: in.thread, kind: kindEncrypted, c: in.c}, nil)
		out.merge(p)
		return out, err
	}
	return out, nil
}

// establishGajim creates the stream: Gajim never re-keys, so a <key/> is
// a protocol violation whatever rekey_freq was answered.
func (s *Session) establishGajim(send, recv crypt.DirectionKeys, sendCtr, recvCtr crypt.Counter) error {
	st, err := crypt.NewStream(crypt.StreamConfig{
		Suite:      s.suite,
		SendCipher: send.Cipher, SendMAC: send.MAC, SendCounter: sendCtr,
		RecvCipher: recv.Cipher, RecvMAC: recv.MAC, RecvCounter: recvCtr,
		RekeyFreq: crypt.NoRekey,
		Now:       s.cfg.now,
		Rand:      s.cfg.cfg.Rand,
	})
	if err != nil {
		return err
	}
	s.stream = st
	return nil
}
