package pubkey

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"math/big"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/xmltree"
)

var (
	t0    = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	t1    = time.Date(2034, 1, 1, 0, 0, 0, 0, time.UTC)
	alice = "alice@example.org"
)

// testKey is the 2048-bit key made with
// `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`.
func testKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile("testdata/rsa2048-pkcs8.pem")
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParsePrivateKeyPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var (
	genOnce sync.Once
	genKey  *rsa.PrivateKey
)

// otherKey is a second key, generated once per test binary.
func otherKey(t testing.TB) *rsa.PrivateKey {
	genOnce.Do(func() {
		var err error
		if genKey, err = GenerateKey(rand.Reader, MinBits); err != nil {
			panic(err)
		}
	})
	return genKey
}

// TestPrintKnownAnswer checks the XEP-0189 §2 formula against a value
// computed outside Go (printf | openssl dgst -sha256 -binary | base64) and
// against the formula written out here.
func TestPrintKnownAnswer(t *testing.T) {
	k := testKey(t)
	modBytes, err := os.ReadFile("testdata/modulus.txt") // python3 int(openssl -modulus, 16)
	if err != nil {
		t.Fatal(err)
	}
	mod := strings.TrimSpace(string(modBytes))
	if k.N.String() != mod {
		t.Fatalf("modulus decimal differs from the independent one")
	}
	pk := NewPublicKey(&k.PublicKey, alice, t0, t1)
	const pinned = "Y8xP2wehRZOxioTC542cML9fpuUa5Zks9+V0bxrHEBs="
	sum := sha256.Sum256([]byte("2024-01-01T00:00:00Z" + "2034-01-01T00:00:00Z" + alice + mod + "65537"))
	independent := base64.StdEncoding.EncodeToString(sum[:])
	if independent != pinned {
		t.Fatalf("test data: formula gives %s, openssl gave %s", independent, pinned)
	}
	if got := pk.Fingerprint().Base64(); got != pinned {
		t.Fatalf("Fingerprint = %s, want %s", got, pinned)
	}
	// Every input matters.
	for _, other := range []*PublicKey{
		NewPublicKey(&k.PublicKey, "alice@example.com", t0, t1),
		NewPublicKey(&k.PublicKey, alice, t0.Add(time.Second), t1),
		NewPublicKey(&k.PublicKey, alice, t0, t1.Add(time.Second)),
		NewPublicKey(&rsa.PublicKey{N: k.N, E: 3}, alice, t0, t1),
	} {
		if other.Fingerprint().Equal(pk.Fingerprint()) {
			t.Errorf("print does not depend on an input: %+v", other)
		}
	}
}

