package pubkey

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/scrypt"
)

// PEMSealed is the PEM type of a passphrase-encrypted private key. The
// body is the XChaCha20-Poly1305 encryption of the PKCS#8 DER key under a
// key derived from the passphrase with scrypt (RFC 7914); the headers carry
// the scrypt parameters, the salt and the nonce:
//
//	-----BEGIN ESN ENCRYPTED PRIVATE KEY-----
//	Cipher: xchacha20-poly1305
//	KDF: scrypt
//	KDF-Params: ln=17,r=8,p=1
//	Nonce: BASE64(24 bytes)
//	Salt: BASE64(16 bytes)
//
//	BASE64(ciphertext and tag)
//	-----END ESN ENCRYPTED PRIVATE KEY-----
//
// The additional data is the format name and the parameters, so that they
// cannot be changed without the tag failing. This is the construction of
// age's scrypt recipient (scrypt, then a ChaCha20-Poly1305 AEAD), with
// standard primitives from golang.org/x/crypto; `esn keys export
// --private` writes the decrypted key as plain PKCS#8 for OpenSSL.
const PEMSealed = "ESN ENCRYPTED PRIVATE KEY"

// ScryptParams are the scrypt cost parameters (RFC 7914 §2): N = 2^LogN.
type ScryptParams struct{ LogN, R, P int }

// DefaultScrypt costs about 0.3 s and 128 MiB on a current machine.
var DefaultScrypt = ScryptParams{LogN: 17, R: 8, P: 1}

// Bounds on parameters read from a file, so that a tampered file cannot
// make esn allocate gigabytes.
const (
	minLogN, maxLogN = 10, 22
	maxR, maxP       = 32, 16
	saltLen          = 16
)

var (
	// ErrWrongPassphrase is returned when a sealed key does not open: a
	// wrong passphrase or a modified file.
	ErrWrongPassphrase = errors.New("pubkey: wrong passphrase (or the key file was modified)")
	// ErrNeedPassphrase is returned when a sealed key is opened without a
	// passphrase.
	ErrNeedPassphrase = errors.New("pubkey: the private key is encrypted and no passphrase was given")
)

func (p ScryptParams) check() error {
	if p.LogN < minLogN || p.LogN > maxLogN || p.R < 1 || p.R > maxR || p.P < 1 || p.P > maxP {
		return fmt.Errorf("pubkey: scrypt parameters ln=%d,r=%d,p=%d out of range", p.LogN, p.R, p.P)
	}
	return nil
}

func (p ScryptParams) String() string {
	return fmt.Sprintf("ln=%d,r=%d,p=%d", p.LogN, p.R, p.P)
}

func parseScrypt(s string) (ScryptParams, error) {
	var p ScryptParams
	seen := map[string]bool{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || seen[k] {
			return p, fmt.Errorf("pubkey: bad KDF-Params %q", truncate(s))
		}
		seen[k] = true
		switch k {
		case "ln":
			p.LogN = n
		case "r":
			p.R = n
		case "p":
			p.P = n
		default:
			return p, fmt.Errorf("pubkey: bad KDF-Params %q", truncate(s))
		}
	}
	return p, p.check()
}

func sealAD(p ScryptParams) []byte {
	return []byte(PEMSealed + " xchacha20-poly1305 scrypt " + p.String())
}

func sealKey(pass, salt []byte, p ScryptParams) ([]byte, error) {
	k, err := scrypt.Key(pass, salt, 1<<p.LogN, p.R, p.P, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("pubkey: scrypt: %w", err)
	}
	return k, nil
}

// SealPrivateKey encrypts k under passphrase (see PEMSealed). A zero
// params means DefaultScrypt.
func SealPrivateKey(r io.Reader, k *rsa.PrivateKey, passphrase []byte, params ScryptParams) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("pubkey: empty passphrase")
	}
	if params == (ScryptParams{}) {
		params = DefaultScrypt
	}
	if err := params.check(); err != nil {
		return nil, err
	}
	if r == nil {
		r = rand.Reader
	}
	salt := make([]byte, saltLen)
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := io.ReadFull(r, salt); err != nil {
		return nil, fmt.Errorf("pubkey: reading randomness: %w", err)
	}
	if _, err := io.ReadFull(r, nonce); err != nil {
		return nil, fmt.Errorf("pubkey: reading randomness: %w", err)
	}
	key, err := sealKey(passphrase, salt, params)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("pubkey: encoding the private key: %w", err)
	}
	defer clear(der)
	ct := aead.Seal(nil, nonce, der, sealAD(params))
	return pem.EncodeToMemory(&pem.Block{Type: PEMSealed, Headers: map[string]string{
		"Cipher":     "xchacha20-poly1305",
		"KDF":        "scrypt",
		"KDF-Params": params.String(),
		"Salt":       base64.StdEncoding.EncodeToString(salt),
		"Nonce":      base64.StdEncoding.EncodeToString(nonce),
	}, Bytes: ct}), nil
}

// IsSealed reports whether data holds a passphrase-encrypted key.
func IsSealed(data []byte) bool {
	b, _ := pem.Decode(data)
	return b != nil && b.Type == PEMSealed
}

// OpenPrivateKey reads a private key file: a sealed key (opened with
// passphrase), or a plain PKCS#1 or PKCS#8 PEM key (passphrase ignored).
func OpenPrivateKey(data, passphrase []byte) (*rsa.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != PEMSealed {
		return ParsePrivateKeyPEM(data)
	}
	if len(passphrase) == 0 {
		return nil, ErrNeedPassphrase
	}
	if b.Headers["Cipher"] != "xchacha20-poly1305" || b.Headers["KDF"] != "scrypt" {
		return nil, fmt.Errorf("pubkey: unknown encryption %q/%q", truncate(b.Headers["Cipher"]), truncate(b.Headers["KDF"]))
	}
	params, err := parseScrypt(b.Headers["KDF-Params"])
	if err != nil {
		return nil, err
	}
	salt, err1 := base64.StdEncoding.DecodeString(b.Headers["Salt"])
	nonce, err2 := base64.StdEncoding.DecodeString(b.Headers["Nonce"])
	if err1 != nil || err2 != nil || len(salt) != saltLen || len(nonce) != chacha20poly1305.NonceSizeX {
		return nil, errors.New("pubkey: bad Salt or Nonce in the encrypted key")
	}
	key, err := sealKey(passphrase, salt, params)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	der, err := aead.Open(nil, nonce, b.Bytes, sealAD(params))
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	defer clear(der)
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("pubkey: decrypted key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: %T", ErrNotRSA, k)
	}
	return checkPrivate(rk)
}
