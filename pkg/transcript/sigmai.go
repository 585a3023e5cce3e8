package transcript

import (
	"crypto/hmac"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/esn"
)

// The 3-message (SIGMA-I) negotiation of XEP-0116 §4.3-§4.7, digest §5:
// Alice's request carries her Diffie-Hellman values (dhkeys) instead of
// their hash commitments, Bob's response carries his identity proof under
// the keys derived from K, and Alice's completion hers. Both parties
// identify with public keys (key or hash); there is no SAS, no retained
// secret and no K_final: the traffic keys derive from K, which the key log
// holds as ESN_K.

// request3 describes the dhkeys of a SIGMA-I request: one e per offered
// group, in modp order (digest §5.3 step 5, §5.4 step 1). Their range is
// checked once the group is chosen (§5.4 step 4).
func (t *Transcript) request3(step *Step, s *session, f *esn.Form) {
	s.three = true
	step.add("variant", "3-message (SIGMA-I)", Info, "dhkeys in the request: the initiator already has the responder's public key")
	if f.Field("dhhashes") != nil {
		step.add("dhhashes", "", Failed, "a request carries either dhhashes (4-message) or dhkeys (3-message), not both")
	}
	if f.Field("sas_algs") != nil {
		step.add("sas_algs", "", Info, "offered, although the 3-message variant has no SAS")
	}
	dk := f.Field("dhkeys")
	for i, v := range dk.Values {
		b, err := crypt.DecodeBase64("dhkeys", v, 1024)
		name := "e"
		if i < len(s.groups) {
			name = "e[" + s.groups[i] + "]"
		}
		step.check(name, bigSummary(nil, v), err == nil && len(b) > 0, fmt.Sprint("want Base64 of 1 to 1024 bytes: ", err))
		if i >= len(s.groups) {
			break
		}
		s.eWire = append(s.eWire, v)
	}
	if len(dk.Values) != len(s.groups) {
		step.add("dhkeys", strconv.Itoa(len(dk.Values)), Failed, "one e per offered group is required")
	}
}

// accept3 is the rest of a SIGMA-I response after the checks it shares
// with the 4-message one: the range of Alice's e for the chosen group
// (digest §5.4 step 4), then Bob's identity proof (§5.6 step 8) with the
// keys derived from the logged K.
func (t *Transcript) accept3(step *Step, s *session, f *esn.Form) {
	modp := s.params["modp"]
	idx := slices.Index(s.groups, modp)
	if idx < 0 || idx >= len(s.eWire) {
		step.add("e (dhkeys of M1)", "", Failed, "the request has no e for the chosen group")
		return
	}
	e, err := s.group.ParsePublic("dhkeys", s.eWire[idx])
	step.check("e["+modp+"] (dhkeys of M1)", bigSummary(e, s.eWire[idx]), err == nil, fmt.Sprint("1 < e < p-1 fails: ", err))
	if err != nil {
		return
	}
	s.e = e
	if s.d != nil && s.d.Cmp(e) == 0 {
		step.add("d (dhkeys)", "", Failed, "d equals e (reflection)")
		return
	}
	idB, err1 := oneB64(f, "identity", 4096)
	mB, err2 := oneB64(f, "mac", 64)
	if err1 != nil || err2 != nil {
		step.add("identity/mac", "", Failed, "a 3-message response carries the responder's identity proof: "+fmt.Sprint(errors.Join(err1, err2)))
		return
	}
	s.idB = idB
	s.cbAfter = s.cb.Add(identityBlocks(s, idB))
	step.add("ID_B (identity)", fmt.Sprintf("%d bytes", len(idB)), Info, "")
	step.add("M_B (mac)", b64(mB), Info, "")
	ks := t.keys.Secrets(step.Thread, esn.KeyLogNegotiation)
	if len(ks) == 0 {
		step.add("M_B, sign_B", "", NeedsKey, "needs ESN_K for this thread in the key log")
		return
	}
	o, ok := s.openIdentity(ks, crypt.Responder, s.cb, idB, mB)
	if !ok {
		step.add("M_B = HMAC(KM_B, C_B | ID_B)", b64(mB), Failed, "does not verify with the logged K")
		return
	}
	defer o.a.Erase()
	defer o.b.Erase()
	s.k3 = o.secret
	step.add("M_B = HMAC(KM_B, C_B | ID_B)", b64(mB), OK, "identity MAC, keys from K (3-message: no K_final)")
	t.proof(step, s, partyB, o.plain, func(pubKey []byte) []byte {
		return s.suite.MacB(o.b.SIGMA, s.na, s.nb, s.d, pubKey, s.formB, nil)
	})
}

// complete3 checks Alice's SIGMA-I completion (digest §5.7, §5.8 "verify
// Alice"): the echoed N_B, no 4-message fields, her identity proof under
// the keys from K. Then both directions are followed with those keys.
func (t *Transcript) complete3(step *Step, s *session, f *esn.Form) {
	if s.e == nil {
		step.add("thread", "", Info, "the accept of this thread is not in the capture, or its e did not verify")
		return
	}
	if s.idA != nil {
		step.add("complete", "", Failed, "a second completion for this thread (replay?)")
		return
	}
	nb, err := oneB64(f, "nonce", 64)
	step.check("N_B echoed (nonce)", b64(nb), err == nil && hmac.Equal(nb, s.nb), "does not match the accept's my_nonce")
	for _, v := range []string{"dhkeys", "rshashes"} {
		if f.Field(v) != nil {
			step.add(v, "", Failed, "a 4-message field in a 3-message completion")
		}
	}
	idA, err1 := oneB64(f, "identity", 4096)
	mA, err2 := oneB64(f, "mac", 64)
	if err1 != nil || err2 != nil {
		step.add("identity/mac", "", Failed, fmt.Sprint(errors.Join(err1, err2)))
		return
	}
	s.idA, s.mA = idA, mA
	step.add("ID_A (identity)", fmt.Sprintf("%d bytes", len(idA)), Info, "")
	step.add("M_A (mac)", b64(mA), Info, "")
	formA2 := esn.NormContent(f.Element(), "identity", "mac")
	ks := t.keys.Secrets(step.Thread, esn.KeyLogNegotiation)
	if s.k3 != nil {
		ks = [][]byte{s.k3} // the K that verified Bob's identity
	}
	if len(ks) == 0 {
		step.add("M_A, sign_A", "", NeedsKey, "needs ESN_K for this thread in the key log")
		return
	}
	o, ok := s.openIdentity(ks, crypt.Initiator, s.ca, idA, mA)
	if !ok {
		step.add("M_A = HMAC(KM_A, C_A | ID_A)", b64(mA), Failed, "does not verify with the logged K")
		return
	}
	step.add("M_A = HMAC(KM_A, C_A | ID_A)", b64(mA), OK, "identity MAC, keys from K (3-message)")
	t.proof(step, s, partyA, o.plain, func(pubKey []byte) []byte {
		return s.suite.MacA(o.a.SIGMA, s.na, s.nb, s.e, pubKey, s.formA, formA2)
	})
	// The directions keep the keys.
	s.dirs[0] = s.newDirection(o.a, o.after)
	s.dirs[1] = s.newDirection(o.b, s.cbAfter)
	step.add("C_A, C_B after the identities", o.after.String()+" "+s.cbAfter.String(), Info, "the first stanza counters")
}

// identityBlocks is the number of counter values an identity of len(id)
// bytes consumes: one per block, or one for the cipher none.
func identityBlocks(s *session, id []byte) uint64 {
	if s.suite.Cipher.Name() == crypt.CipherNone {
		return 1
	}
	return crypt.Blocks(len(id))
}
