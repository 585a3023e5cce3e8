package pubkey

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
)

// Key sizes. XEP-0189 v0.14 defines only RSA keys; the digest (§3.6 item
// 4) recommends at least 2048 bits.
const (
	// MinBits is the smallest modulus esn generates, imports or trusts.
	MinBits = 2048
	// DefaultBits is the size `esn keys generate` uses.
	DefaultBits = 3072
	// MaxBits bounds the modulus of keys read from files and the network,
	// so that a peer cannot make us spend seconds on one verification.
	MaxBits = 16384
)

// PEM block types (RFC 7468 §10, §11, §13 and PKCS #1).
const (
	PEMPKCS1Private = "RSA PRIVATE KEY"
	PEMPKCS8Private = "PRIVATE KEY"
	PEMPKCS1Public  = "RSA PUBLIC KEY"
	PEMPublic       = "PUBLIC KEY"
)

// Errors callers branch on with errors.Is.
var (
	// ErrWeakKey is returned for an RSA modulus below MinBits or above
	// MaxBits, or an unusable public exponent.
	ErrWeakKey = errors.New("pubkey: RSA key size or exponent not acceptable")
	// ErrNotRSA is returned for a key of another algorithm: XEP-0189 v0.14
	// defines only RSA.
	ErrNotRSA = errors.New("pubkey: not an RSA key")
	// ErrNoPEM is returned when a file holds no PEM block esn can use.
	ErrNoPEM = errors.New("pubkey: no usable PEM block")
	// ErrBadSignature is returned by Verify for a signature that does not
	// verify.
	ErrBadSignature = errors.New("pubkey: signature does not verify")
)

// GenerateKey returns a new RSA key of bits bits (0 means DefaultBits)
// with public exponent 65537 (XEP-0189 §2 RECOMMENDED). Sizes below
// MinBits are refused.
func GenerateKey(r io.Reader, bits int) (*rsa.PrivateKey, error) {
	if bits == 0 {
		bits = DefaultBits
	}
	if bits < MinBits || bits > MaxBits {
		return nil, fmt.Errorf("%w: %d bits (want %d to %d)", ErrWeakKey, bits, MinBits, MaxBits)
	}
	if r == nil {
		r = rand.Reader
	}
	k, err := rsa.GenerateKey(r, bits)
	if err != nil {
		return nil, fmt.Errorf("pubkey: generating a %d-bit RSA key: %w", bits, err)
	}
	return k, nil
}

// CheckPublicKey checks that pub is usable: MinBits ≤ size ≤ MaxBits and
// an odd exponent of at least 3.
func CheckPublicKey(pub *rsa.PublicKey) error {
	if pub == nil || pub.N == nil {
		return fmt.Errorf("%w: no key", ErrWeakKey)
	}
	if n := pub.N.BitLen(); n < MinBits || n > MaxBits {
		return fmt.Errorf("%w: %d-bit modulus (want %d to %d)", ErrWeakKey, n, MinBits, MaxBits)
	}
	if pub.E < 3 || pub.E%2 == 0 {
		return fmt.Errorf("%w: public exponent %d", ErrWeakKey, pub.E)
	}
	return nil
}

// ParsePrivateKeyPEM reads the first private key of a PEM file as OpenSSL
// writes it: PKCS#8 "PRIVATE KEY" (openssl genpkey, and genrsa since
// OpenSSL 3) or PKCS#1 "RSA PRIVATE KEY" (genrsa -traditional). Other
// blocks before it (parameters, certificates) are skipped; encrypted
// OpenSSL PEM is refused with a hint to decrypt it first.
func ParsePrivateKeyPEM(data []byte) (*rsa.PrivateKey, error) {
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, fmt.Errorf("%w: no PRIVATE KEY or RSA PRIVATE KEY block", ErrNoPEM)
		}
		switch b.Type {
		case PEMPKCS1Private:
			if _, enc := b.Headers["DEK-Info"]; enc {
				return nil, fmt.Errorf("%w: the key is encrypted with a legacy OpenSSL passphrase; decrypt it first (openssl pkey -in FILE -out PLAIN)", ErrNoPEM)
			}
			k, err := x509.ParsePKCS1PrivateKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("pubkey: PKCS#1 private key: %w", err)
			}
			return checkPrivate(k)
		case PEMPKCS8Private:
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("pubkey: PKCS#8 private key: %w", err)
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("%w: PKCS#8 key is %T", ErrNotRSA, k)
			}
			return checkPrivate(rk)
		case "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("%w: the key is an encrypted PKCS#8 file; decrypt it first (openssl pkey -in FILE -out PLAIN)", ErrNoPEM)
		}
	}
}