func TestFingerprintForms(t *testing.T) {
	var f Fingerprint
	for i := range f {
		f[i] = byte(i * 7)
	}
	s := f.String()
	if len(strings.Fields(s)) != 16 || strings.ToUpper(s) != s {
		t.Fatalf("String() = %q, want 16 upper-case groups", s)
	}
	for _, in := range []string{f.Hex(), s, f.Base64(), strings.ToUpper(f.Hex()), "  " + f.Hex() + "\n",
		strings.ReplaceAll(s, " ", ":")} {
		g, err := ParseFingerprint(in)
		if err != nil || !g.Equal(f) {
			t.Errorf("ParseFingerprint(%q) = %v, %v", in, g, err)
		}
	}
	for _, in := range []string{"", "abcd", f.Hex()[:62], f.Hex() + "00", "zz" + f.Hex()[2:], strings.Repeat("a", 300)} {
		if _, err := ParseFingerprint(in); !errors.Is(err, ErrBadFingerprint) {
			t.Errorf("ParseFingerprint(%q) err = %v", in, err)
		}
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	k := testKey(t)
	pk := NewPublicKey(&k.PublicKey, alice, t0, t1)
	wire := pk.Element().String()
	for _, want := range []string{"<begin>2024-01-01T00:00:00Z</begin>", "<publicExponent>65537</publicExponent>",
		`algo="sha-256"`, "xmlns=\"urn:xmpp:pubkey:2\""} {
		if !strings.Contains(wire, want) {
			t.Errorf("payload lacks %q:\n%s", want, wire)
		}
	}
	got, err := ParsePublicKeyXML([]byte(wire))
	if err != nil {
		t.Fatal(err)
	}
	if !SameKey(got.Key, pk.Key) || got.JID != alice || !got.Begin.Equal(t0) || !got.End.Equal(t1) {
		t.Fatalf("round trip changed the key: %+v", got)
	}
	if !got.Fingerprint().Equal(pk.Fingerprint()) {
		t.Fatal("round trip changed the print")
	}
	if again := got.Element().String(); again != wire {
		t.Fatalf("re-serialization differs:\n%s\n%s", again, wire)
	}
}

// TestParseTolerant covers the input variations the digest says to accept.
func TestParseTolerant(t *testing.T) {
	k := testKey(t)
	mod := k.N.String()
	wrapped := mod[:100] + "\n   " + mod[100:300] + "\n" + mod[300:]
	noZone := ComputePrint("2024-01-01T00:00:00", "2034-01-01T00:00:00", alice, mod, "65537")
	pk := NewPublicKey(&k.PublicKey, alice, t0, t1)
	spki, _ := pk.SPKIBase64()
	tests := []struct{ name, in string }{
		{"wrapped modulus", `<pubkey xmlns='urn:xmpp:pubkey:2'><begin>2024-01-01T00:00:00Z</begin><end>2034-01-01T00:00:00Z</end><jid>alice@example.org</jid><rsakey><modulus>` + wrapped + `</modulus><publicExponent>65537</publicExponent><print>` + pk.Fingerprint().Base64() + `</print></rsakey></pubkey>`},
		{"hex print, no algo, whitespace", "<pubkey xmlns='urn:xmpp:pubkey:2'>\n <begin>2024-01-01T00:00:00Z</begin>\n <end>2034-01-01T00:00:00Z</end>\n <jid>alice@example.org</jid>\n <rsakey><modulus>" + mod + "</modulus><publicExponent>65537</publicExponent><print>" + pk.Fingerprint().Hex() + "</print></rsakey>\n</pubkey>"},
		{"no print", `<pubkey xmlns='urn:xmpp:pubkey:2'><begin>2024-01-01T00:00:00Z</begin><end>2034-01-01T00:00:00Z</end><jid>alice@example.org</jid><rsakey><modulus>` + mod + `</modulus><publicExponent>65537</publicExponent></rsakey></pubkey>`},
		{"old key body, zone-less dates", `<pubkey xmlns='urn:xmpp:pubkey:2'><begin>2024-01-01T00:00:00</begin><end>2034-01-01T00:00:00</end><jid>alice@example.org</jid><key>` + spki[:40] + "\n" + spki[40:] + `</key><print>` + noZone.Hex() + `</print></pubkey>`},
		{"uri ignored", `<pubkey xmlns='urn:xmpp:pubkey:2'><begin>2024-01-01T00:00:00Z</begin><end>2034-01-01T00:00:00Z</end><jid>alice@example.org</jid><rsakey><modulus>` + mod + `</modulus><publicExponent>65537</publicExponent></rsakey><uri>https://example.org/k</uri></pubkey>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePublicKeyXML([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !SameKey(got.Key, &k.PublicKey) || !got.Begin.Equal(t0) {
				t.Fatalf("parsed %+v", got)
			}
		})
	}
}

func TestParseStrict(t *testing.T) {
	k := testKey(t)
	mod := k.N.String()
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	ok := func(begin, end, jid, body string) string {
		return `<pubkey xmlns='urn:xmpp:pubkey:2'><begin>` + begin + `</begin><end>` + end + `</end><jid>` + jid + `</jid>` + body + `</pubkey>`
	}
	rsakey := func(m, e, extra string) string {
		return `<rsakey><modulus>` + m + `</modulus><publicExponent>` + e + `</publicExponent>` + extra + `</rsakey>`
	}
	d0, d1 := "2024-01-01T00:00:00Z", "2034-01-01T00:00:00Z"
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"wrong namespace", strings.Replace(ok(d0, d1, alice, rsakey(mod, "65537", "")), "pubkey:2", "pubkey:1", 1), ErrMalformed},
		{"wrong element", `<key xmlns='urn:xmpp:pubkey:2'/>`, ErrMalformed},
		{"no begin", `<pubkey xmlns='urn:xmpp:pubkey:2'><end>` + d1 + `</end><jid>a@b</jid>` + rsakey(mod, "65537", "") + `</pubkey>`, ErrMalformed},
		{"two jids", ok(d0, d1, alice+"</jid><jid>b@c", rsakey(mod, "65537", "")), ErrMalformed},
		{"unknown child", ok(d0, d1, alice, rsakey(mod, "65537", "")+"<extra/>"), ErrMalformed},
		{"foreign namespace child", ok(d0, d1, alice, rsakey(mod, "65537", "")+"<x xmlns='y'/>"), ErrMalformed},
		{"text between children", ok(d0, d1, alice, "junk"+rsakey(mod, "65537", "")), ErrMalformed},
		{"no key body", ok(d0, d1, alice, ""), ErrMalformed},
		{"two key bodies", ok(d0, d1, alice, rsakey(mod, "65537", "")+"<key>AAAA</key>"), ErrMalformed},
		{"bad date", ok("yesterday", d1, alice, rsakey(mod, "65537", "")), ErrMalformed},
		{"end before begin", ok(d1, d0, alice, rsakey(mod, "65537", "")), ErrMalformed},
		{"hex modulus", ok(d0, d1, alice, rsakey("abcdef", "65537", "")), ErrMalformed},
		{"leading zero", ok(d0, d1, alice, rsakey("0"+mod, "65537", "")), ErrMalformed},
		{"negative exponent", ok(d0, d1, alice, rsakey(mod, "-3", "")), ErrMalformed},
		{"huge exponent", ok(d0, d1, alice, rsakey(mod, "99999999999", "")), ErrMalformed},
		{"even exponent", ok(d0, d1, alice, rsakey(mod, "65536", "")), ErrWeakKey},
		{"1024-bit key", ok(d0, d1, alice, rsakey(small.N.String(), "65537", "")), ErrWeakKey},
		{"modulus too long", ok(d0, d1, alice, rsakey(strings.Repeat("9", 6000), "65537", "")), ErrMalformed},
		{"wrong print", ok(d0, d1, alice, rsakey(mod, "65537", "<print>"+base64.StdEncoding.EncodeToString(make([]byte, 32))+"</print>")), ErrPrintMismatch},
		{"print of the spec example", ok(d0, d1, alice, rsakey(mod, "65537", "<print>eWGdcl+AzN0treQoRry+/zYqYJ7ZEAzwIvTossTURLw=</print>")), ErrPrintMismatch},
		{"sha-1 print", ok(d0, d1, alice, rsakey(mod, "65537", "<print algo='sha-1'>AAAA</print>")), ErrUnsupportedAlgo},
		{"garbage print", ok(d0, d1, alice, rsakey(mod, "65537", "<print>!!</print>")), ErrMalformed},
		{"nested in leaf", ok(d0, d1, "<b>alice</b>", rsakey(mod, "65537", "")), ErrMalformed},
		{"empty jid", ok(d0, d1, " ", rsakey(mod, "65537", "")), ErrMalformed},
		{"key not base64", ok(d0, d1, alice, "<key>!!!</key>"), ErrMalformed},
		{"too large", ok(d0, d1, alice, rsakey(mod, "65537", "")+strings.Repeat("<!-- -->", 1)+"<uri>"+strings.Repeat("u", MaxPayloadBytes)+"</uri>"), ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePublicKeyXML([]byte(tc.in))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	k := testKey(t)
	pk := NewPublicKey(&k.PublicKey, alice, t0, t1)
	other := otherKey(t)
	otherPK := NewPublicKey(&other.PublicKey, alice, t0, t1)
	now := t0.Add(24 * time.Hour)
	selfRev, err := NewRevocation(rand.Reader, pk, pk, k, now)
	if err != nil {
		t.Fatal(err)
	}
	// A revocation "signed" by a key that is not the one it names as signer.
	forged, err := NewRevocation(rand.Reader, pk, otherPK, other, now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		owner   string
		now     time.Time
		revs    []*Revocation
		signers []*PublicKey
		want    error
	}{
		{"valid", alice, now, nil, nil, nil},
		{"owner case-insensitive domain", "alice@EXAMPLE.org", now, nil, nil, nil},
		{"other JID", "mallory@example.org", now, nil, nil, ErrJIDMismatch},
		{"full JID is another JID", alice + "/laptop", now, nil, nil, ErrJIDMismatch},
		{"not yet valid", alice, t0.Add(-time.Second), nil, nil, ErrNotYetValid},
		{"expired", alice, t1.Add(time.Second), nil, nil, ErrExpired},
		{"revoked by itself", alice, now, []*Revocation{selfRev}, nil, ErrRevoked},
		{"revocation by an unknown signer ignored", alice, now, []*Revocation{forged}, nil, nil},
		{"revocation by a known signer", alice, now, []*Revocation{forged}, []*PublicKey{otherPK}, ErrRevoked},
		{"revocation of another key ignored", alice, now, []*Revocation{selfRev}, nil, nil},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := pk
			if i == len(tests)-1 {
				key = otherPK
			}
			err := Validate(key, tc.owner, tc.now, tc.revs, tc.signers)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ke *KeyError
			if !errors.Is(err, tc.want) || !errors.As(err, &ke) || !ke.Fingerprint.Equal(key.Fingerprint()) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestRevocationSignature flips one bit in each signed input and in the
// signature: every variant must fail to verify, as must the wrong key.
func TestRevocationSignature(t *testing.T) {
	k := testKey(t)
	pk := NewPublicKey(&k.PublicKey, alice, t0, t1)
	rv, err := NewRevocation(rand.Reader, pk, pk, k, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	wire := rv.Element().String()
	got, err := ParseRevocationXML([]byte(wire))
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Verify(pk); err != nil {
		t.Fatalf("round trip: %v", err)
	}
	if !bytes.Equal(got.SignedData(), rv.SignedData()) || got.Element().String() != wire {
		t.Fatal("round trip changed the revocation")
	}
	if err := got.Verify(NewPublicKey(&otherKey(t).PublicKey, alice, t0, t1)); err == nil {
		t.Fatal("verified with the wrong key")
	}
	// Wrong key with the right print claim: force the print.
	if err := Verify(&otherKey(t).PublicKey, rv.SignedData(), rv.Signature); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("Verify with the wrong key: %v", err)
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		b[i] ^= 0x01
		return string(b)
	}
	type part struct {
		name string
		get  func(*Revocation) *string
	}
	parts := []part{
		{"key", func(r *Revocation) *string { return &r.keyText }},
		{"keyprint", func(r *Revocation) *string { return &r.keyPrintText }},
		{"revocationprint", func(r *Revocation) *string { return &r.revPrintText }},
		{"revocationtime", func(r *Revocation) *string { return &r.timeText }},
	}
	for _, p := range parts {
		s := *p.get(rv)
		for _, i := range []int{0, len(s) / 2, len(s) - 1} {
			c := *rv
			*p.get(&c) = flip(s, i)
			if err := Verify(pk.Key, c.SignedData(), c.Signature); !errors.Is(err, ErrBadSignature) {
				t.Errorf("%s bit %d flipped: %v", p.name, i, err)
			}
		}
	}
	for _, i := range []int{0, len(rv.Signature) / 2, len(rv.Signature) - 1} {
		sig := bytes.Clone(rv.Signature)
		sig[i] ^= 0x80
		if err := Verify(pk.Key, rv.SignedData(), sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("signature byte %d flipped: %v", i, err)
		}
	}
}

func TestParseRevocationVariants(t *testing.T) {
	k := testKey(t)
	pk := NewPublicKey(&k.PublicKey, alice, t0, t1)
	rv, _ := NewRevocation(rand.Reader, pk, pk, k, t0.Add(time.Hour))
	el := rv.Element()
	// Signature last (the spec's example) and the prose's <revoke/>.
	var sig *xmltree.Element
	var rest []xmltree.Node
	for _, n := range el.Nodes {
		if n.Element != nil && n.Element.Name.Local == "signature" {
			sig = n.Element
			continue
		}
		rest = append(rest, n)
	}
	el.Nodes = append(rest, xmltree.Node{Element: sig})
	el.Name.Local = "revoke"
	got, err := ParseRevocationXML([]byte(el.String()))
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Verify(pk); err != nil {
		t.Fatal(err)
	}
	// An OpenPGP-armoured signature is unverifiable: parsed, never valid.
	pgp := strings.Replace(rv.Element().String(), base64.StdEncoding.EncodeToString(rv.Signature), "-----BEGIN PGP SIGNATURE-----", 1)
	got, err = ParseRevocationXML([]byte(pgp))
	if err != nil {
		t.Fatal(err)
	}
	if got.Verify(pk) == nil {
		t.Fatal("unverifiable signature verified")
	}
	for _, bad := range []string{
		`<revocation xmlns='urn:xmpp:revoke:2'/>`,
		strings.Replace(rv.Element().String(), "<revocationtime>", "<extra/><revocationtime>", 1),
		`<revocation xmlns='urn:xmpp:other'/>`,
	} {
		if _, err := ParseRevocationXML([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseRevocationXML(%.60q) = %v", bad, err)
		}
	}
}

func TestGenerateKeySizes(t *testing.T) {
	for _, bits := range []int{1024, 2047, MaxBits + 1} {
		if _, err := GenerateKey(rand.Reader, bits); !errors.Is(err, ErrWeakKey) {
			t.Errorf("GenerateKey(%d) = %v", bits, err)
		}
	}
	if testing.Short() {
		return
	}
	k, err := GenerateKey(rand.Reader, 0)
	if err != nil {
		t.Fatal(err)
	}
	if k.N.BitLen() != DefaultBits || k.E != 65537 {
		t.Fatalf("default key: %d bits, e=%d", k.N.BitLen(), k.E)
	}
}

func TestCheckPublicKey(t *testing.T) {
	k := testKey(t)
	for _, tc := range []struct {
		pub  *rsa.PublicKey
		good bool
	}{
		{&k.PublicKey, true},
		{nil, false},
		{&rsa.PublicKey{N: k.N, E: 1}, false},
		{&rsa.PublicKey{N: k.N, E: 4}, false},
		{&rsa.PublicKey{N: new(big.Int).Rsh(k.N, 1100), E: 65537}, false},
	} {
		if err := CheckPublicKey(tc.pub); (err == nil) != tc.good {
			t.Errorf("CheckPublicKey(%v) = %v", tc.pub, err)
		}
	}
}
