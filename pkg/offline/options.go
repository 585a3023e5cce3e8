package offline

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/pubkey"
	"github.com/esn-project/esn/pkg/xmltree"
)

// Bounds on what is accepted from the network and the store.
const (
	maxFormBytes = 64 << 10 // a published form or Bob's answer
	maxSigs      = 8        // 'signs' values tried
	maxSigLen    = pubkey.MaxBits / 8
	// MaxLifetime bounds 'expires' - now when preparing options.
	MaxLifetime = 90 * 24 * time.Hour
	// DefaultLifetime is the expiry esn offers when not told otherwise:
	// XEP-0187 §6.2 wants it "soon after" the expected return.
	DefaultLifetime = 48 * time.Hour
)

// Field values Alice offers and Bob accepts. XEP-0187 §3.1 reuses the
// XEP-0116 field set; rekey_freq is the "no re-keying" value (#43).
const (
	rekeyNone       = "4294967295"
	hashSHA256      = "sha256"
	compressNone    = "none"
	stanzaMessage   = "message"
	protocolVersion = "1.0"
	disclosureNever = "never"
	securityE2E     = "e2e"
	loggingMustNot  = "mustnot"
	loggingMay      = "may"
)

// signAlias maps the old XEP-0187 example values to the xmldsig URIs (#32).
func signAlias(v string) string {
	switch v {
	case "rsa":
		return esn.SignRSASHA256
	}
	return v
}

// PublishConfig describes one option set to prepare (XEP-0187 §3.1).
type PublishConfig struct {
	// Set is the option set (SetSubscribers or SetAll).
	Set Set
	// Owner is Alice's bare JID.
	Owner string
	// MatchResource, when set, is published as 'match_resource': Bob
	// then addresses every stanza to that resource (XEP-0187 §3.1,
	// SHOULD when the secrets cannot be used from another client).
	MatchResource string
	// Expires is when the options expire; zero means now +
	// DefaultLifetime. It must be in the future and within MaxLifetime.
	Expires time.Time
	// Groups are the MODP groups offered, preferred first (default 14,
	// 15); MinGroup (0 = crypt.DefaultMinGroup) is the weakest allowed.
	Groups   []int
	MinGroup int
	// Ciphers are the crypt_algs offered (default aes256-ctr,
	// aes128-ctr).
	Ciphers []string
	// Signers sign the form (one 'signs' value each; XEP-0187 §3.1
	// SHOULD: one per key others may verify). At least one RSA key.
	Signers []crypto.Signer
	// Rand is the CSPRNG (crypto/rand when nil); Now the clock.
	Rand io.Reader
	Now  func() time.Time
	// Exponent is the size of the private exponents
	// (crypt.ShortExponent by default).
	Exponent crypt.ExponentMode
}

// DefaultGroups are the MODP groups offered by default.
var DefaultGroups = []int{14, 15}

// DefaultCiphers are the ciphers offered and preferred by default: the
// content waits on a server, so the larger key comes first.
var DefaultCiphers = []string{"aes256-ctr", "aes128-ctr"}

// Published is one prepared option set: the form to publish as the
// payload of item [ItemID] on [Set.Node], and the secrets to store first.
type Published struct {
	Form    *xmltree.Element
	Secrets *Secrets
}

