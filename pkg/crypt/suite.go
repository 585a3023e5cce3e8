package crypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/xml"
	"fmt"
	"hash"

	"golang.org/x/crypto/twofish"
)

// Cipher is a 'crypt_algs' value (XEP-0116 §Mandatory to Implement): a
// 128-bit block cipher in counter mode, or "none".
type Cipher struct {
	name     string
	keyLen   int
	newBlock func(key []byte) (cipher.Block, error)
}

// Name returns the wire name, e.g. "aes128-ctr".
func (c Cipher) Name() string { return c.name }

// KeyLen returns the key length in bytes (0 for "none").
func (c Cipher) KeyLen() int { return c.keyLen }

// IsNone reports whether this is the unencrypted "none" cipher (MAC only,
// XEP-0116 "Unencrypted ESession").
func (c Cipher) IsNone() bool { return c.newBlock == nil }

func (c Cipher) String() string { return c.name }

// CipherNone is the "none" cipher name. [CipherByName] returns it, but
// [Ciphers] never offers it: a user must ask for it explicitly.
const CipherNone = "none"

func newAES(key []byte) (cipher.Block, error) { return aes.NewCipher(key) }
func newTwofish(key []byte) (cipher.Block, error) {
	return twofish.NewCipher(key)
}

var ciphers = map[string]Cipher{
	"aes128-ctr":     {"aes128-ctr", 16, newAES},
	"aes192-ctr":     {"aes192-ctr", 24, newAES},
	"aes256-ctr":     {"aes256-ctr", 32, newAES},
	"twofish128-ctr": {"twofish128-ctr", 16, newTwofish},
	"twofish192-ctr": {"twofish192-ctr", 24, newTwofish},
	"twofish256-ctr": {"twofish256-ctr", 32, newTwofish},
	CipherNone:       {CipherNone, 0, nil},
}

// Ciphers returns the cipher names this package offers, in preference
// order: "aes128-ctr" (MUST), then the larger AES keys, then Twofish. The
// Serpent family is not offered: there is no maintained Go implementation
// (docs/crypto.md). "none" is never in the list.
func Ciphers() []string {
	return []string{"aes128-ctr", "aes256-ctr", "aes192-ctr", "twofish256-ctr", "twofish192-ctr", "twofish128-ctr"}
}

// CipherByName returns the named cipher. Unknown names (including the
// serpent*-ctr family) wrap [ErrUnsupported].
func CipherByName(name string) (Cipher, error) {
	c, ok := ciphers[name]
	if !ok {
		return Cipher{}, &UnsupportedError{Kind: "cipher", Name: name}
	}
	return c, nil
}

// Hash is a 'hash_algs' value. Only "sha256" (MUST) is implemented: "sha1"
// and "md5" are broken and never offered, and "whirlpool" has no maintained
// Go implementation (docs/crypto.md).
type Hash struct {
	name string
	new  func() hash.Hash
	size int
}

// Name returns the wire name.
func (h Hash) Name() string { return h.name }

// Size returns the output length in bytes.
func (h Hash) Size() int { return h.size }

// New returns a fresh hash state.
func (h Hash) New() hash.Hash { return h.new() }

func (h Hash) String() string { return h.name }

// Hashes returns the hash names this package offers.
func Hashes() []string { return []string{"sha256"} }

// HashByName returns the named hash or an error wrapping [ErrUnsupported].
func HashByName(name string) (Hash, error) {
	if name == "sha256" {
		return Hash{"sha256", sha256.New, sha256.Size}, nil
	}
	return Hash{}, &UnsupportedError{Kind: "hash", Name: name}
}

// Padding says how the plaintext of a stanza is padded before encryption.
type Padding int

const (
	// PadNone sends the serialized children as they are (XEP-0200 §6).
	PadNone Padding = iota
	// PadSpaces16 appends spaces up to a multiple of 16 bytes (Gajim).
	PadSpaces16
)

// Normalization selects the form serializer used for MAC and SAS inputs.
type Normalization int

