package esn

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strconv"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/xmltree"
)

// Public-key identification (XEP-0116 §4.2 fields sign_algs, init_pubkey
// and resp_pubkey; §5.5, §6.9 of the digest).
const (
	// SignRSASHA256 is the mandatory-to-implement sign_algs value.
	SignRSASHA256 = "http://www.w3.org/2000/09/xmldsig#rsa-sha256"
	// NSXMLDSig is the W3C XML Signature namespace of <KeyValue/> and
	// <SignatureValue/>; the normalized forms carry no namespace.
	NSXMLDSig = "http://www.w3.org/2000/09/xmldsig#"
	// PubKeyKey: the identity proof carries the whole <KeyValue/>.
	PubKeyKey = "key"
	// PubKeyHash: the identity proof carries only the key's fingerprint,
	// for a peer that already has the key.
	PubKeyHash = "hash"
)

// Bounds on the RSA keys a peer may identify with. The identity proof of a
// key above 8192 bits would not fit the bound on the identity field.
const (
	minPeerKeyBits = 2048
	maxPeerKeyBits = 8192
	maxSigLen      = maxPeerKeyBits / 8
)

// Auth is the authentication policy of a negotiation.
type Auth int

const (
	// AuthSAS negotiates without public keys (init_pubkey and resp_pubkey
	// none, 4-message, XEP-0217 compatible); the peers compare the short
	// authentication string. It is the zero value.
	AuthSAS Auth = iota
	// AuthKey requires both sides to identify with RSA keys: the 3-message
	// SIGMA-I negotiation when the peer's key is trusted (Alice sends
	// dhkeys), otherwise the 4-message one with signed identities. A
	// session is never established without both keys verified and
	// trusted.
	AuthKey
	// AuthAuto uses keys when both sides have an identity key and trust
	// the other's, and SAS otherwise (4-message either way: the responder
	// decides from what the request offers).
	AuthAuto
)

var authNames = [...]string{"sas", "key", "auto"}

func (a Auth) String() string {
	if a >= 0 && int(a) < len(authNames) {
		return authNames[a]
	}
	return "Auth(" + strconv.Itoa(int(a)) + ")"
}

// ParseAuth parses "sas", "key" or "auto".
func ParseAuth(s string) (Auth, error) {
	if i := slices.Index(authNames[:], s); i >= 0 {
		return Auth(i), nil
	}
	return 0, fmt.Errorf("esn: unknown authentication %q (want sas, key or auto)", s)
}

// KeyRing gives a [Manager] its identity key and its trust decisions
// (XEP-0116 §7.4 Key Associations). pkg/esn never stores keys: cmd/esn
// implements KeyRing over pkg/pubkey and pkg/store. Methods may be called
// concurrently for different sessions.
type KeyRing interface {
	// Signer returns our identity key (an RSA key), or nil if we have
	// none. Signatures are rsa-sha256: Sign is called with the SHA-256
	// digest and crypto.SHA256.
	Signer() crypto.Signer
	// TrustedKeys returns the keys the user trusts for the bare JID
	// peer; they decide the 3-message variant and resolve fingerprints
	// (method hash).
	TrustedKeys(peer string) ([]*rsa.PublicKey, error)
	// CheckKey decides on a key the peer identified with in full (method
	// key), called only after the peer proved it holds the key (its
	// signature over this session verified). It returns nil to accept
	// the key, or an error saying why not (an unknown key, a key that
	// replaces another one, a revoked key); the error is wrapped with
	// ErrUntrustedKey. A trust-on-first-use policy records the key and
	// returns nil.
	CheckKey(peer string, key *rsa.PublicKey) error
}

var (
	// ErrUntrustedKey is wrapped by every negotiation failure caused by
	// the peer's public key: CheckKey refused it, or the peer identified
	// with the fingerprint of a key we do not trust.
	ErrUntrustedKey = errors.New("esn: the peer's public key is not trusted")
	// ErrNoIdentity is returned by Initiate with AuthKey when the
	// KeyRing has no signing key.
	ErrNoIdentity = errors.New("esn: no identity key (public-key authentication needs one)")
)