func checkPrivate(k *rsa.PrivateKey) (*rsa.PrivateKey, error) {
	if err := CheckPublicKey(&k.PublicKey); err != nil {
		return nil, err
	}
	if err := k.Validate(); err != nil {
		return nil, fmt.Errorf("pubkey: invalid RSA private key: %w", err)
	}
	return k, nil
}

// ParsePublicKeyPEM reads the first public key of a PEM file: a
// SubjectPublicKeyInfo "PUBLIC KEY" (openssl pkey -pubout) or a PKCS#1
// "RSA PUBLIC KEY" block. A private key block yields its public half.
func ParsePublicKeyPEM(data []byte) (*rsa.PublicKey, error) {
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, fmt.Errorf("%w: no PUBLIC KEY block", ErrNoPEM)
		}
		switch b.Type {
		case PEMPublic:
			k, err := x509.ParsePKIXPublicKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("pubkey: SubjectPublicKeyInfo: %w", err)
			}
			rk, ok := k.(*rsa.PublicKey)
			if !ok {
				return nil, fmt.Errorf("%w: public key is %T", ErrNotRSA, k)
			}
			return rk, CheckPublicKey(rk)
		case PEMPKCS1Public:
			k, err := x509.ParsePKCS1PublicKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("pubkey: PKCS#1 public key: %w", err)
			}
			return k, CheckPublicKey(k)
		case PEMPKCS1Private, PEMPKCS8Private:
			k, err := ParsePrivateKeyPEM(pem.EncodeToMemory(b))
			if err != nil {
				return nil, err
			}
			return &k.PublicKey, nil
		}
	}
}

// MarshalPrivateKeyPEM encodes k as an unencrypted PKCS#8 "PRIVATE KEY"
// PEM block, the form `openssl genpkey` writes and every OpenSSL command
// reads. The caller must protect the result: it is the secret key.
func MarshalPrivateKeyPEM(k *rsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("pubkey: encoding the private key: %w", err)
	}
	defer clear(der)
	return pem.EncodeToMemory(&pem.Block{Type: PEMPKCS8Private, Bytes: der}), nil
}

// MarshalPublicKeyPEM encodes pub as a SubjectPublicKeyInfo "PUBLIC KEY"
// PEM block (openssl pkey -pubout).
func MarshalPublicKeyPEM(pub *rsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("pubkey: encoding the public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: PEMPublic, Bytes: der}), nil
}

// Sign signs data with RSASSA-PKCS1-v1_5 and SHA-256 (xmldsig rsa-sha256,
// RFC 8017 §8.2): the signature is over SHA-256(data). It is the scheme of
// XEP-0189 revocations (digest §8 #23) and of ESession identity proofs.
func Sign(r io.Reader, k crypto.Signer, data []byte) ([]byte, error) {
	if r == nil {
		r = rand.Reader
	}
	h := sha256.Sum256(data)
	sig, err := k.Sign(r, h[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("pubkey: signing: %w", err)
	}
	return sig, nil
}

// Verify checks an rsa-sha256 signature over data. It returns
// ErrBadSignature (wrapped) if the signature does not verify.
func Verify(pub *rsa.PublicKey, data, sig []byte) error {
	if err := CheckPublicKey(pub); err != nil {
		return err
	}
	h := sha256.Sum256(data)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig); err != nil {
		return ErrBadSignature
	}
	return nil
}

// SameKey reports whether a and b are the same RSA public key.
func SameKey(a, b *rsa.PublicKey) bool {
	return a != nil && b != nil && a.E == b.E && a.N != nil && b.N != nil && a.N.Cmp(b.N) == 0
}