const (
	// NormXEP is the serializer of esession-core.md §2.3 (D-4, D-5).
	NormXEP Normalization = iota
	// NormGajim is the c14n of Gajim's nbxmpp (gajim.go): character data
	// kept, empty elements as "<x />", xmlns where it changes.
	NormGajim
)

// PlainStyle selects how the encrypted stanza children are serialized
// before encryption.
type PlainStyle int

const (
	// PlainXEP writes the jabber:client fragment of esession-core.md D-26.
	PlainXEP PlainStyle = iota
	// PlainGajim writes like Gajim's nbxmpp (gajim.go): "<x />" for empty
	// elements.
	PlainGajim
)

// NS is the XEP-0200 namespace of the <c/> element.
const NS = "http://www.xmpp.org/extensions/xep-0200.html#ns"

// NSClient is the stanza namespace the plaintext fragment is serialized
// and parsed in (esession-core.md D-26).
const NSClient = "jabber:client"

// Suite holds every algorithm choice and encoding detail of one ESession:
// what the negotiation agreed, plus the interpretation profile. The default,
// [XEPSuite], follows the XEP digest's decisions; a compatibility profile
// (for instance Gajim's) is one more Suite value, not a fork of the code.
//
// A Suite is a plain value: copy it freely, do not mutate one that a
// [Stream] is using.
type Suite struct {
	// Profile names the interpretation profile ("xep" or "gajim").
	Profile string

	// Cipher and Hash are the negotiated 'crypt_algs' and 'hash_algs'.
	Cipher Cipher
	Hash   Hash

	// CipherKeyLen overrides how many least significant bytes of the KDF
	// output key the cipher. 0 means Cipher.KeyLen() (XEP-0116
	// §Generating Session Keys). Gajim used the full 32 bytes.
	CipherKeyLen int

	// MACKeyBits128 takes only the 16 least significant bytes for MAC and
	// SIGMA keys, XEP-0217's literal wording. The default (false) uses the
	// full HMAC output, as XEP-0116 and XEP-0200 say (esession-core.md D-10).
	MACKeyBits128 bool

	// MACCounter lists how the counter enters the XEP-0200 MAC: the first
	// entry is used when sealing, and a received MAC is accepted under any
	// entry. Empty means {CounterMinimal}.
	MACCounter []CounterEncoding

	// CTRStart is added to the counter to form the first keystream block:
	// 0 by the XEP (NIST SP 800-38A), 1 for Gajim. It never changes how
	// far the counter advances.
	CTRStart uint64

	// Padding of the plaintext before encryption.
	Padding Padding

	// SASNoPad disables left-padding of the SAS to five characters
	// (esession-core.md D-18 pads; Gajim did not).
	SASNoPad bool

	// Normalization selects the form serializer for mac_A, mac_B and the SAS.
	Normalization Normalization

	// Plain selects the serializer of the encrypted stanza children.
	Plain PlainStyle

	// Notice, when set, is sent as a clear-text <body/> after the <c/> of
	// every sealed stanza, for clients without ESession support (Gajim).
	// It is not authenticated and is dropped on receipt.
	Notice string

	// ClearText lists the stanza children that stay in the clear
	// (XEP-0200 §5). An entry with an empty Local matches every element of
	// its namespace; an entry with Space NSClient also matches children
	// without a namespace.
	ClearText []xml.Name

	// MinGroup is the weakest acceptable MODP group (0 = DefaultMinGroup).
	MinGroup int

	// Exponent is the private-exponent size for key pairs this side draws.
	Exponent ExponentMode

	// MaxData bounds the decoded <data/> of a received stanza
	// (0 = DefaultMaxData).
	MaxData int
}

// DefaultMaxData bounds a received plaintext (esession-core.md §8.6).
const DefaultMaxData = 64 << 10

