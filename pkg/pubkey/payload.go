package pubkey

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/esn-project/esn/pkg/xmltree"
)

// Namespaces of XEP-0189 §2 and the PEP nodes esn uses for them (digest §8
// #16: node = payload namespace).
const (
	NS       = "urn:xmpp:pubkey:2"
	NSRevoke = "urn:xmpp:revoke:2"
	NSAttest = "urn:xmpp:attest:2"

	// Node is the PEP node of public keys; RevokeNode that of revocations.
	Node       = NS
	RevokeNode = NSRevoke
	// ItemCurrent is the item id of the one key of an account (XEP-0189
	// §3.1: "exactly one item, ItemID current").
	ItemCurrent = "current"
	// AlgoSHA256 is the default and only supported print algorithm.
	AlgoSHA256 = "sha-256"
)

// Bounds on received payloads (digest §8.6 style hardening). A 16384-bit
// modulus has 4933 decimal digits.
const (
	maxDateLen     = 64
	maxJIDLen      = 3071 // RFC 7622 §3.1
	maxModulusLen  = 5000
	maxExponentLen = 10
	maxKeyB64Len   = 4096
	maxPrintLen    = 200
	maxURILen      = 2048
	// MaxPayloadBytes bounds ParsePublicKeyXML and ParseRevocationXML input.
	MaxPayloadBytes = 64 << 10
)

// Errors of parsing and validation, for errors.Is.
var (
	// ErrMalformed is wrapped by every parse failure of a payload.
	ErrMalformed = errors.New("pubkey: malformed payload")
	// ErrPrintMismatch: the <print/> is not the hash of the key's fields.
	ErrPrintMismatch = errors.New("pubkey: print does not match the key")
	// ErrUnsupportedAlgo: a print algorithm other than sha-256.
	ErrUnsupportedAlgo = errors.New("pubkey: unsupported print algorithm")
)

// dateLayout is XEP-0082 DateTime in UTC, as esn emits it.
const dateLayout = "2006-01-02T15:04:05Z"

// FormatTime returns t as a XEP-0082 UTC DateTime without fractions.
func FormatTime(t time.Time) string { return t.UTC().Format(dateLayout) }

// ParseTime parses a XEP-0082 DateTime; a value without a zone is UTC
// (digest §8 #19).
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: DateTime %q", ErrMalformed, truncate(s))
	}
	return t, nil
}

// PublicKey is the <pubkey xmlns='urn:xmpp:pubkey:2'/> payload of
// XEP-0189 §2: an RSA key, the JID it belongs to and its validity period.
type PublicKey struct {
	Key        *rsa.PublicKey
	JID        string // the bare JID of the owner, as in <jid/>
	Begin, End time.Time
	// URI is the optional <uri/> (in the field table, not the schema);
	// it is parsed and ignored (digest §8 #25), and never emitted.
	URI string

	// The exact character data of <begin/>, <end/> and <jid/> as received,
	// which the print covers; empty for keys built here.
	begin, end, jid string
}

// NewPublicKey describes pub as owned by jid from begin to end.
func NewPublicKey(pub *rsa.PublicKey, jid string, begin, end time.Time) *PublicKey {
	return &PublicKey{Key: pub, JID: jid, Begin: begin.UTC().Truncate(time.Second), End: end.UTC().Truncate(time.Second)}
}

func (k *PublicKey) beginText() string {
	if k.begin != "" {
		return k.begin
	}
	return FormatTime(k.Begin)
}

func (k *PublicKey) endText() string {
	if k.end != "" {
		return k.end
	}
	return FormatTime(k.End)
}

func (k *PublicKey) jidText() string {
	if k.jid != "" {
		return k.jid
	}
	return k.JID
}

// Fingerprint returns the XEP-0189 print of the key (see the package doc).
func (k *PublicKey) Fingerprint() Fingerprint {
	return ComputePrint(k.beginText(), k.endText(), k.jidText(), k.Key.N.String(), strconv.Itoa(k.Key.E))
}

// ValidAt reports whether t lies within [Begin, End].
func (k *PublicKey) ValidAt(t time.Time) bool {
	return !t.Before(k.Begin) && !t.After(k.End)
}

