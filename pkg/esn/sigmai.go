package esn

import (
	"errors"
	"math/big"

	"github.com/esn-project/esn/pkg/crypt"
)

// The 3-message negotiation (SIGMA-I, "ESession-I") of XEP-0116 §4.3-§4.6,
// digest §5: Alice sends her DH values in M1 (dhkeys) because she already
// trusts Bob's key; Bob answers with d and his identity proof in M2; Alice
// verifies it and sends hers in M3. Both sides then use the keys derived
// from K directly: no SAS, no retained secrets. Public keys are mandatory
// (init_pubkey and resp_pubkey never none, AMB-18).
//
// An unauthenticated feature-not-implemented answer naming dhkeys ends the
// session: esn never falls back to the 4-message variant by itself, since
// that would reveal Alice's identity to whoever forged the error (digest
// §8.5 item 3).

// parseDHKeys checks the dhkeys of a SIGMA-I request (one value per
// offered group, digest §5.4 step 1) and returns e for the chosen group.
// The range check is the caller's (it answers feature-not-implemented).
func parseDHKeys(fl *Field, nGroups, idx, group int, fail func(string)) *big.Int {
	if fl == nil || nGroups == 0 || len(fl.Values) != nGroups {
		fail("dhkeys")
		return nil
	}
	for _, v := range fl.Values {
		if b, err := crypt.DecodeBase64("dhkeys", v, 1024); err != nil || len(b) == 0 {
			fail("dhkeys")
			return nil
		}
	}
	if idx < 0 {
		return nil
	}
	g, err := crypt.GroupByID(group)
	if err != nil {
		fail("modp")
		return nil
	}
	e, err := crypt.DecodeInteger("dhkeys", fl.Values[idx], g.ByteLen())
	if err != nil {
		fail("dhkeys")
		return nil
	}
	return e
}

// signResponse3 completes Bob's M2 of SIGMA-I (XEP-0116 §4.4 step 4-6,
// digest §5.5): checks e, derives K and the six keys, and appends his
// identity proof (identity = ID_B, mac = M_B) to f, whose normalized
// content is already n.formB.
func (s *Session) signResponse3(f *Form, e *big.Int) *NegotiationError {
	n := s.neg
	const step = "request"
	g := n.priv.Group()
	if err := g.Validate(e); err != nil {
		return negFail(step, CondFeatureNotImplemented, err)
	}
	n.peerPub = e
	var err error
	if n.k, err = s.suite.SharedKey(n.priv, e); err != nil {
		return negFail(step, CondFeatureNotImplemented, err)
	}
	s.keylog(KeyLogNegotiation, n.k.MarshalPrivate())
	kb := s.suite.SessionKeys(n.k, crypt.Responder)
	defer kb.Erase()
	macB := s.suite.MacB(kb.SIGMA, n.na, n.nb, n.priv.Public(), s.ownPubKey(s.params.RespPubKey), n.formB, nil)
	idB, mB, err := s.sealIdentity(s.params.RespPubKey, macB, kb, &n.cb)
	if err != nil {
		return negFail(step, "internal-server-error", err)
	}
	f.Add(Field{Var: "identity", Values: []string{crypt.EncodeBase64(idB)}})
	f.Add(Field{Var: "mac", Values: []string{crypt.EncodeBase64(mB)}})
	return nil
}

// completeResponse3 is Alice's processing of a SIGMA-I M2 after the checks
// shared with the 4-message variant (XEP-0116 §4.5 step 8, digest §5.6
// step 8) and her M3 (§4.6, digest §5.7).
func (s *Session) completeResponse3(resp *Form) (Output, error) {
	var out Output
	n := s.neg
	cryptoFail := s.cryptoFailer(&out, "response")
	ka := s.suite.SessionKeys(n.k, crypt.Initiator)
	kb := s.suite.SessionKeys(n.k, crypt.Responder)
	defer ka.Erase()
	defer kb.Erase()
	cb := n.cb
	plain, _, _, err := s.openIdentity(resp, "M_B", kb, &cb)
	if err != nil {
		return cryptoFail(err)
	}
	n.formB = s.suite.NormalizeContent(resp.Element(), "identity", "mac")
	err = s.verifyIdentity(s.params.RespPubKey, plain, func(pk []byte) []byte {
		return s.suite.MacB(kb.SIGMA, n.na, n.nb, n.peerPub, pk, n.formB, nil)
	})
	clear(plain)
	if err != nil {
		return cryptoFail(err)
	}
	f := NewForm(FormTypeResult)
	f.Add(Field{Var: "accept", Values: []string{"1"}})
	f.Add(Field{Var: "nonce", Values: []string{crypt.EncodeBase64(n.nb)}})
	formA2 := s.suite.NormalizeContent(f.Element())
	macA := s.suite.MacA(ka.SIGMA, n.na, n.nb, n.priv.Public(), s.ownPubKey(s.params.InitPubKey), n.formA, formA2)
	idA, mA, err := s.sealIdentity(s.params.InitPubKey, macA, ka, &n.ca)
	if err != nil {
		s.end(&out, err, false, false)
		return out, err
	}
	f.Add(Field{Var: "identity", Values: []string{crypt.EncodeBase64(idA)}})
	f.Add(Field{Var: "mac", Values: []string{crypt.EncodeBase64(mA)}})
	if err := s.establish(ka, kb, n.ca, cb); err != nil {
		s.end(&out, err, false, false)
		return out, err
	}
	m := s.message("normal")
	m.AddChild(featureWrap(f))
	out.Send = append(out.Send, m)
	s.established(&out)
	return out, nil
}

// onCompletion3 is Bob's processing of a SIGMA-I M3 (XEP-0116 §4.7
// "verify Alice", digest §5.8): after it both sides are active. A <c/>
// in M3 is processed only once Alice's identity verified.
func (s *Session) onCompletion3(in *inbound) (Output, error) {
	var out Output
	n := s.neg
	f := in.form
	cryptoFail := s.cryptoFailer(&out, "completion")
	nb, err := b64Field(f, "nonce", maxNonceLen)
	if err != nil || !ctEqual(nb, n.nb) {
		return cryptoFail(errNonce)
	}
	if f.Field("dhkeys") != nil || f.Field("rshashes") != nil {
		return cryptoFail(errors.New("4-message fields in a 3-message completion"))
	}
	ka := s.suite.SessionKeys(n.k, crypt.Initiator)
	kb := s.suite.SessionKeys(n.k, crypt.Responder)
	defer ka.Erase()
	defer kb.Erase()
	ca := n.ca
	plain, _, _, err := s.openIdentity(f, "M_A", ka, &ca)
	if err != nil {
		return cryptoFail(err)
	}
	formA2 := s.suite.NormalizeContent(f.Element(), "identity", "mac")
	err = s.verifyIdentity(s.params.InitPubKey, plain, func(pk []byte) []byte {
		return s.suite.MacA(ka.SIGMA, n.na, n.nb, n.peerPub, pk, n.formA, formA2)
	})
	clear(plain)
	if err != nil {
		return cryptoFail(err)
	}
	if err := s.establish(kb, ka, n.cb, ca); err != nil {
		s.end(&out, err, false, false)
		return out, err
	}
	s.established(&out)
	err = s.piggyback(&out, in)
	return out, err
}