// DefaultClearText is the XEP-0200 §5 list of children that never get
// encrypted, plus server-addressed hints (esession-core.md §7.1).
func DefaultClearText() []xml.Name {
	return []xml.Name{
		{Space: NSClient, Local: "thread"},
		{Space: NSClient, Local: "error"},
		{Space: "http://jabber.org/protocol/amp", Local: ""},
		{Space: "urn:xmpp:hints", Local: ""},
		{Space: "urn:xmpp:carbons:2", Local: "private"},
	}
}

// XEPSuite returns the default profile with the XEP-0217 fixed algorithms:
// aes128-ctr, sha256, minimal counter encoding, no padding.
func XEPSuite() Suite {
	c, _ := CipherByName("aes128-ctr")
	h, _ := HashByName("sha256")
	return Suite{
		Profile:       "xep",
		Cipher:        c,
		Hash:          h,
		MACCounter:    []CounterEncoding{CounterMinimal},
		Normalization: NormXEP,
		ClearText:     DefaultClearText(),
		MinGroup:      DefaultMinGroup,
		Exponent:      ShortExponent,
		MaxData:       DefaultMaxData,
	}
}

// WithAlgorithms returns a copy of s with the named cipher and hash, checked
// with [Suite.Validate].
func (s Suite) WithAlgorithms(cipherName, hashName string) (Suite, error) {
	c, err := CipherByName(cipherName)
	if err != nil {
		return Suite{}, err
	}
	h, err := HashByName(hashName)
	if err != nil {
		return Suite{}, err
	}
	s.Cipher, s.Hash = c, h
	return s, s.Validate()
}

// Validate checks that the suite is usable: a known cipher and hash, and a
// hash output no shorter than the key data taken from it (XEP-0116
// §Mandatory to Implement).
func (s *Suite) Validate() error {
	if s.Hash.new == nil {
		return fmt.Errorf("crypt: suite has no hash: %w", ErrUnsupported)
	}
	if s.Cipher.name == "" {
		return fmt.Errorf("crypt: suite has no cipher: %w", ErrUnsupported)
	}
	if n := s.cipherKeyLen(); n > s.Hash.size {
		return fmt.Errorf("crypt: hash %s is shorter than the %d-byte cipher key: %w", s.Hash.name, n, ErrKeySize)
	}
	if s.CipherKeyLen != 0 && s.Cipher.newBlock != nil {
		if _, err := s.Cipher.newBlock(make([]byte, s.CipherKeyLen)); err != nil {
			return fmt.Errorf("crypt: cipher %s cannot take %d-byte keys: %w", s.Cipher.name, s.CipherKeyLen, ErrKeySize)
		}
	}
	return nil
}

func (s *Suite) cipherKeyLen() int {
	if s.CipherKeyLen != 0 {
		return s.CipherKeyLen
	}
	return s.Cipher.keyLen
}

func (s *Suite) macKeyLen() int {
	if s.MACKeyBits128 {
		return 16
	}
	return s.Hash.size
}

func (s *Suite) maxData() int {
	if s.MaxData > 0 {
		return s.MaxData
	}
	return DefaultMaxData
}

func (s *Suite) macCounter() []CounterEncoding {
	if len(s.MACCounter) == 0 {
		return []CounterEncoding{CounterMinimal}
	}
	return s.MACCounter
}

// isClear reports whether a stanza child stays in the clear.
func (s *Suite) isClear(space, local string) bool {
	for _, n := range s.ClearText {
		if n.Local != "" && n.Local != local {
			continue
		}
		if n.Space == space || (n.Space == NSClient && space == "") {
			return true
		}
	}
	return false
}

// newBlock keys the suite's block cipher.
func (s *Suite) newBlock(key Key) (cipher.Block, error) {
	if s.Cipher.newBlock == nil {
		return nil, nil
	}
	if key.Len() != s.cipherKeyLen() {
		return nil, fmt.Errorf("crypt: %s key of %d bytes, want %d: %w", s.Cipher.name, key.Len(), s.cipherKeyLen(), ErrKeySize)
	}
	return s.Cipher.newBlock(key.b)
}