// KeyValue returns NORM_EL(<KeyValue/>) of an RSA public key (digest §6.9,
// xmldsig CryptoBinary: big-endian without leading zero octets): the
// pubKey_X bytes of the identity MACs.
func KeyValue(pub *rsa.PublicKey) []byte {
	var b bytes.Buffer
	b.WriteString("<KeyValue><RSAKeyValue><Modulus>")
	b.WriteString(crypt.EncodeBase64(pub.N.Bytes()))
	b.WriteString("</Modulus><Exponent>")
	b.WriteString(crypt.EncodeBase64(big.NewInt(int64(pub.E)).Bytes()))
	b.WriteString("</Exponent></RSAKeyValue></KeyValue>")
	return b.Bytes()
}

// KeyFingerprint returns the ESession fingerprint of pub with SHA-256,
// Base64(SHA-256(NORM_EL(<KeyValue/>))) (digest §6.8, D-9). It is not the
// XEP-0189 print, which also covers the JID and validity dates.
func KeyFingerprint(pub *rsa.PublicKey) string {
	h := sha256.Sum256(KeyValue(pub))
	return crypt.EncodeBase64(h[:])
}

// keyState is the public-key part of one session. It holds no secrets
// (the signer is the KeyRing's).
type keyState struct {
	ring    KeyRing
	signer  crypto.Signer
	ownKV   []byte // NORM_EL(<KeyValue/>) of our key; nil without one
	three   bool   // the 3-message (SIGMA-I) variant
	require bool   // policy: both sides must identify with keys
	peerKey *rsa.PublicKey
	// Initiator: what M1 offers.
	initOffer, respOffer []string
}

func newKeyState(ring KeyRing) (*keyState, error) {
	ks := &keyState{ring: ring}
	if ring == nil {
		return ks, nil
	}
	if ks.signer = ring.Signer(); ks.signer != nil {
		pub, ok := ks.signer.Public().(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("esn: identity key is %T, not RSA", ks.signer.Public())
		}
		ks.ownKV = KeyValue(pub)
	}
	return ks, nil
}

func (k *keyState) trusted(peer string) []*rsa.PublicKey {
	if k == nil || k.ring == nil {
		return nil
	}
	keys, err := k.ring.TrustedKeys(peer)
	if err != nil {
		return nil
	}
	return keys
}

// setupInitiator decides what a request offers (Manager.Initiate): the
// variant, the methods and the profile. It returns the preferences to use.
//
//   - AuthKey, peer's key trusted: SIGMA-I; we identify with key or hash
//     and accept the peer's hash or key.
//   - AuthKey, peer's key unknown: 4-message; the peer must send its whole
//     key, which the KeyRing then judges (unknown: refused, or TOFU).
//   - AuthAuto: 4-message; we offer our key (if we have one) and accept
//     the peer's (if we trust one), each alongside none, so the responder
//     picks keys where both can and SAS otherwise.
func (s *Session) setupInitiator(prefs Preferences) (Preferences, error) {
	auth := prefs.Auth
	if auth == AuthSAS {
		return prefs, nil
	}
	ks, err := newKeyState(s.cfg.cfg.Keys)
	if err != nil {
		return prefs, err
	}
	if ks.signer == nil && auth == AuthKey {
		return prefs, ErrNoIdentity
	}
	trusted := len(ks.trusted(s.peerBare)) > 0
	switch {
	case auth == AuthKey && trusted:
		ks.three, ks.require = true, true
		ks.initOffer = []string{PubKeyKey, PubKeyHash}
		ks.respOffer = []string{PubKeyHash, PubKeyKey}
	case auth == AuthKey:
		ks.require = true
		ks.initOffer = []string{PubKeyKey, PubKeyHash}
		ks.respOffer = []string{PubKeyKey}
	default: // auto
		ks.initOffer = []string{PubKeyNone}
		if ks.signer != nil {
			ks.initOffer = []string{PubKeyKey, PubKeyHash, PubKeyNone}
		}
		ks.respOffer = []string{PubKeyNone}
		if trusted {
			ks.respOffer = []string{PubKeyHash, PubKeyKey, PubKeyNone}
		}
		if len(ks.initOffer) == 1 && len(ks.respOffer) == 1 {
			return prefs, nil // nothing to authenticate with keys: SAS
		}
	}
	s.pk = ks
	// XEP-0217 has no public keys: a keyed request is a XEP-0116 one.
	prefs.Profile = ProfileXEP0116
	s.prefsOverride = &prefs
	return prefs, nil
}