// SPKIBase64 is the Base64 of the key's DER SubjectPublicKeyInfo: the
// content of a revocation's <key/> (digest §8 #22).
func (k *PublicKey) SPKIBase64() (string, error) {
	der, err := x509.MarshalPKIXPublicKey(k.Key)
	if err != nil {
		return "", fmt.Errorf("pubkey: encoding the public key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(der), nil
}

func text(space, local, s string) *xmltree.Element {
	return xmltree.New(space, local).AddText(s)
}

// Element returns the payload, in schema order (begin, end, jid, rsakey),
// with the print (XEP-0189 §2).
func (k *PublicKey) Element() *xmltree.Element {
	rsakey := xmltree.New(NS, "rsakey").
		AddChild(text(NS, "modulus", k.Key.N.String())).
		AddChild(text(NS, "publicExponent", strconv.Itoa(k.Key.E))).
		AddChild(xmltree.New(NS, "print", xml.Attr{Name: xml.Name{Local: "algo"}, Value: AlgoSHA256}).
			AddText(k.Fingerprint().Base64()))
	return xmltree.New(NS, "pubkey").
		AddChild(text(NS, "begin", k.beginText())).
		AddChild(text(NS, "end", k.endText())).
		AddChild(text(NS, "jid", k.jidText())).
		AddChild(rsakey)
}

// payloadLimits bound the XML of one payload.
var payloadLimits = xmltree.Limits{MaxBytes: MaxPayloadBytes, MaxDepth: 8, MaxNodes: 128}

// ParsePublicKeyXML parses a serialized <pubkey/> within MaxPayloadBytes.
func ParsePublicKeyXML(data []byte) (*PublicKey, error) {
	el, err := xmltree.Parse(data, payloadLimits)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return ParsePublicKey(el)
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// leaf returns the character data of an element that must have no element
// children, bounded by max.
func leaf(el *xmltree.Element, max int) (string, error) {
	for _, n := range el.Nodes {
		if n.Element != nil {
			return "", malformed("<%s/> has a child element", el.Name.Local)
		}
	}
	s := el.Text()
	if len(s) > max {
		return "", malformed("<%s/> is longer than %d characters", el.Name.Local, max)
	}
	return s, nil
}

// children returns el's element children in namespace space, once each,
// refusing unknown, repeated, foreign or interleaved-text children.
func children(el *xmltree.Element, space string, allowed ...string) (map[string]*xmltree.Element, error) {
	out := map[string]*xmltree.Element{}
	for _, n := range el.Nodes {
		if n.Element == nil {
			if strings.TrimSpace(n.Text) != "" {
				return nil, malformed("text inside <%s/>", el.Name.Local)
			}
			continue
		}
		c := n.Element
		name := c.Name.Local
		if c.Name.Space != space {
			return nil, malformed("<%s/> in namespace %q inside <%s/>", truncate(name), truncate(c.Name.Space), el.Name.Local)
		}
		ok := false
		for _, a := range allowed {
			ok = ok || a == name
		}
		if !ok {
			return nil, malformed("unknown element <%s/> in <%s/>", truncate(name), el.Name.Local)
		}
		if out[name] != nil {
			return nil, malformed("more than one <%s/>", name)
		}
		out[name] = c
	}
	return out, nil
}

// decimal parses a canonical positive decimal integer (digits only, no
// leading zero, whitespace removed first; digest §3.1: moduli may be
// line-wrapped).
func decimal(name, s string, max int) (string, *big.Int, error) {
	s = strings.Join(strings.Fields(s), "")
	if s == "" || len(s) > max {
		return "", nil, malformed("<%s/> must hold 1 to %d digits", name, max)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", nil, malformed("<%s/> is not a decimal integer", name)
		}
	}
	if s[0] == '0' {
		return "", nil, malformed("<%s/> has a leading zero", name)
	}
	v, _ := new(big.Int).SetString(s, 10)
	return s, v, nil
}

// parsePrint reads a <print algo?/> value: Base64, or 64 hex digits
// (digest §8 #21).
func parsePrint(el *xmltree.Element) (Fingerprint, error) {
	if a := el.Attribute("algo"); a != "" && a != AlgoSHA256 {
		return Fingerprint{}, fmt.Errorf("%w: %q", ErrUnsupportedAlgo, truncate(a))
	}
	s, err := leaf(el, maxPrintLen)
	if err != nil {
		return Fingerprint{}, err
	}
	f, err := ParseFingerprint(s)
	if err != nil {
		return Fingerprint{}, fmt.Errorf("%w: <%s/>: %v", ErrMalformed, el.Name.Local, err)
	}
	return f, nil
}

// ParsePublicKey parses a <pubkey xmlns='urn:xmpp:pubkey:2'/> payload
// strictly: begin, end and jid once each, and either the v0.14 <rsakey/>
// (modulus, publicExponent, optional print) or the older <key/> (Base64
// DER SubjectPublicKeyInfo) with an optional <print/>; an optional <uri/>.
// Anything else, a modulus outside [MinBits, MaxBits] or a print that
// does not match the key (ErrPrintMismatch) is refused. It does not check
// validity dates or the JID: see Validate.
func ParsePublicKey(el *xmltree.Element) (*PublicKey, error) {
	if el == nil || el.Name.Space != NS || el.Name.Local != "pubkey" {
		return nil, malformed("not a <pubkey xmlns='%s'/>", NS)
	}
	c, err := children(el, NS, "begin", "end", "jid", "rsakey", "key", "print", "uri")
	if err != nil {
		return nil, err
	}
	k := &PublicKey{}
	for _, n := range []string{"begin", "end", "jid"} {
		if c[n] == nil {
			return nil, malformed("no <%s/>", n)
		}
	}
	if k.begin, err = leaf(c["begin"], maxDateLen); err != nil {
		return nil, err
	}
	if k.end, err = leaf(c["end"], maxDateLen); err != nil {
		return nil, err
	}
	if k.jid, err = leaf(c["jid"], maxJIDLen); err != nil {
		return nil, err
	}
	if k.Begin, err = ParseTime(k.begin); err != nil {
		return nil, err
	}
	if k.End, err = ParseTime(k.end); err != nil {
		return nil, err
	}
	if k.End.Before(k.Begin) {
		return nil, malformed("<end/> is before <begin/>")
	}
	k.JID = strings.TrimSpace(k.jid)
	if k.JID == "" {
		return nil, malformed("empty <jid/>")
	}
	if u := c["uri"]; u != nil {
		if k.URI, err = leaf(u, maxURILen); err != nil {
			return nil, err
		}
	}
	var print *xmltree.Element
	switch {
	case c["rsakey"] != nil && c["key"] == nil && c["print"] == nil:
		rc, err := children(c["rsakey"], NS, "modulus", "publicExponent", "print")
		if err != nil {
			return nil, err
		}
		if rc["modulus"] == nil || rc["publicExponent"] == nil {
			return nil, malformed("<rsakey/> needs <modulus/> and <publicExponent/>")
		}
		ms, err := leaf(rc["modulus"], maxModulusLen+maxModulusLen/8)
		if err != nil {
			return nil, err
		}
		es, err := leaf(rc["publicExponent"], maxExponentLen+16)
		if err != nil {
			return nil, err
		}
		_, n, err := decimal("modulus", ms, maxModulusLen)
		if err != nil {
			return nil, err
		}
		_, e, err := decimal("publicExponent", es, maxExponentLen)
		if err != nil {
			return nil, err
		}
		if !e.IsInt64() || e.Int64() > 1<<31-1 {
			return nil, fmt.Errorf("%w: public exponent too large", ErrWeakKey)
		}
		k.Key = &rsa.PublicKey{N: n, E: int(e.Int64())}
		print = rc["print"]
	case c["key"] != nil && c["rsakey"] == nil:
		s, err := leaf(c["key"], maxKeyB64Len+maxKeyB64Len/8)
		if err != nil {
			return nil, err
		}
		der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
		if err != nil {
			return nil, malformed("<key/> is not Base64")
		}
		pk, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			return nil, malformed("<key/> is not a SubjectPublicKeyInfo: %v", err)
		}
		rk, ok := pk.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%w: <key/> holds %T", ErrNotRSA, pk)
		}
		k.Key = rk
		print = c["print"]
	default:
		return nil, malformed("need exactly one of <rsakey/> and <key/>")
	}
	if err := CheckPublicKey(k.Key); err != nil {
		return nil, err
	}
	if print != nil {
		p, err := parsePrint(print)
		if err != nil {
			return nil, err
		}
		if got := k.Fingerprint(); !got.Equal(p) {
			return nil, fmt.Errorf("%w: payload says %s, computed %s", ErrPrintMismatch, p.Base64(), got.Base64())
		}
	}
	return k, nil
}
