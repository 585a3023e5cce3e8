package esn

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/esn-project/esn/pkg/crypt"
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
	n, he, err := s.offerKeys(prefs.Groups, s.cfg.ent.nonce)
	if err != nil {
		return Output{}, err
	}
	n.offer = buildRequest(prefs, n.na, he)
	if s.pk != nil {
		s.pk.applyKeyOffer(n.offer, n.keys)
	}
	return s.sendOffer(n), nil
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
	n, err := s.beginResponse(suite, r, in.form, s.cfg.ent.nonce, s.cfg.ent.counter)
	if err != nil {
		s.end(&out, err, false, false)
		return out, err
	}
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
	s.sendStep(&out, f, stateAwaitingCompletion)
	return out, nil
}

// onResponse is the initiator's processing of M2 and sending of M3
// (XEP-0116 §4.5, §4.6; digest §5.6, §5.7), for every profile.
func (s *Session) onResponse(in *inbound, perr error) (Output, error) {
	var out Output
	n := s.neg
	if done, err := s.screenResponse(&out, in, perr); done {
		return out, err
	}
	s.peer = in.from // bind to the responder's full JID ([XEP-0155] §5)
	resp := in.form
	if nerr := s.readResponse(resp); nerr != nil {
		s.fail(&out, nerr, nerr, nil)
		return out, nil
	}
	if s.pk != nil && s.pk.three {
		return s.completeResponse3(resp)
	}
	prov := s.suite.SessionKeys(n.k, crypt.Initiator) // provisory KC_A, KM_A, KS_A
	defer prov.Erase()
	n.formB = s.suite.NormalizeContent(resp.Element())
	rsh, err := s.hashRetained(s.maxRetainedHashed())
	if err != nil {
		s.end(&out, err, false, false)
		return out, nil
	}
	if rsh, err = s.padRSHashes(rsh); err != nil {
		s.end(&out, err, false, false)
		return out, err
	}
	f := s.completionForm(rsh)
	formA2 := s.suite.NormalizeContent(f.Element())
	macA := s.suite.MacA(prov.SIGMA, n.na, n.nb, n.priv.Public(), s.ownPubKey(s.params.InitPubKey), n.formA, formA2)
	idA, mA, err := s.sealIdentity(s.params.InitPubKey, macA, prov, &n.ca)
	if err != nil {
		s.end(&out, err, false, false)
		return out, err
	}
	f.Add(s.field("identity", crypt.EncodeBase64(idA)))
	f.Add(s.field("mac", crypt.EncodeBase64(mA)))
	n.mA = mA
	s.sas = s.suite.SAS(mA, n.formB)
	s.sendStep(&out, f, stateAwaitingIdentity)
	return out, nil
}

// readResponse checks M2 against M1 and takes from it N_B, C_A, d, the
// chosen parameters and K (XEP-0116 §4.5, digest §5.6). The gajim profile
// checks M2 as a Gajim responder writes it, keeps the first group (its
// check made sure of it), answers any nonce failure alike, and keeps the
// 256-bit MAC keys.
func (s *Session) readResponse(resp *Form) *NegotiationError {
	const step = "response"
	n := s.neg
	gajim := s.prefs().Profile == ProfileGajim
	check := checkResponse
	if gajim {
		check = gajimCheckResponse
	}
	par, nerr := check(s.prefs(), n.offer, resp)
	if nerr != nil {
		return nerr
	}
	// Nonces and counter (digest §5.6 step 2, 4).
	na, err := b64Field(resp, "nonce", maxNonceLen)
	if err != nil && !gajim {
		return negFail(step, CondNotAcceptable, err, "nonce")
	}
	if err != nil || !ctEqual(na, n.na) {
		return negFail(step, CondNotAcceptable, errNonce, "nonce")
	}
	idx := 0
	if !gajim {
		idx = slices.Index(choices(n.offer.Field("modp")), strconv.Itoa(par.Group))
	}
	if field, err := n.takeResponse(resp, idx); err != nil {
		return negFail(step, CondNotAcceptable, err, field)
	}
	suite, err := s.suite.WithAlgorithms(par.Cipher, par.Hash)
	if err != nil {
		return negFail(step, CondNotAcceptable, err, "crypt_algs", "hash_algs")
	}
	if !gajim {
		suite.MACKeyBits128 = s.prefs().MacKeyBits128
	}
	suite.MinGroup = min(slices.Min(s.prefs().Groups), suite.MinGroup)
	s.suite, s.params = suite, par
	if n.k, err = s.suite.SharedKey(n.priv, n.peerPub); err != nil {
		return negFail(step, CondNotAcceptable, err, "dhkeys")
	}
	s.keylog(KeyLogNegotiation, n.k.MarshalPrivate())
	return nil
}