// applyKeyOffer turns the 4-message request built by buildRequest into the
// keyed one: sign_algs after hash_algs, the methods of init_pubkey and
// resp_pubkey, and, for SIGMA-I, dhkeys (the e values of keys, in modp
// order) instead of dhhashes and no sas_algs (XEP-0116 §4.3).
func (k *keyState) applyKeyOffer(f *Form, keys []*crypt.PrivateKey) {
	var out []Field
	for _, fl := range f.Fields {
		switch fl.Var {
		case "hash_algs":
			out = append(out, fl, Field{Var: "sign_algs", Type: "list-single", Options: opts([]string{SignRSASHA256})})
			continue
		case "init_pubkey":
			fl = Field{Var: fl.Var, Type: "list-single", Options: opts(k.initOffer)}
		case "resp_pubkey":
			fl = Field{Var: fl.Var, Type: "list-single", Options: opts(k.respOffer)}
		case "sas_algs":
			if k.three {
				continue
			}
		case "dhhashes":
			if k.three {
				vs := make([]string, len(keys))
				for i, key := range keys {
					vs[i] = crypt.EncodeBase64(key.PublicBytes())
				}
				fl = Field{Var: "dhkeys", Type: "hidden", Values: vs}
			}
		}
		out = append(out, fl)
	}
	f.Fields = out
}

// keySelection is the responder's public-key policy for one request,
// computed by setupResponder and used by selectRequest.
type keySelection struct {
	three     bool     // the request is SIGMA-I (dhkeys)
	initPrefs []string // methods we accept from the initiator, preferred first
	respPrefs []string // methods we identify with, preferred first
	signAlgs  []string
}

// setupResponder computes the responder's key policy for request f from
// the bare JID s.peerBare. It returns nil when the KeyRing is unset or the
// policy is SAS: selectRequest then behaves as without public keys (and
// answers a SIGMA-I request with feature-not-implemented naming dhkeys).
//
// We ask the initiator for a key when we trust one of its keys (hash if we
// can, else key) or when it offers nothing else, and identify with ours
// when the initiator accepts our fingerprint (it trusts our key) or
// accepts nothing else. AuthKey and SIGMA-I requests require keys both
// ways.
func (s *Session) setupResponder(prefs Preferences, f *Form) *keySelection {
	if s.cfg.cfg.Keys == nil || prefs.Auth == AuthSAS {
		return nil
	}
	ks, err := newKeyState(s.cfg.cfg.Keys)
	if err != nil {
		return nil
	}
	sel := &keySelection{three: f.Field("dhkeys") != nil, signAlgs: []string{SignRSASHA256}}
	if sel.three && ks.signer == nil {
		return nil
	}
	trusted := len(ks.trusted(s.peerBare)) > 0
	offeredInit := choices(f.Field("init_pubkey"))
	offeredResp := choices(f.Field("resp_pubkey"))
	initKeyed := []string{PubKeyKey}
	if trusted {
		initKeyed = []string{PubKeyHash, PubKeyKey}
	}
	var respKeyed []string
	if ks.signer != nil {
		respKeyed = []string{PubKeyHash, PubKeyKey}
	}
	if prefs.Auth == AuthKey || sel.three {
		ks.require = true
		sel.initPrefs, sel.respPrefs = initKeyed, respKeyed
	} else {
		sel.initPrefs, sel.respPrefs = []string{PubKeyNone}, []string{PubKeyNone}
		if trusted || !slices.Contains(offeredInit, PubKeyNone) {
			sel.initPrefs = append(slices.Clone(initKeyed), PubKeyNone)
		}
		if respKeyed != nil && (slices.Contains(offeredResp, PubKeyHash) || !slices.Contains(offeredResp, PubKeyNone)) {
			sel.respPrefs = append(slices.Clone(respKeyed), PubKeyNone)
		}
	}
	ks.three = sel.three
	s.pk = ks
	return sel
}

