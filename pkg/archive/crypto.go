package archive

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha1" // RSA-OAEP's default digest, for reading
	_ "crypto/sha256"
	_ "crypto/sha512"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/esn-project/esn/pkg/pubkey"
	"github.com/esn-project/esn/pkg/xmltree"
)

// MinRSABits is the smallest RSA modulus a collection key is wrapped for.
const MinRSABits = 2048

// dataKeySize is the symmetric key esn generates: AES-256.
const dataKeySize = 32

// plaintextLimits bound a decrypted payload's parse.
var plaintextLimits = xmltree.Limits{MaxBytes: maxCipherValue, MaxDepth: 8, MaxNodes: 4 * maxPageItems}

// Recipient is a public key the collection key is wrapped for: one of the
// user's own keys (XEP-0241 §2: never a key not confirmed as the user's).
// KeyName names it in <KeyInfo/>; esn uses [KeyName].
type Recipient struct {
	KeyName string
	Key     *rsa.PublicKey
}

// Identity is a private key that unwraps collection keys wrapped for the
// public key named KeyName.
type Identity struct {
	KeyName string
	Key     *rsa.PrivateKey
}

// KeyName returns the name esn gives a public key in <KeyInfo/>: its
// XEP-0189 fingerprint in Base64, as in the key's <pubkey/> payload.
// (XEP-0241 refers to a <KeyName/> published with XEP-0189, which v0.14
// no longer has; digest §6.9.)
func KeyName(k *pubkey.PublicKey) string { return k.Fingerprint().Base64() }

// RecipientFor returns the recipient for one of the user's own keys.
func RecipientFor(k *pubkey.PublicKey) Recipient { return Recipient{KeyName: KeyName(k), Key: k.Key} }

// IdentityFor returns the identity for one of the user's own keys.
func IdentityFor(k *pubkey.PublicKey, priv *rsa.PrivateKey) Identity {
	return Identity{KeyName: KeyName(k), Key: priv}
}

// sameKeyName compares key names: exactly, or as XEP-0189 fingerprints in
// any printed form (Base64, hex, grouped hex).
func sameKeyName(a, b string) bool {
	if a == b {
		return true
	}
	fa, err1 := pubkey.ParseFingerprint(a)
	fb, err2 := pubkey.ParseFingerprint(b)
	return err1 == nil && err2 == nil && fa.Equal(fb)
}

// Sealer encrypts the messages of one upload under one fresh symmetric
// key (XEP-0241 §2): AES-256-GCM, the key wrapped with RSA-OAEP
// (SHA-256, MGF1-SHA-256) for every recipient. The first chunk of an
// upload carries [Sealer.Keys]; later chunks reuse the key and do not
// resend them (XEP-0241 §2 SHOULD NOT).
//
// A Sealer is not safe for concurrent use. Its key never appears in
// formatted output; Close erases it (best effort: Go may have copied it).
type Sealer struct {
	rand io.Reader
	name string
	key  []byte
	aead cipher.AEAD
	keys []*EncryptedKey
}

// NewSealer generates a collection key and wraps it for each recipient.
// rand nil means crypto/rand.
func NewSealer(random io.Reader, recipients []Recipient) (*Sealer, error) {
	if random == nil {
		random = rand.Reader
	}
	if len(recipients) == 0 {
		return nil, errors.New("archive: encrypting needs at least one public key of the user")
	}
	seen := map[string]bool{}
	for _, r := range recipients {
		if r.KeyName == "" || r.Key == nil {
			return nil, errors.New("archive: a recipient needs a key name and a public key")
		}
		if err := checkAttr("KeyName", r.KeyName); err != nil {
			return nil, err
		}
		if seen[r.KeyName] {
			return nil, fmt.Errorf("archive: recipient key %q given twice", r.KeyName)
		}
		seen[r.KeyName] = true
		if r.Key.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("archive: the RSA key %q has %d bits; at least %d are needed", r.KeyName, r.Key.N.BitLen(), MinRSABits)
		}
	}
	s := &Sealer{rand: random, key: make([]byte, dataKeySize)}
	var id [16]byte
	if _, err := io.ReadFull(random, s.key); err != nil {
		return nil, fmt.Errorf("archive: generating the collection key: %w", err)
	}
	if _, err := io.ReadFull(random, id[:]); err != nil {
		return nil, fmt.Errorf("archive: naming the collection key: %w", err)
	}
	s.name = "esn-" + hex.EncodeToString(id[:])
	block, err := aes.NewCipher(s.key)
	if err != nil {
		panic("archive: internal error: " + err.Error())
	}
	if s.aead, err = cipher.NewGCM(block); err != nil {
		panic("archive: internal error: " + err.Error())
	}
	for _, r := range recipients {
		wrapped, err := rsa.EncryptOAEPWithOptions(random, r.Key, s.key, &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA256})
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("archive: wrapping the collection key for %q: %w", r.KeyName, err)
		}
		s.keys = append(s.keys, &EncryptedKey{Algorithm: AlgRSAOAEP, Digest: DigestSHA256, MGF: MGF1SHA256,
			KeyName: r.KeyName, CarriedKeyName: s.name, CipherValue: wrapped})
	}
	return s, nil
}

