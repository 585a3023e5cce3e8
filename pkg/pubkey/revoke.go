package pubkey

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/esn-project/esn/pkg/xmltree"
)

// Revocation is the <revocation xmlns='urn:xmpp:revoke:2'/> payload of
// XEP-0189 §2.2: a signed statement that a key must no longer be used.
type Revocation struct {
	// Key is the revoked public key (<key/>: Base64 DER
	// SubjectPublicKeyInfo, digest §8 #22).
	Key *rsa.PublicKey
	// KeyPrint is the XEP-0189 print of the revoked key.
	KeyPrint Fingerprint
	// RevocationPrint is the print of the key that signed the revocation
	// (the revoked key itself for a self-revocation).
	RevocationPrint Fingerprint
	Time            time.Time
	// Signature is rsa-sha256 over SignedData (digest §8 #23); nil when
	// the received signature was not Base64 (unverifiable: ignored).
	Signature []byte

	// The exact character data the signature covers.
	keyText, keyPrintText, revPrintText, timeText string
}

// NewRevocation revokes key, signed by signer, whose published form is
// signerKey (the same as key for a self-revocation), at time at.
func NewRevocation(r io.Reader, key, signerKey *PublicKey, signer crypto.Signer, at time.Time) (*Revocation, error) {
	spki, err := key.SPKIBase64()
	if err != nil {
		return nil, err
	}
	rv := &Revocation{Key: key.Key, KeyPrint: key.Fingerprint(), RevocationPrint: signerKey.Fingerprint(),
		Time: at.UTC().Truncate(time.Second)}
	rv.keyText = spki
	rv.keyPrintText = rv.KeyPrint.Base64()
	rv.revPrintText = rv.RevocationPrint.Base64()
	rv.timeText = FormatTime(rv.Time)
	if !SameKey(signer.Public().(*rsa.PublicKey), signerKey.Key) {
		return nil, fmt.Errorf("pubkey: the signing key is not the key named by the revocation print")
	}
	if rv.Signature, err = Sign(r, signer, rv.SignedData()); err != nil {
		return nil, err
	}
	return rv, nil
}

// SignedData is key | keyprint | revocationprint | revocationtime, the
// exact character data of each element with whitespace removed from the
// Base64 key (XEP-0189 §2.2, digest §3.1).
func (rv *Revocation) SignedData() []byte {
	return []byte(rv.keyText + rv.keyPrintText + rv.revPrintText + rv.timeText)
}

// Verify checks the signature with the signing key signer, whose print
// must be RevocationPrint.
func (rv *Revocation) Verify(signer *PublicKey) error {
	if !signer.Fingerprint().Equal(rv.RevocationPrint) {
		return fmt.Errorf("pubkey: revocation is signed by %s, not by %s", rv.RevocationPrint, signer.Fingerprint())
	}
	if rv.Signature == nil {
		return fmt.Errorf("%w: revocation signature is not in a format esn can verify", ErrBadSignature)
	}
	return Verify(signer.Key, rv.SignedData(), rv.Signature)
}

// Element returns the payload with its children in schema order.
func (rv *Revocation) Element() *xmltree.Element {
	algo := func(local, v string) *xmltree.Element {
		e := text(NSRevoke, local, v)
		e.SetAttr("algo", AlgoSHA256)
		return e
	}
	return xmltree.New(NSRevoke, "revocation").
		AddChild(text(NSRevoke, "key", rv.keyText)).
		AddChild(algo("keyprint", rv.keyPrintText)).
		AddChild(text(NSRevoke, "signature", base64.StdEncoding.EncodeToString(rv.Signature))).
		AddChild(algo("revocationprint", rv.revPrintText)).
		AddChild(text(NSRevoke, "revocationtime", rv.timeText))
}

// ParseRevocationXML parses a serialized revocation within MaxPayloadBytes.
func ParseRevocationXML(data []byte) (*Revocation, error) {
	el, err := xmltree.Parse(data, payloadLimits)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return ParseRevocation(el)
}

// ParseRevocation parses a revocation strictly, accepting the children in
// any order (the spec's example puts <signature/> last), the element name
// <revoke/> of the prose, and the pubkey namespace of the schema's wrong
// targetNamespace (digest §8 #18).
func ParseRevocation(el *xmltree.Element) (*Revocation, error) {
	if el == nil || (el.Name.Space != NSRevoke && el.Name.Space != NS) ||
		(el.Name.Local != "revocation" && el.Name.Local != "revoke") {
		return nil, malformed("not a <revocation xmlns='%s'/>", NSRevoke)
	}
	c, err := children(el, el.Name.Space, "key", "keyprint", "signature", "revocationprint", "revocationtime")
	if err != nil {
		return nil, err
	}
	for _, n := range []string{"key", "keyprint", "signature", "revocationprint", "revocationtime"} {
		if c[n] == nil {
			return nil, malformed("no <%s/> in the revocation", n)
		}
	}
	rv := &Revocation{}
	ks, err := leaf(c["key"], maxKeyB64Len+maxKeyB64Len/8)
	if err != nil {
		return nil, err
	}
	rv.keyText = strings.Join(strings.Fields(ks), "")
	der, err := base64.StdEncoding.DecodeString(rv.keyText)
	if err != nil {
		return nil, malformed("revocation <key/> is not Base64")
	}
	pk, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, malformed("revocation <key/>: %v", err)
	}
	var ok bool
	if rv.Key, ok = pk.(*rsa.PublicKey); !ok {
		return nil, fmt.Errorf("%w: revoked key is %T", ErrNotRSA, pk)
	}
	if rv.KeyPrint, err = parsePrint(c["keyprint"]); err != nil {
		return nil, err
	}
	rv.keyPrintText = c["keyprint"].Text()
	if rv.RevocationPrint, err = parsePrint(c["revocationprint"]); err != nil {
		return nil, err
	}
	rv.revPrintText = c["revocationprint"].Text()
	if rv.timeText, err = leaf(c["revocationtime"], maxDateLen); err != nil {
		return nil, err
	}
	if rv.Time, err = ParseTime(rv.timeText); err != nil {
		return nil, err
	}
	sig, err := leaf(c["signature"], 8192)
	if err != nil {
		return nil, err
	}
	if b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(sig), "")); err == nil && len(b) > 0 {
		rv.Signature = b
	}
	return rv, nil
}
