package crypt

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"io"
	"math/big"
)

// Label is the exact ASCII string HMACed with a secret to derive a key
// (XEP-0116 §Generating Session Keys, XEP-0200 §9.2, XEP-0116 §Retained
// Secrets). No terminator or length prefix is added.
type Label string

// The labels of the key derivation. The comments give the key names of the
// specifications.
const (
	LabelInitiatorCipher Label = "Initiator Cipher Key" // KC_A
	LabelInitiatorMAC    Label = "Initiator MAC Key"    // KM_A
	LabelInitiatorSIGMA  Label = "Initiator SIGMA Key"  // KS_A
	LabelResponderCipher Label = "Responder Cipher Key" // KC_B
	LabelResponderMAC    Label = "Responder MAC Key"    // KM_B
	LabelResponderSIGMA  Label = "Responder SIGMA Key"  // KS_B

	LabelRekeyInitiatorCipher Label = "Rekey Initiator Crypt" // XEP-0200 §9.2
	LabelRekeyAcceptorCipher  Label = "Rekey Acceptor Crypt"
	LabelRekeyInitiatorMAC    Label = "Rekey Initiator MAC"
	LabelRekeyAcceptorMAC     Label = "Rekey Acceptor MAC"

	LabelNewRetainedSecret    Label = "New Retained Secret"    // RS_new
	LabelSharedRetainedSecret Label = "Shared Retained Secret" // srshash
	labelSAS                  Label = "Short Authentication String"
)

// keyKind says how many least significant bytes a label's output keeps.
type keyKind int

const (
	kindCipher keyKind = iota // the cipher key length
	kindMAC                   // the MAC key length (full or 128 bits, D-10)
	kindFull                  // the whole HMAC output
)

func (l Label) kind() keyKind {
	switch l {
	case LabelInitiatorCipher, LabelResponderCipher, LabelRekeyInitiatorCipher, LabelRekeyAcceptorCipher:
		return kindCipher
	case LabelInitiatorMAC, LabelResponderMAC, LabelInitiatorSIGMA, LabelResponderSIGMA,
		LabelRekeyInitiatorMAC, LabelRekeyAcceptorMAC:
		return kindMAC
	}
	return kindFull
}

// KDF is the one key derivation of ESessions: HMAC(HASH, secret, label),
// keeping the least significant bytes the label's key needs (XEP-0116
// §Generating Session Keys: "as many bits of key data as are needed for each
// key MUST be taken from the least significant bits of the HMAC output").
// Cipher keys keep the cipher key length; MAC and SIGMA keys keep the full
// output, or 16 bytes with MACKeyBits128 (D-10); other labels keep the full
// output.
func (s *Suite) KDF(secret Key, label Label) Key {
	m := hmac.New(s.Hash.new, secret.b)
	m.Write([]byte(label))
	out := m.Sum(nil)
	var n int
	switch label.kind() {
	case kindCipher:
		n = s.cipherKeyLen()
	case kindMAC:
		n = s.macKeyLen()
	default:
		n = len(out)
	}
	k := NewKey(out[len(out)-n:])
	clear(out)
	return k
}

// Role is a party's role in the negotiation: the initiator (Alice, who sent
// the first message) or the responder (Bob). Roles fix which labels key
// which direction.
type Role int

const (
	Initiator Role = iota // Alice
	Responder             // Bob
)