// KeyName is the name of the collection key (unique for the user: random).
func (s *Sealer) KeyName() string { return s.name }

// Keys returns one <EncryptedKey/> per recipient.
func (s *Sealer) Keys() []*EncryptedKey { return s.keys }

// Seal encrypts entries (as the joined <to/>/<from/>/<note/> sequence of
// XEP-0241 §2) into one <EncryptedData/>.
func (s *Sealer) Seal(entries []Entry) (*EncryptedData, error) {
	if s.aead == nil {
		return nil, errors.New("archive: Seal after Close")
	}
	if len(entries) == 0 {
		return nil, errors.New("archive: nothing to encrypt")
	}
	root := xmltree.New(NS, "chat")
	if err := appendEntries(root, entries); err != nil {
		return nil, err
	}
	var pt bytes.Buffer
	for _, c := range root.Children() {
		c.WriteTo(&pt) // each child declares xmlns='urn:xmpp:archive'
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+pt.Len()+s.aead.Overhead())
	if _, err := io.ReadFull(s.rand, nonce); err != nil {
		return nil, fmt.Errorf("archive: generating an IV: %w", err)
	}
	ct := s.aead.Seal(nonce, nonce, pt.Bytes(), nil)
	clear(pt.Bytes())
	return &EncryptedData{Type: TypeContent, Algorithm: AlgAES256GCM, KeyName: s.name, CipherValue: ct}, nil
}

// Close erases the collection key.
func (s *Sealer) Close() {
	clear(s.key)
	s.aead = nil
}

func (s *Sealer) String() string                { return "archive.Sealer(REDACTED)" }
func (s *Sealer) GoString() string              { return s.String() }
func (s *Sealer) Format(f fmt.State, verb rune) { io.WriteString(f, s.String()) }
func (s *Sealer) LogValue() slog.Value          { return slog.StringValue(s.String()) }

// Encrypt replaces c's entries with one <EncryptedData/> and the wrapped
// keys, under a fresh collection key (a one-chunk upload).
func Encrypt(random io.Reader, c *Collection, recipients []Recipient) error {
	if c.IsEncrypted() {
		return ErrMixed
	}
	s, err := NewSealer(random, recipients)
	if err != nil {
		return err
	}
	defer s.Close()
	d, err := s.Seal(c.Entries)
	if err != nil {
		return err
	}
	c.Entries, c.Encrypted, c.Keys = nil, []*EncryptedData{d}, s.Keys()
	return nil
}

// DecryptOptions tune [Decrypt].
type DecryptOptions struct {
	// AllowLegacy accepts the unauthenticated algorithms of XEP-0241's
	// examples: aes128/192/256-cbc data and rsa-1_5 key transport. With
	// them a tampered collection may decrypt to garbage or to chosen
	// changes instead of failing; esn never writes them.
	AllowLegacy bool
}

// dataAlg describes a data encryption algorithm.
type dataAlg struct {
	keySize int
	gcm     bool
}