// onCompletion is the responder's processing of M3 and sending of M4
// (XEP-0116 §4.7, digest §5.8, §5.9, §8.7), for every profile.
func (s *Session) onCompletion(in *inbound, perr error) (Output, error) {
	var out Output
	n := s.neg
	const step = "completion"
	if done, err := s.screenCompletion(&out, in, perr); done {
		return out, err
	}
	f := in.form
	if s.pk != nil && s.pk.three {
		return s.onCompletion3(in)
	}
	// Every failure below answers feature-not-implemented without a field
	// list: crypto failures must not be oracles (digest §5.12).
	cryptoFail := s.cryptoFailer(&out, step)
	if err := s.takeCompletion(f); err != nil {
		return cryptoFail(err)
	}
	prov := s.suite.SessionKeys(n.k, crypt.Initiator)
	defer prov.Erase()
	caBefore := n.ca
	macA, idA, mA, err := s.openIdentity(f, "M_A", prov, &n.ca)
	if err != nil {
		return cryptoFail(err)
	}
	formA2 := s.suite.NormalizeContent(f.Element(), "identity", "mac")
	err = s.verifyPeerMAC(s.params.InitPubKey, "mac_A", macA, func(pk []byte) []byte {
		return s.suite.MacA(prov.SIGMA, n.na, n.nb, n.peerPub, pk, n.formA, formA2)
	})
	clear(macA)
	if err != nil && s.prefs().Profile == ProfileGajim {
		// Tell a XEP initiator from a forger (the peer's answer is the same).
		err = s.gajimDiagnose(caBefore, idA, mA, n.peerPub, f.Element())
	}
	if err != nil {
		return cryptoFail(err)
	}
	s.sas = s.suite.SAS(mA, n.formB)

	// Shared retained secret (XEP-0116 §4.7 step 6).
	rshashes, err := parseRSHashes(f)
	if err != nil {
		return cryptoFail(err)
	}
	srs, srsEntry, eraseCands, err := s.findRetained(rshashes)
	defer eraseCands()
	if err != nil {
		s.end(&out, err, false, false)
		return out, nil
	}
	kf := s.suite.FinalKey(n.k, srs, s.oss())
	defer kf.Erase()
	s.keylog(KeyLogFinal, kf.MarshalPrivate())
	ka := s.suite.SessionKeys(kf, crypt.Initiator)
	kb := s.suite.SessionKeys(kf, crypt.Responder)
	defer ka.Erase()
	defer kb.Erase()
	var srshash []byte
	if srsEntry != nil {
		srshash = s.suite.SharedRetainedSecretHash(srs)
	} else if srshash, err = s.randomHashValue(); err != nil {
		s.end(&out, err, false, false)
		return out, err
	}
	m4 := s.resultForm()
	m4.Add(s.field("nonce", crypt.EncodeBase64(n.na)))
	m4.Add(s.field("srshash", crypt.EncodeBase64(srshash)))
	formB2 := s.suite.NormalizeContent(m4.Element())
	macB := s.suite.MacB(kb.SIGMA, n.na, n.nb, n.priv.Public(), s.ownPubKey(s.params.RespPubKey), n.formB, formB2)
	idB, mB, err := s.sealIdentity(s.params.RespPubKey, macB, kb, &n.cb)
	if err != nil {
		s.end(&out, err, false, false)
		return out, err
	}
	m4.Add(s.field("identity", crypt.EncodeBase64(idB)))
	m4.Add(s.field("mac", crypt.EncodeBase64(mB)))

	// RS_new is written before M4 is sent (XEP-0116 §4.7 step 12, D-16).
	if err := s.keepRetained(kf, srsEntry); err != nil {
		nerr := negFail(step, "internal-server-error", err)
		s.fail(&out, nerr, nerr, nil)
		return out, nil
	}
	if err := s.establishStream(kb, ka, n.cb, n.ca); err != nil {
		s.end(&out, err, false, false)
		return out, err
	}
	s.sendInit(&out, m4)
	s.established(&out)
	return out, nil
}

// onIdentity is the initiator's processing of M4 (XEP-0116 §4.8, digest
// §5.10), for every profile.
func (s *Session) onIdentity(in *inbound, perr error) (Output, error) {
	var out Output
	n := s.neg
	const step = "identity"
	cryptoFail := s.cryptoFailer(&out, step)
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
	srs, srsEntry, eraseUsed := s.matchUsedSecret(srshash)
	defer eraseUsed()
	kf := s.suite.FinalKey(n.k, srs, s.oss())
	defer kf.Erase()
	ka := s.suite.SessionKeys(kf, crypt.Initiator)
	kb := s.suite.SessionKeys(kf, crypt.Responder)
	defer ka.Erase()
	defer kb.Erase()
	cb := n.cb
	macB, _, _, err := s.openIdentity(f, "M_B", kb, &cb)
	if err != nil {
		return cryptoFail(err)
	}
	formB2 := s.suite.NormalizeContent(f.Element(), "identity", "mac")
	err = s.verifyPeerMAC(s.params.RespPubKey, "mac_B", macB, func(pk []byte) []byte {
		return s.suite.MacB(kb.SIGMA, n.na, n.nb, n.peerPub, pk, n.formB, formB2)
	})
	clear(macB)
	if err != nil {
		return cryptoFail(err)
	}
	s.keylog(KeyLogFinal, kf.MarshalPrivate())
	// RS_new only after Bob's identity verified (D-13).
	if err := s.keepRetained(kf, srsEntry); err != nil {
		s.end(&out, err, false, false)
		return out, nil
	}
	if err := s.establishStream(ka, kb, n.ca, cb); err != nil {
		s.end(&out, err, false, false)
		return out, err
	}
	s.established(&out)
	// An optional <c/> in M4, processed only now that Bob is verified.
	err = s.piggyback(&out, in)
	return out, err
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