// selectKeys is called by selectRequest: it selects sign_algs,
// init_pubkey and resp_pubkey under the key policy (XEP-0116 §4.4 step 3:
// 3-message never with none).
func (k *keySelection) selectKeys(f *Form, r *request, fail func(string)) {
	pickFrom := func(v string, ours []string) string {
		c, ok := pick(ours, choices(f.Field(v)))
		if !ok {
			fail(v)
		}
		return c
	}
	r.params.InitPubKey = pickFrom("init_pubkey", k.initPrefs)
	r.params.RespPubKey = pickFrom("resp_pubkey", k.respPrefs)
	if isKeyed(r.params.InitPubKey) || isKeyed(r.params.RespPubKey) {
		if fl := f.Field("sign_algs"); fl == nil {
			fail("sign_algs")
		} else {
			r.params.SignAlg = pickFrom("sign_algs", k.signAlgs)
		}
	}
	if k.three && (r.params.InitPubKey == PubKeyNone || r.params.RespPubKey == PubKeyNone) {
		fail("init_pubkey")
	}
}

// ownPubKey returns pubKey_X of our identity for method: NORM_EL of our
// <KeyValue/>, or nil for none (XEP-0116 §4.4 step 5).
func (s *Session) ownPubKey(method string) []byte {
	if method == PubKeyNone || s.pk == nil {
		return nil
	}
	return s.pk.ownKV
}

// identityPlaintext returns what ID_X encrypts (digest §6.6): mac_X for
// none, else pubKey_X (or its fingerprint for hash) followed by the
// <SignatureValue/> of mac_X.
func (s *Session) identityPlaintext(method string, mac []byte) ([]byte, error) {
	if method == PubKeyNone {
		return bytes.Clone(mac), nil
	}
	if s.pk == nil || s.pk.signer == nil {
		return nil, ErrNoIdentity
	}
	h := sha256.Sum256(mac)
	sig, err := s.pk.signer.Sign(s.cfg.cfg.Rand, h[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("esn: signing the identity proof: %w", err)
	}
	var b bytes.Buffer
	if method == PubKeyHash {
		b.WriteString("<fingerprint>")
		b.WriteString(crypt.EncodeBase64(s.suite.Fingerprint(s.pk.ownKV)))
		b.WriteString("</fingerprint>")
	} else {
		b.Write(s.pk.ownKV)
	}
	b.WriteString("<SignatureValue>")
	b.WriteString(crypt.EncodeBase64(sig))
	b.WriteString("</SignatureValue>")
	return b.Bytes(), nil
}

// verifyIdentity checks the decrypted identity plaintext of the peer for
// method. macOf computes the expected mac_X for a pubKey_X (nil for none).
// For key and hash it verifies the signature first and only then asks the
// KeyRing whether the key is trusted (so that an unknown key reported to
// the user is one the peer proved it holds). On success the peer's key is
// recorded.
func (s *Session) verifyIdentity(method string, plain []byte, macOf func(pubKey []byte) []byte) error {
	if method == PubKeyNone {
		if s.pk != nil && s.pk.require {
			return fmt.Errorf("%w: the peer identified with no key", ErrUntrustedKey)
		}
		want := macOf(nil)
		defer clear(want)
		if !ctEqual(plain, want) {
			return fmt.Errorf("%w: mac", ErrAuthentication)
		}
		return nil
	}
	if s.pk == nil {
		return fmt.Errorf("%w: unexpected public-key identity", ErrAuthentication)
	}
	id, sigEl, err := parseIdentity(plain)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrAuthentication, err)
	}
	var pub *rsa.PublicKey
	var pubKey []byte
	switch {
	case method == PubKeyKey && id.Name.Local == "KeyValue":
		if pub, err = parseKeyValue(id); err != nil {
			return fmt.Errorf("%w: %v", ErrAuthentication, err)
		}
		pubKey = NormElement(id)
	case method == PubKeyHash && id.Name.Local == "fingerprint":
		fp, err := crypt.DecodeBase64("fingerprint", textOnly(id), 64)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrAuthentication, err)
		}
		for _, k := range s.pk.trusted(s.peerBare) {
			kv := KeyValue(k)
			if ctEqual(s.suite.Fingerprint(kv), fp) {
				pub, pubKey = k, kv
				break
			}
		}
		if pub == nil {
			// XEP-0116 §4.5: without the key for the fingerprint the
			// negotiation MUST be terminated.
			return fmt.Errorf("%w: the peer identified with the fingerprint of a key we do not have", ErrUntrustedKey)
		}
	default:
		return fmt.Errorf("%w: identity is <%s/> for method %s", ErrAuthentication, truncate(id.Name.Local), method)
	}
	sig, err := crypt.DecodeBase64("SignatureValue", textOnly(sigEl), maxSigLen)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrAuthentication, err)
	}
	mac := macOf(pubKey)
	defer clear(mac)
	h := sha256.Sum256(mac)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig); err != nil {
		return fmt.Errorf("%w: signature", ErrAuthentication)
	}
	if method == PubKeyKey {
		if err := s.pk.ring.CheckKey(s.peerBare, pub); err != nil {
			return fmt.Errorf("%w: %w", ErrUntrustedKey, err)
		}
	}
	s.pk.peerKey = pub
	return nil
}