// Prepare builds and signs one option set (XEP-0187 §3.1; digest §4.3):
// the ESession request form of XEP-0116 without 'accept' and without the
// public-key method fields (O-02), with 'dhkeys' (one fresh e per group,
// in modp order), 'expires', optional 'match_resource', and 'signs' over
// the normalized content of every other child (#31).
//
// The caller MUST store the returned secrets before publishing the form.
func Prepare(cfg PublishConfig) (*Published, error) {
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	r := cfg.Rand
	if r == nil {
		r = rand.Reader
	}
	if cfg.Set != SetSubscribers && cfg.Set != SetAll {
		return nil, fmt.Errorf("offline: unknown option set %d", cfg.Set)
	}
	if cfg.Owner == "" || strings.Contains(cfg.Owner, "/") {
		return nil, fmt.Errorf("offline: the owner must be a bare JID, not %q", cfg.Owner)
	}
	if len(cfg.Signers) == 0 {
		return nil, ErrNoIdentity
	}
	t := now().UTC().Truncate(time.Second)
	expires := cfg.Expires.UTC().Truncate(time.Second)
	if cfg.Expires.IsZero() {
		expires = t.Add(DefaultLifetime)
	}
	if !expires.After(t) {
		return nil, fmt.Errorf("offline: the expiry %s is not in the future", pubkey.FormatTime(expires))
	}
	if expires.Sub(t) > MaxLifetime {
		return nil, fmt.Errorf("offline: the expiry %s is more than %v away (XEP-0187 §6.2: choose one soon after your return)", pubkey.FormatTime(expires), MaxLifetime)
	}
	groups := cfg.Groups
	if len(groups) == 0 {
		groups = DefaultGroups
	}
	ciphers := cfg.Ciphers
	if len(ciphers) == 0 {
		ciphers = DefaultCiphers
	}
	for _, c := range ciphers {
		if _, err := crypt.CipherByName(c); err != nil || c == crypt.CipherNone {
			return nil, fmt.Errorf("offline: cipher %q cannot be offered", c)
		}
	}
	nonce, err := crypt.GenerateNonce(r)
	if err != nil {
		return nil, err
	}
	sec := &Secrets{ID: setID(nonce), Set: cfg.Set, Owner: cfg.Owner, Created: t, Expires: expires,
		MatchResource: cfg.MatchResource, nonce: nonce}
	var dhkeys []string
	for _, id := range groups {
		if slices.ContainsFunc(sec.keys, func(k groupSecret) bool { return k.group == id }) {
			return nil, fmt.Errorf("offline: MODP group %d listed twice", id)
		}
		g, err := crypt.ParseGroup(strconv.Itoa(id), cfg.MinGroup)
		if err != nil {
			return nil, err
		}
		x, err := drawExponent(r, g, cfg.Exponent)
		if err != nil {
			sec.Erase()
			return nil, err
		}
		pk, err := g.NewPrivateKey(x)
		if err != nil {
			sec.Erase()
			return nil, err
		}
		dhkeys = append(dhkeys, crypt.EncodeBase64(pk.PublicBytes()))
		pk.Erase()
		sec.keys = append(sec.keys, groupSecret{group: id, x: x})
	}
	f := esn.NewForm(esn.FormTypeForm)
	list := func(v string, vals ...string) {
		f.Add(esn.Field{Var: v, Type: "list-single", Options: options(vals)})
	}
	list("logging", loggingMustNot, loggingMay)
	list("disclosure", disclosureNever)
	list("security", securityE2E)
	gs := make([]string, len(groups))
	for i, g := range groups {
		gs[i] = strconv.Itoa(g)
	}
	list("modp", gs...)
	list("crypt_algs", ciphers...)
	list("hash_algs", hashSHA256)
	list("sign_algs", esn.SignRSASHA256)
	list("compress", compressNone)
	f.Add(esn.Field{Var: "stanzas", Type: "list-multi", Options: options([]string{stanzaMessage})})
	list("ver", protocolVersion)
	f.Add(esn.Field{Var: "rekey_freq", Type: "text-single", Values: []string{rekeyNone}})
	f.Add(esn.Field{Var: "expires", Type: "hidden", Values: []string{pubkey.FormatTime(expires)}})
	f.Add(esn.Field{Var: "my_nonce", Type: "hidden", Values: []string{crypt.EncodeBase64(nonce)}})
	f.Add(esn.Field{Var: "dhkeys", Type: "hidden", Values: dhkeys})
	if cfg.MatchResource != "" {
		f.Add(esn.Field{Var: "match_resource", Type: "text-single", Values: []string{cfg.MatchResource}})
	}
	content := esn.NormContent(f.Element())
	var sigs []string
	for _, s := range cfg.Signers {
		if _, ok := s.Public().(*rsa.PublicKey); !ok {
			sec.Erase()
			return nil, fmt.Errorf("offline: signing key is %T, not RSA", s.Public())
		}
		sig, err := pubkey.Sign(r, s, content)
		if err != nil {
			sec.Erase()
			return nil, err
		}
		sigs = append(sigs, crypt.EncodeBase64(sig))
	}
	f.Add(esn.Field{Var: "signs", Values: sigs})
	el := f.Element()
	sec.form = el.String()
	return &Published{Form: el, Secrets: sec}, nil
}