var dataAlgs = map[string]dataAlg{
	AlgAES128GCM: {16, true}, AlgAES192GCM: {24, true}, AlgAES256GCM: {32, true},
	AlgAES128CBC: {16, false}, AlgAES192CBC: {24, false}, AlgAES256CBC: {32, false},
}

var digests = map[string]crypto.Hash{
	DigestSHA1: crypto.SHA1, DigestSHA256: crypto.SHA256, DigestSHA384: crypto.SHA384, DigestSHA512: crypto.SHA512,
}

var mgfs = map[string]crypto.Hash{
	MGF1SHA1: crypto.SHA1, MGF1SHA256: crypto.SHA256, MGF1SHA384: crypto.SHA384, MGF1SHA512: crypto.SHA512,
}

// Decrypt returns the messages of a collection (the part retrieved): its
// entries if it is not encrypted, else the decrypted content of each
// <EncryptedData/> in order, each collection key unwrapped with one of
// ids. Failures are typed: *NoKeyError when no <EncryptedKey/> is for one
// of ids, *AlgorithmError for an algorithm not used, ErrDecrypt (opaque)
// when a key does not unwrap or data does not authenticate.
func Decrypt(c *Collection, ids []Identity, opts DecryptOptions) ([]Entry, error) {
	if !c.IsEncrypted() {
		return c.Entries, nil
	}
	if len(c.Entries) > 0 {
		return nil, ErrMixed
	}
	keys := map[string][]byte{}
	defer func() {
		for _, k := range keys {
			clear(k)
		}
	}()
	var out []Entry
	ref := c.Start
	for _, d := range c.Encrypted {
		alg, ok := dataAlgs[d.Algorithm]
		if !ok {
			return nil, &AlgorithmError{Algorithm: d.Algorithm}
		}
		if !alg.gcm && !opts.AllowLegacy {
			return nil, &AlgorithmError{Algorithm: d.Algorithm, Legacy: true}
		}
		key, ok := keys[d.KeyName]
		if !ok {
			var err error
			if key, err = unwrapKey(c.Keys, d.KeyName, alg.keySize, ids, opts); err != nil {
				return nil, err
			}
			keys[d.KeyName] = key
		}
		if len(key) != alg.keySize {
			return nil, ErrDecrypt
		}
		pt, err := decryptData(d.CipherValue, key, alg)
		if err != nil {
			return nil, err
		}
		entries, next, err := parsePlaintext(pt, ref)
		clear(pt)
		if err != nil {
			if !alg.gcm {
				return nil, ErrDecrypt // unauthenticated: garbage looks like tampering
			}
			return nil, err
		}
		ref = next
		out = append(out, entries...)
	}
	return out, nil
}

// unwrapKey finds the <EncryptedKey/>s carrying name for one of ids and
// unwraps the first that works.
func unwrapKey(all []*EncryptedKey, name string, size int, ids []Identity, opts DecryptOptions) ([]byte, error) {
	var wanted, have []string
	for _, id := range ids {
		have = append(have, id.KeyName)
	}
	tried := false
	var algErr error
	for _, k := range all {
		if k.CarriedKeyName != name {
			continue
		}
		wanted = append(wanted, k.KeyName)
		for _, id := range ids {
			if id.Key == nil || !sameKeyName(k.KeyName, id.KeyName) {
				continue
			}
			key, err := unwrapOne(k, id.Key, size, opts)
			var ae *AlgorithmError
			if errors.As(err, &ae) {
				algErr = err
				continue
			}
			tried = true
			if err == nil {
				return key, nil
			}
		}
	}
	switch {
	case tried:
		return nil, ErrDecrypt
	case algErr != nil:
		return nil, algErr
	}
	return nil, &NoKeyError{Wanted: wanted, Have: have}
}