// textOnly returns an element's character data, or "" if it has element
// children.
func textOnly(el *xmltree.Element) string {
	for _, n := range el.Nodes {
		if n.Element != nil {
			return ""
		}
	}
	return el.Text()
}

var identityLimits = xmltree.Limits{MaxBytes: maxIdentityLen, MaxDepth: 5, MaxNodes: 32}

// parseIdentity parses the identity plaintext as a fragment of exactly two
// sibling elements, the key (<KeyValue/> or <fingerprint/>) and
// <SignatureValue/>, without namespace or in the XML-DSig one (D-17).
func parseIdentity(plain []byte) (id, sig *xmltree.Element, err error) {
	wrapped := make([]byte, 0, len(plain)+7)
	wrapped = append(append(append(wrapped, "<r>"...), plain...), "</r>"...)
	dec := xml.NewDecoder(bytes.NewReader(wrapped))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, fmt.Errorf("identity: %v", err)
	}
	start, ok := tok.(xml.StartElement)
	if !ok {
		return nil, nil, errors.New("identity: not XML")
	}
	root, err := xmltree.Decode(dec, start, identityLimits)
	if err != nil {
		return nil, nil, fmt.Errorf("identity: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, errors.New("identity: trailing data")
	}
	var els []*xmltree.Element
	for _, n := range root.Nodes {
		if n.Element == nil {
			if !isXMLSpace(n.Text) {
				return nil, nil, errors.New("identity: text outside the elements")
			}
			continue
		}
		if n.Element.Name.Space != "" && n.Element.Name.Space != NSXMLDSig {
			return nil, nil, errors.New("identity: element in a foreign namespace")
		}
		els = append(els, n.Element)
	}
	if len(els) != 2 || els[1].Name.Local != "SignatureValue" {
		return nil, nil, errors.New("identity: want a key and a <SignatureValue/>")
	}
	return els[0], els[1], nil
}

// parseKeyValue reads <KeyValue><RSAKeyValue><Modulus/><Exponent/>… of
// XML-DSig §4.4.2. DSA keys are not supported.
func parseKeyValue(kv *xmltree.Element) (*rsa.PublicKey, error) {
	ch := kv.Children()
	if len(ch) != 1 || ch[0].Name.Local != "RSAKeyValue" {
		return nil, errors.New("KeyValue must hold one RSAKeyValue")
	}
	var n, e *big.Int
	for _, c := range ch[0].Children() {
		var dst **big.Int
		switch c.Name.Local {
		case "Modulus":
			dst = &n
		case "Exponent":
			dst = &e
		default:
			return nil, fmt.Errorf("unexpected <%s/> in RSAKeyValue", truncate(c.Name.Local))
		}
		if *dst != nil {
			return nil, fmt.Errorf("repeated <%s/>", c.Name.Local)
		}
		b, err := crypt.DecodeBase64(c.Name.Local, textOnly(c), maxPeerKeyBits/8+1)
		if err != nil {
			return nil, err
		}
		*dst = new(big.Int).SetBytes(b)
	}
	if n == nil || e == nil {
		return nil, errors.New("RSAKeyValue needs Modulus and Exponent")
	}
	if bl := n.BitLen(); bl < minPeerKeyBits || bl > maxPeerKeyBits {
		return nil, fmt.Errorf("%d-bit RSA key (want %d to %d)", bl, minPeerKeyBits, maxPeerKeyBits)
	}
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
		return nil, errors.New("bad RSA public exponent")
	}
	return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
}

// verifiedPeerKey returns the peer's key once its identity verified.
func (k *keyState) verifiedPeerKey() *rsa.PublicKey {
	if k == nil {
		return nil
	}
	return k.peerKey
}

// isKeyed reports whether an identification method uses a public key.
func isKeyed(method string) bool { return method == PubKeyKey || method == PubKeyHash }
