package transcript

import (
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/pubkey"
)

// maxKnownKeys bounds the keys a transcript is given.
const maxKnownKeys = 4096

// KnownKey is a public key the transcript may use to check the identity
// proof of a party that identified by fingerprint only (init_pubkey or
// resp_pubkey "hash", XEP-0116 §4.4 step 5): the fingerprint names the
// key, and only the key verifies the signature. A party that sent its whole
// key (method "key") needs none.
type KnownKey struct {
	Key *rsa.PublicKey
	// Source says where the key came from, for the output: "key file
	// bob.pem", "trust store: bob@example.com (trusted)".
	Source string
}

// AddKeys adds keys for identities given by fingerprint; a key added twice
// is kept once. Keys are matched by fingerprint, whatever JID the capture
// says: decode checks signatures, it does not decide trust.
func (t *Transcript) AddKeys(keys ...KnownKey) {
	for _, k := range keys {
		if k.Key == nil || k.Key.N == nil || len(t.known) >= maxKnownKeys {
			continue
		}
		dup := false
		for _, o := range t.known {
			dup = dup || pubkey.SameKey(o.Key, k.Key)
		}
		if !dup {
			t.known = append(t.known, k)
		}
	}
}

// knownSource says where a key the capture carries is also known from.
func (t *Transcript) knownSource(pub *rsa.PublicKey) string {
	for _, k := range t.known {
		if pubkey.SameKey(k.Key, pub) {
			return k.Source
		}
	}
	return ""
}

// KeyFingerprint names an RSA key as esn shows it: SHA-256 of its
// normalized <KeyValue/> (XEP-0116 §4.4 step 5, digest §6.8), in 16 groups
// of 4 hex digits. It is the fingerprint of an ESession "hash"
// identification under sha256, and the one `esn keys` shows for a key the
// peer did not publish (a published key is also named by its XEP-0189
// print, which covers its JID and validity dates).
func KeyFingerprint(pub *rsa.PublicKey) string {
	return pubkey.Fingerprint(sha256.Sum256(esn.KeyValue(pub))).String()
}

func keyDesc(pub *rsa.PublicKey) string {
	return fmt.Sprintf("%d-bit RSA, fingerprint %s", pub.N.BitLen(), KeyFingerprint(pub))
}

// party names the values of one side's identity proof.
type party struct {
	x       string // "A" or "B"
	macName string // the formula of mac_X, for notes
	field   string // "init_pubkey" or "resp_pubkey"
}

var (
	partyA = party{x: "A", macName: "HMAC(KS_A, N_B | N_A | e | pubKey_A | form_A | form_A2)", field: "init_pubkey"}
	partyB = party{x: "B", macName: "HMAC(KS_B, N_A | N_B | d | pubKey_B | form_B [| form_B2])", field: "resp_pubkey"}
)

// proof checks the decrypted identity plaintext of one party (digest §6.6,
// §5.6 step 8.3-8.6): for method none it is mac_X itself; for key and hash
// it is the key (or its fingerprint) and a signature over mac_X, which
// macOf recomputes for the pubKey_X bytes.
func (t *Transcript) proof(step *Step, s *session, p party, plain []byte, macOf func(pubKey []byte) []byte) {
	method := s.params[p.field]
	if method == "" || method == esn.PubKeyNone {
		want := macOf(nil)
		step.check("mac_"+p.x+" (decrypted ID_"+p.x+")", b64(plain), hmac.Equal(plain, want),
			"differs from "+p.macName+": a form was changed in transit (downgrade?)")
		return
	}
	idName := "ID_" + p.x + " (" + p.field + " " + method + ")"
	pr, err := esn.ParseIdentityProof(method, plain)
	if err != nil {
		step.add(idName, "", Failed, "the decrypted identity is no <KeyValue/> or <fingerprint/> and <SignatureValue/>: "+trimErr(err))
		return
	}
	var (
		pub    *rsa.PublicKey
		pubKey []byte
		note   string
	)
	if pr.Key != nil {
		pub, pubKey = pr.Key, pr.KeyValue
		note = "method key: sent in full"
		if src := t.knownSource(pub); src != "" {
			note += "; also in " + src
		}
		step.add("pubKey_"+p.x+" (KeyValue)", keyDesc(pub), Info, note)
	} else {
		step.add("fingerprint_"+p.x, b64(pr.Fingerprint), Info, "HASH(<KeyValue/>) of the signing key, which the capture does not hold (method hash)")
		for _, k := range t.known {
			kv := esn.KeyValue(k.Key)
			if hmac.Equal(s.suite.Fingerprint(kv), pr.Fingerprint) {
				pub, pubKey, note = k.Key, kv, "method hash: the key with this fingerprint, from "+k.Source
				break
			}
		}
		if pub == nil {
			step.add("sign_"+p.x+" (SignatureValue)", fmt.Sprintf("%d bytes", len(pr.Signature)), NeedsKey,
				"needs the public key with this fingerprint: esn decode --key FILE, or the key in the trust store")
			return
		}
		step.add("pubKey_"+p.x+" (KeyValue)", keyDesc(pub), Info, note)
	}
	mac := macOf(pubKey)
	defer clear(mac)
	err = pubkey.Verify(pub, mac, pr.Signature)
	switch {
	case err == nil:
		step.add("sign_"+p.x+" (SignatureValue)", "rsa-sha256 by "+KeyFingerprint(pub), OK, "verifies over mac_"+p.x+" = "+p.macName)
	case errors.Is(err, pubkey.ErrBadSignature):
		step.add("sign_"+p.x+" (SignatureValue)", "rsa-sha256 by "+KeyFingerprint(pub), Failed,
			"does not verify over mac_"+p.x+" = "+p.macName+": the signature was altered, a form was changed in transit (downgrade?), or another key signed")
	default:
		step.add("sign_"+p.x+" (SignatureValue)", "", Failed, "the key cannot verify: "+trimErr(err))
	}
}

// trimErr returns an error's text for a note.
func trimErr(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