func unwrapOne(k *EncryptedKey, priv *rsa.PrivateKey, size int, opts DecryptOptions) ([]byte, error) {
	switch k.Algorithm {
	case AlgRSAOAEP, AlgRSAOAEPMGF1P:
		h := crypto.SHA1
		if k.Digest != "" {
			var ok bool
			if h, ok = digests[k.Digest]; !ok {
				return nil, &AlgorithmError{Algorithm: k.Digest}
			}
		}
		mgf := crypto.SHA1
		if k.MGF != "" {
			if k.Algorithm == AlgRSAOAEPMGF1P {
				return nil, &AlgorithmError{Algorithm: k.Algorithm + " with an MGF"}
			}
			var ok bool
			if mgf, ok = mgfs[k.MGF]; !ok {
				return nil, &AlgorithmError{Algorithm: k.MGF}
			}
		}
		key, err := priv.Decrypt(nil, k.CipherValue, &rsa.OAEPOptions{Hash: h, MGFHash: mgf, Label: k.OAEPParams})
		if err != nil {
			return nil, ErrDecrypt
		}
		return key, nil
	case AlgRSA15:
		if !opts.AllowLegacy {
			return nil, &AlgorithmError{Algorithm: k.Algorithm, Legacy: true}
		}
		// A wrong padding yields a random key of the right size instead
		// of an error (RFC 3218 §2.3.2), and the data then fails.
		key := make([]byte, size)
		if _, err := io.ReadFull(rand.Reader, key); err != nil {
			return nil, err
		}
		if err := rsa.DecryptPKCS1v15SessionKey(nil, priv, k.CipherValue, key); err != nil { //nolint:staticcheck // legacy read path, opt-in
			return nil, ErrDecrypt
		}
		return key, nil
	}
	return nil, &AlgorithmError{Algorithm: k.Algorithm}
}

func decryptData(cv, key []byte, alg dataAlg) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, ErrDecrypt
	}
	if alg.gcm {
		aead, err := cipher.NewGCM(block)
		if err != nil {
			panic("archive: internal error: " + err.Error())
		}
		ns := aead.NonceSize()
		if len(cv) < ns+aead.Overhead() {
			return nil, ErrDecrypt
		}
		pt, err := aead.Open(nil, cv[:ns], cv[ns:], nil)
		if err != nil {
			return nil, ErrDecrypt
		}
		return pt, nil
	}
	// XML Encryption 1.0 §5.2: IV | ciphertext; the last byte of the
	// padded plaintext is the number of padding bytes (1..16).
	bs := block.BlockSize()
	if len(cv) < 2*bs || len(cv)%bs != 0 {
		return nil, ErrDecrypt
	}
	pt := make([]byte, len(cv)-bs)
	cipher.NewCBCDecrypter(block, cv[:bs]).CryptBlocks(pt, cv[bs:])
	n := int(pt[len(pt)-1])
	if n < 1 || n > bs {
		clear(pt)
		return nil, ErrDecrypt
	}
	return pt[:len(pt)-n], nil
}

// parsePlaintext parses a decrypted sequence of <to/>, <from/> and
// <note/> elements; ref is the previous message's time.
func parsePlaintext(pt []byte, ref time.Time) ([]Entry, time.Time, error) {
	const open = "<esn-plaintext xmlns='" + NS + "'>"
	dec := xml.NewDecoder(io.MultiReader(strings.NewReader(open), bytes.NewReader(pt), strings.NewReader("</esn-plaintext>")))
	tok, err := dec.Token()
	if err != nil {
		return nil, ref, malformed("decrypted content: %v", err)
	}
	start, _ := tok.(xml.StartElement)
	root, err := xmltree.Decode(dec, start, plaintextLimits)
	if err != nil {
		return nil, ref, fmt.Errorf("%w: decrypted content: %w", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, ref, malformed("decrypted content has data after its elements")
	}
	var out []Entry
	for _, n := range root.Nodes {
		if n.Element == nil {
			if strings.TrimSpace(n.Text) != "" {
				return nil, ref, malformed("decrypted content has text between elements")
			}
			continue
		}
		k := n.Element
		if k.Name.Space != NS || (k.Name.Local != "to" && k.Name.Local != "from" && k.Name.Local != "note") {
			return nil, ref, malformed("decrypted content holds <%s xmlns=%q/>", k.Name.Local, k.Name.Space)
		}
		en, next, err := parseEntry(k, ref)
		if err != nil {
			return nil, ref, err
		}
		ref = next
		out = append(out, en)
	}
	return out, ref, nil
}