func options(vals []string) []esn.Option {
	out := make([]esn.Option, len(vals))
	for i, v := range vals {
		out[i] = esn.Option{Value: v}
	}
	return out
}

var bigOne = big.NewInt(1)

// drawExponent draws x with 2^255 < x < p−1 (XEP-0116 §Diffie-Hellman Key
// Agreement with n = 128), the way crypt.Group.GenerateKey does, but
// keeping x: Alice must store it (XEP-0187 §3.1).
func drawExponent(r io.Reader, g *crypt.Group, mode crypt.ExponentMode) (*big.Int, error) {
	lo := new(big.Int).Lsh(bigOne, 255)
	lo.Add(lo, bigOne)
	var hi *big.Int
	if mode == crypt.FullExponent {
		hi = g.P()
		hi.Sub(hi, bigOne)
	} else {
		hi = new(big.Int).Lsh(bigOne, uint(g.ExponentBits(mode)))
	}
	x, err := rand.Int(r, new(big.Int).Sub(hi, lo))
	if err != nil {
		return nil, fmt.Errorf("offline: drawing a DH exponent: %w", err)
	}
	return x.Add(x, lo), nil
}

// Options are a contact's published offline ESession options as Bob
// fetched them (XEP-0187 §3.2). They are usable only after
// [Options.Verify].
type Options struct {
	// Set is the set they were fetched from (the caller's knowledge).
	Set Set
	// Owner is the bare JID they were fetched from.
	Owner string
	// Expires is the 'expires' field.
	Expires time.Time
	// MatchResource is the 'match_resource' field, if any.
	MatchResource string
	// Groups are the offered MODP groups in order (0 for a value that
	// is not a number this package knows).
	Groups []int

	form   *esn.Form
	nonce  []byte
	sigs   [][]byte
	signer *rsa.PublicKey // set by Verify
}

// ParseOptions parses a fetched options item strictly and bounded
// (XEP-0187 §3.1 form; digest #47, O-03, O-07). set and owner say where
// it came from.
func ParseOptions(x *xmltree.Element, set Set, owner string) (*Options, error) {
	f, err := esn.ParseForm(x, esn.FormLimits{})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if f.Type != esn.FormTypeForm {
		return nil, malformed("", "the options are not a type='form' data form")
	}
	if f.FormType() != esn.NSSSN {
		return nil, malformed("FORM_TYPE", "not urn:xmpp:ssn")
	}
	o := &Options{Set: set, Owner: owner, form: f}
	v, _ := f.Value("my_nonce")
	if o.nonce, err = crypt.DecodeBase64("my_nonce", v, 64); err != nil || crypt.CheckNonce(o.nonce) != nil {
		return nil, malformed("my_nonce", "not a nonce")
	}
	v, ok := f.Value("expires")
	if !ok {
		return nil, malformed("expires", "missing")
	}
	if o.Expires, err = pubkey.ParseTime(v); err != nil {
		return nil, malformed("expires", "not a DateTime")
	}
	modp := choices(f.Field("modp"))
	if len(modp) == 0 {
		return nil, malformed("modp", "no group offered")
	}
	for _, m := range modp {
		id, err := strconv.Atoi(m)
		if err != nil || id < 0 || id > 1000 {
			return nil, malformed("modp", "not a group number")
		}
		if _, err := crypt.GroupByID(id); err != nil {
			id = 0
		}
		o.Groups = append(o.Groups, id)
	}
	dh := f.Field("dhkeys")
	if dh == nil || len(dh.Values) != len(modp) {
		return nil, malformed("dhkeys", "want one value per modp option")
	}
	if f.Field("dhhashes") != nil {
		return nil, malformed("dhhashes", "offline options carry dhkeys, not dhhashes")
	}
	st := choices(f.Field("stanzas"))
	if slices.Contains(st, "iq") {
		return nil, malformed("stanzas", "offline options must not offer iq (XEP-0187 §3.1)")
	}
	if mr, ok := f.Value("match_resource"); ok {
		if mr == "" || len(mr) > 1023 || strings.ContainsAny(mr, "/@") {
			return nil, malformed("match_resource", "not a resource")
		}
		if len(st) != 1 || st[0] != stanzaMessage {
			return nil, malformed("stanzas", "with match_resource only message may be offered")
		}
		o.MatchResource = mr
	}
	sf := f.Field("signs")
	if sf == nil || len(sf.Values) == 0 {
		return nil, malformed("signs", "the options are not signed")
	}
	for i, s := range sf.Values {
		if i >= maxSigs {
			break
		}
		b, err := crypt.DecodeBase64("signs", strings.TrimSpace(s), maxSigLen)
		if err != nil {
			return nil, malformed("signs", "not Base64")
		}
		o.sigs = append(o.sigs, b)
	}
	return o, nil
}