func (r Role) String() string {
	switch r {
	case Initiator:
		return "initiator"
	case Responder:
		return "responder"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// Peer returns the other role.
func (r Role) Peer() Role { return 1 - r }

// direction groups the labels of one direction, like the ssh package's
// clientKeys/serverKeys.
type direction struct{ cipher, mac, sigma Label }

var directions = [2]direction{
	Initiator: {LabelInitiatorCipher, LabelInitiatorMAC, LabelInitiatorSIGMA},
	Responder: {LabelResponderCipher, LabelResponderMAC, LabelResponderSIGMA},
}

// DirectionKeys are the keys of the traffic a role sends: KC_X (encryption,
// also of ID_X), KM_X (integrity, also of M_X) and KS_X (mac_X only).
type DirectionKeys struct {
	Cipher Key // KC_X
	MAC    Key // KM_X
	SIGMA  Key // KS_X
}

// Erase clears all three keys.
func (d DirectionKeys) Erase() { d.Cipher.Erase(); d.MAC.Erase(); d.SIGMA.Erase() }

// SessionKeys derives KC_X, KM_X and KS_X of role r's direction from K (or
// K_final), per XEP-0116 §Generating Session Keys.
func (s *Suite) SessionKeys(k Key, r Role) DirectionKeys {
	d := directions[r&1]
	return DirectionKeys{Cipher: s.KDF(k, d.cipher), MAC: s.KDF(k, d.mac), SIGMA: s.KDF(k, d.sigma)}
}

// SharedKey computes K = HASH(I2B(peer^x mod p)) (XEP-0116 §Diffie-Hellman
// Key Agreement) after validating peer, and erases the intermediate value.
func (s *Suite) SharedKey(priv *PrivateKey, peer *big.Int) (Key, error) {
	z, err := priv.SharedSecret(peer)
	if err != nil {
		return Key{}, err
	}
	defer z.Erase()
	h := s.Hash.new()
	h.Write(z.b)
	return Key{b: h.Sum(nil)}, nil
}

// FinalKey computes K_final = HASH(K | SRS | OSS) for the 4-message
// negotiation (XEP-0116 §Sending Bob's Identity). srs and oss are appended
// only when non-empty (D-11); the hash is always applied.
func (s *Suite) FinalKey(k, srs Key, oss []byte) Key {
	h := s.Hash.new()
	h.Write(k.b)
	h.Write(srs.b)
	h.Write(oss)
	return Key{b: h.Sum(nil)}
}

// NewRetainedSecret computes RS_new = HMAC(HASH, K_final, "New Retained
// Secret") (XEP-0116 §Retained Secrets).
func (s *Suite) NewRetainedSecret(kFinal Key) Key {
	return s.KDF(kFinal, LabelNewRetainedSecret)
}

// RetainedSecretHash computes HMAC(HASH, N_A, RS), one 'rshashes' value.
func (s *Suite) RetainedSecretHash(nA []byte, rs Key) []byte {
	m := hmac.New(s.Hash.new, nA)
	m.Write(rs.b)
	return m.Sum(nil)
}

// MatchRetainedSecret finds which candidate retained secret has its
// HMAC(N_A, RS) among rshashes, comparing every pair in constant time
// without early exit. It returns the index of the last match, or -1.
func (s *Suite) MatchRetainedSecret(nA []byte, candidates []Key, rshashes [][]byte) int {
	found := -1
	for i, rs := range candidates {
		h := s.RetainedSecretHash(nA, rs)
		hit := 0
		for _, v := range rshashes {
			hit |= subtle.ConstantTimeCompare(h, v)
		}
		found = subtle.ConstantTimeSelect(hit, i, found)
	}
	return found
}

// SharedRetainedSecretHash computes srshash = HMAC(HASH, SRS, "Shared
// Retained Secret").
func (s *Suite) SharedRetainedSecretHash(srs Key) []byte {
	k := s.KDF(srs, LabelSharedRetainedSecret)
	return k.b
}

// MatchSharedRetainedSecret finds which candidate has HMAC(RS, "Shared
// Retained Secret") == srshash, in constant time over all candidates. It
// returns the index or -1.
func (s *Suite) MatchSharedRetainedSecret(candidates []Key, srshash []byte) int {
	found := -1
	for i, rs := range candidates {
		hit := subtle.ConstantTimeCompare(s.SharedRetainedSecretHash(rs), srshash)
		found = subtle.ConstantTimeSelect(hit, i, found)
	}
	return found
}

// RandomHashValue returns HASH-length random bytes: the 'rshashes' fillers
// and the random 'srshash' (esession-core.md D-8). rand nil means
// crypto/rand.
func (s *Suite) RandomHashValue(r io.Reader) ([]byte, error) {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, s.Hash.size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("crypt: drawing random bytes: %w", err)
	}
	return b, nil
}

// RekeyRole is a party's role in one XEP-0200 re-key: the party that sent
// the <key/> is the initiator, the other the acceptor. It is independent of
// the negotiation [Role].
type RekeyRole int

const (
	RekeyInitiator RekeyRole = iota
	RekeyAcceptor
)

// RekeyKeys derives the cipher and MAC keys that the re-key party r sends
// with, from the unhashed re-key secret I2B(K) (XEP-0200 §9.2;
// esession-core.md AMB-19).
func (s *Suite) RekeyKeys(z Key, r RekeyRole) (cipherKey, macKey Key) {
	if r == RekeyInitiator {
		return s.KDF(z, LabelRekeyInitiatorCipher), s.KDF(z, LabelRekeyInitiatorMAC)
	}
	return s.KDF(z, LabelRekeyAcceptorCipher), s.KDF(z, LabelRekeyAcceptorMAC)
}

// Fingerprint returns HASH(NORM_EL(<KeyValue>)), the fingerprint of a
// public key (XEP-0116 §Verifying Keys, D-9). keyValue is the normalized
// element including its own tags.
func (s *Suite) Fingerprint(keyValue []byte) []byte {
	h := s.Hash.new()
	h.Write(keyValue)
	return h.Sum(nil)
}

// NonceSize is the length of the nonces this package generates (D-3).
const NonceSize = 32

// GenerateNonce returns 32 random octets with a non-zero first octet, for
// 'my_nonce' (esession-core.md D-3). rand nil means crypto/rand.
func GenerateNonce(r io.Reader) ([]byte, error) {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, NonceSize)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("crypt: drawing a nonce: %w", err)
	}
	if b[0] == 0 {
		b[0] = 1
	}
	return b, nil
}

// CheckNonce checks a received nonce length: 8 to 64 octets (D-3).
func CheckNonce(n []byte) error {
	if len(n) < 8 || len(n) > 64 {
		return malformed("nonce", "must be 8 to 64 octets")
	}
	return nil
}

// SAS computes the sas28x5 Short Authentication String (XEP-0116 §Short
// Authentication String): the least significant 24 bits of
// HASH(M_A | form_B | "Short Authentication String") in base 28, most
// significant digit first, left-padded with 'a' to five characters (D-18).
// mA is the raw M_A of message 3; formB the normalized content of Bob's
// message-2 form.
func (s *Suite) SAS(mA, formB []byte) string {
	h := s.Hash.new()
	h.Write(mA)
	h.Write(formB)
	h.Write([]byte(labelSAS))
	sum := h.Sum(nil)
	v := uint32(sum[len(sum)-3])<<16 | uint32(sum[len(sum)-2])<<8 | uint32(sum[len(sum)-1])
	return sas28(v, !s.SASNoPad)
}

const sasAlphabet = "acdefghikmopqruvwxy123456789"

// sas28 writes v in base 28 with the sas28x5 alphabet.
func sas28(v uint32, pad bool) string {
	var b [5]byte
	i := len(b)
	for {
		i--
		b[i] = sasAlphabet[v%28]
		v /= 28
		if v == 0 || i == 0 {
			break
		}
	}
	if pad {
		for i > 0 {
			i--
			b[i] = sasAlphabet[0]
		}
	}
	return string(b[i:])
}
