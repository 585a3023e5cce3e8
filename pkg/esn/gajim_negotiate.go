package esn

import (
	"fmt"
	"math/big"
	"slices"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/xmltree"
)

// The 4-message negotiation of the gajim profile (gajim-compat.md
// "Negotiation"). It follows XEP-0116 §4 like negotiate.go, with Gajim's
// forms, its c14n (through the suite), 8-octet nonces, a uniformly random
// counter, no OSS, no public keys and no re-keying. M1 and M2 are built
// here, entered from start and onRequest; M3, M4 and their checks are the
// steps of negotiate.go, whose profile-specific values come from
// negsteps.go.

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
	n, he, err := s.offerKeys(prefs.Groups, s.gajimNonce)
	if err != nil {
		return out, err
	}
	n.offer = buildGajimRequest(prefs, n.na, he)
	return s.sendOffer(n), nil
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
	n, err := s.beginResponse(suite, r, in.form, s.gajimNonce, s.gajimCounter)
	if err != nil {
		s.end(&out, err, false, false)
		return out, err
	}
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
	s.sendStep(&out, f, stateAwaitingCompletion)
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
