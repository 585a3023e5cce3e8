package esn

import (
	"crypto/rsa"
	"fmt"

	"github.com/esn-project/esn/pkg/crypt"
)

// What pkg/transcript needs to re-check a public-key negotiation after the
// fact. Kept in its own file: the rest of the package is edited by other
// work in progress.

// IdentityProof is a public-key identity proof as decrypted from ID_X
// (XEP-0116 §4.4 step 5, digest §6.6): the key (method key) or its
// fingerprint (method hash), and the signature over mac_X. It holds no
// secrets.
type IdentityProof struct {
	// Key and KeyValue are set for method key: the RSA key, and
	// NORM_EL(<KeyValue/>) of the element as received, the pubKey_X bytes
	// of mac_X.
	Key      *rsa.PublicKey
	KeyValue []byte
	// Fingerprint is set for method hash: HASH(NORM_EL(<KeyValue/>)) with
	// the negotiated HASH, as received (digest §6.8, D-9).
	Fingerprint []byte
	// Signature is the decoded <SignatureValue/>: rsa-sha256 over mac_X.
	Signature []byte
}

// ParseIdentityProof parses the decrypted identity plaintext of a party
// that identified with method ([PubKeyKey] or [PubKeyHash]) as a
// negotiation does (two sibling elements, with or without the XML-DSig
// namespace, D-17; RSA keys of 2048 to 8192 bits). Errors wrap
// [ErrAuthentication].
func ParseIdentityProof(method string, plain []byte) (*IdentityProof, error) {
	id, sigEl, err := parseIdentity(plain)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAuthentication, err)
	}
	var p IdentityProof
	switch {
	case method == PubKeyKey && id.Name.Local == "KeyValue":
		if p.Key, err = parseKeyValue(id); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrAuthentication, err)
		}
		p.KeyValue = NormElement(id)
	case method == PubKeyHash && id.Name.Local == "fingerprint":
		if p.Fingerprint, err = crypt.DecodeBase64("fingerprint", textOnly(id), 64); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrAuthentication, err)
		}
	default:
		return nil, fmt.Errorf("%w: identity is <%s/> for method %s", ErrAuthentication, truncate(id.Name.Local), truncate(method))
	}
	if p.Signature, err = crypt.DecodeBase64("SignatureValue", textOnly(sigEl), maxSigLen); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAuthentication, err)
	}
	return &p, nil
}