// choices returns a field's options, or its values when it has none (a
// list field written with a default value only).
func choices(fl *esn.Field) []string {
	if fl == nil {
		return nil
	}
	if len(fl.Options) > 0 {
		return fl.OptionValues()
	}
	return fl.Values
}

// KeyRing is what this package needs of the account's trust store; an
// esn.KeyRing implements it. pkg/offline never trusts a key by itself.
type KeyRing interface {
	// TrustedKeys returns the keys the user trusts for the bare JID peer.
	TrustedKeys(peer string) ([]*rsa.PublicKey, error)
	// CheckKey decides on a key that peer proved it holds (a signature
	// verified): nil accepts it (already trusted, or trusted on first use
	// by an explicit policy), an error says why not.
	CheckKey(peer string, key *rsa.PublicKey) error
}

// Verify checks the 'signs' of the options (XEP-0187 §3.3; digest #31):
// every value against every key the user trusts for the owner, with
// rsa-sha256 over the normalized form content without 'signs'. If none
// verifies, the candidate keys (for instance the owner's published
// XEP-0189 keys, not yet trusted) are tried, and a candidate that verifies
// is submitted to ring.CheckKey: Bob proceeds only with a key he trusts
// or "can acquire and trust" (O-17), never silently.
//
// Errors: esn.ErrUntrustedKey (wrapped, with the KeyRing's reason) when no
// trusted key signed the options, ErrBadSignature when trusted keys exist
// but none of them signed them.
func (o *Options) Verify(ring KeyRing, candidates ...*rsa.PublicKey) error {
	if ring == nil {
		return fmt.Errorf("%w: no trust store to verify the options of %s", esn.ErrUntrustedKey, o.Owner)
	}
	content := esn.NormContent(o.form.Element(), "signs")
	verifies := func(k *rsa.PublicKey) bool {
		for _, s := range o.sigs {
			if pubkey.Verify(k, content, s) == nil {
				return true
			}
		}
		return false
	}
	trusted, err := ring.TrustedKeys(o.Owner)
	if err != nil {
		return fmt.Errorf("offline: reading the trusted keys of %s: %w", o.Owner, err)
	}
	for _, k := range trusted {
		if verifies(k) {
			o.signer = k
			return nil
		}
	}
	for _, k := range candidates {
		if k == nil || slices.ContainsFunc(trusted, func(t *rsa.PublicKey) bool { return pubkey.SameKey(t, k) }) {
			continue
		}
		if !verifies(k) {
			continue
		}
		if err := ring.CheckKey(o.Owner, k); err != nil {
			return fmt.Errorf("%w: the options of %s are signed by a key you do not trust: %w", esn.ErrUntrustedKey, o.Owner, err)
		}
		o.signer = k
		return nil
	}
	if len(trusted) > 0 {
		return fmt.Errorf("%w: none of the %d key(s) you trust for %s signed the offline options", ErrBadSignature, len(trusted), o.Owner)
	}
	return fmt.Errorf("%w: no trusted key of %s signed the offline options", esn.ErrUntrustedKey, o.Owner)
}

// Signer returns the key whose signature verified, nil before Verify.
func (o *Options) Signer() *rsa.PublicKey { return o.signer }

// Form returns the options form as received.
func (o *Options) Form() *esn.Form { return o.form }

var errNotVerified = errors.New("offline: the options were not verified (call Options.Verify first)")
