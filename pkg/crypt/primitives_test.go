package crypt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"
)

// The SHA-256 of I2B(p) for each group, from esession-core.md §3.1.
var modpFingerprints = map[int]string{
	1:  "b52ba6a3026520a6c49d37e4587601801bee500123b3259b6bf03e7cecc3e63d",
	2:  "3f35a3f5f6c4376a744acad409bb22f8d897f949d2311d885adaa890981b67a0",
	5:  "64fcc83ec403930bf18393dbc883ccaa1fbb08ac876f77f7aa99748ca945019b",
	14: "d66436f79bbd6b2e38c0ffbd079be904d2641415e2e67140e09448be9a60890e",
	15: "48cf8b092fbce4359d9871abf74f98e25b6163379eaa15cd9087e800c6d1c55c",
	16: "4ee95187682bcb230ad26a95205f6920e84708f6251b3894329b09ec23919e33",
	17: "d1bfe6d0925ce7e4da262b62861514a7755e35831e429f343e7b864848657efd",
	18: "39ab4feab950a3128fb71accb9fc3965d857012e081998a85996e3ea8b3c3bcf",
}

func TestMODPGroups(t *testing.T) {
	data, err := os.ReadFile("testdata/vectors/modp-primes.json")
	if err != nil {
		t.Fatal(err)
	}
	var primes map[string]string
	if err := json.Unmarshal(data, &primes); err != nil {
		t.Fatal(err)
	}
	bits := map[int]int{1: 768, 2: 1024, 5: 1536, 14: 2048, 15: 3072, 16: 4096, 17: 6144, 18: 8192}
	if len(GroupIDs()) != len(modpFingerprints) {
		t.Fatalf("%d groups, want %d", len(GroupIDs()), len(modpFingerprints))
	}
	for _, id := range GroupIDs() {
		t.Run(fmt.Sprint(id), func(t *testing.T) {
			t.Parallel()
			g := mustGroup(t, id)
			p := g.P()
			sum := sha256.Sum256(I2B(p))
			if got := hex.EncodeToString(sum[:]); got != modpFingerprints[id] {
				t.Errorf("SHA-256(I2B(p)) = %s, want %s", got, modpFingerprints[id])
			}
			want, ok := new(big.Int).SetString(strings.TrimPrefix(primes[fmt.Sprint(id)], "0x"), 16)
			if !ok || want.Cmp(p) != 0 {
				t.Error("prime differs from modp-primes.json")
			}
			if g.Bits() != bits[id] || g.ByteLen() != bits[id]/8 {
				t.Errorf("bits %d, bytes %d", g.Bits(), g.ByteLen())
			}
			if testing.Short() && id > 16 {
				t.Skip("primality of the largest groups is slow")
			}
			q := new(big.Int).Rsh(p, 1)
			if !p.ProbablyPrime(0) || !q.ProbablyPrime(0) {
				t.Error("p or (p-1)/2 is not prime")
			}
			// g = 2 generates the order-q subgroup: p ≡ 7 (mod 8).
			if new(big.Int).Mod(p, big.NewInt(8)).Int64() != 7 {
				t.Error("p mod 8 != 7")
			}
			if g.Generator().Int64() != 2 {
				t.Error("generator is not 2")
			}
		})
	}
}

func TestGroupSelection(t *testing.T) {
	for _, tc := range []struct {
		value string
		min   int
		want  error
	}{
		{"14", 0, nil}, {"18", 0, nil}, {"5", 0, ErrWeakGroup}, {"2", 0, ErrWeakGroup},
		{"5", 5, nil}, {"1", 1, nil}, {"2", 5, ErrWeakGroup},
		{"3", 1, ErrUnsupported}, {"4", 1, ErrUnsupported}, {"99", 0, ErrUnsupported},
		{"abc", 0, ErrUnsupported}, {"014", 0, ErrUnsupported}, {"-14", 0, ErrUnsupported}, {"", 0, ErrUnsupported},
	} {
		g, err := ParseGroup(tc.value, tc.min)
		if !errors.Is(err, tc.want) || (err == nil && fmt.Sprint(g.ID()) != tc.value) {
			t.Errorf("ParseGroup(%q, %d) = %v, %v; want %v", tc.value, tc.min, g, err, tc.want)
		}
	}
	var ue *UnsupportedError
	if _, err := GroupByID(3); !errors.As(err, &ue) || ue.Kind != "modp" || !strings.Contains(err.Error(), `"3"`) {
		t.Errorf("GroupByID(3) = %v", err)
	}
	if got := fmt.Sprint(OfferableGroups(0)); got != "[14 15 16 17 18]" {
		t.Errorf("OfferableGroups(0) = %s", got)
	}
	if got := fmt.Sprint(OfferableGroups(5)); got != "[5 14 15 16 17 18]" {
		t.Errorf("OfferableGroups(5) = %s", got)
	}
}

// T-N20: every out-of-range DH value is ErrDHRange.
func TestDHValidation(t *testing.T) {
	g := mustGroup(t, 14)
	p := g.P()
	one := big.NewInt(1)
	for _, tc := range []struct {
		name string
		v    *big.Int
		ok   bool
	}{
		{"0", big.NewInt(0), false},
		{"1", big.NewInt(1), false},
		{"2", big.NewInt(2), true},
		{"p-2", new(big.Int).Sub(p, big.NewInt(2)), true},
		{"p-1", new(big.Int).Sub(p, one), false},
		{"p", p, false},
		{"p+1", new(big.Int).Add(p, one), false},
		{"more bytes than p", new(big.Int).Lsh(one, uint(g.Bits()+8)), false},
		{"negative", big.NewInt(-5), false},
		{"nil", nil, false},
	} {
		err := g.Validate(tc.v)
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrDHRange)) {
			t.Errorf("Validate(%s) = %v", tc.name, err)
		}
		if tc.v == nil || tc.v.Sign() < 0 {
			continue
		}
		// The same through the wire decoder.
		_, err = g.ParsePublic("dhkeys", EncodeBase64(I2B(tc.v)))
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrDHRange)) {
			t.Errorf("ParsePublic(%s) = %v", tc.name, err)
		}
		// And in a key exchange.
		priv, _ := g.GenerateKey(nil, ShortExponent)
		if _, err := priv.SharedSecret(tc.v); tc.ok != (err == nil) {
			t.Errorf("SharedSecret(%s) = %v", tc.name, err)
		}
	}
	if _, err := g.ParsePublic("dhkeys", strings.Repeat("A", 1<<20)); !errors.Is(err, ErrDHRange) {
		t.Errorf("a megabyte of Base64: %v", err)
	}
	if _, err := g.ParsePublic("dhkeys", "not base64!"); !errors.Is(err, ErrMalformed) {
		t.Errorf("garbage: %v", err)
	}
	// Optional subgroup check: p-2 = -2 is a non-residue (p ≡ 7 mod 8).
	if err := g.ValidateSubgroup(new(big.Int).Sub(p, big.NewInt(2))); !errors.Is(err, ErrDHRange) {
		t.Errorf("ValidateSubgroup(p-2) = %v", err)
	}
	if err := g.ValidateSubgroup(big.NewInt(4)); err != nil {
		t.Errorf("ValidateSubgroup(4) = %v", err)
	}
}

func TestDHKeyGeneration(t *testing.T) {
	lo := new(big.Int).Lsh(big.NewInt(1), minExponentBits)
	for _, id := range []int{5, 14, 15} {
		g := mustGroup(t, id)
		pm1 := new(big.Int).Sub(g.P(), big.NewInt(1))
		for _, mode := range []ExponentMode{ShortExponent, FullExponent} {
			seen := map[string]bool{}
			for range 8 {
				a, err := g.GenerateKey(nil, mode)
				if err != nil {
					t.Fatal(err)
				}
				b, err := g.GenerateKey(nil, mode)
				if err != nil {
					t.Fatal(err)
				}
				for _, k := range []*PrivateKey{a, b} {
					if k.x.Cmp(lo) <= 0 || k.x.Cmp(pm1) >= 0 {
						t.Fatalf("group %d %v: exponent out of range", id, mode)
					}
					if mode == ShortExponent && k.x.BitLen() > g.ExponentBits(mode) {
						t.Fatalf("group %d: short exponent of %d bits", id, k.x.BitLen())
					}
					if err := g.Validate(k.Public()); err != nil {
						t.Fatal(err)
					}
					if seen[k.Public().String()] {
						t.Fatal("repeated public value")
					}
					seen[k.Public().String()] = true
				}
				za, err := a.SharedSecret(b.Public())
				if err != nil {
					t.Fatal(err)
				}
				zb, err := b.SharedSecret(a.Public())
				if err != nil {
					t.Fatal(err)
				}
				if !za.Equal(zb) {
					t.Fatal("shared secrets differ")
				}
			}
		}
	}
	g := mustGroup(t, 14)
	if g.ExponentBits(ShortExponent) != 512 || g.ExponentBits(FullExponent) != 2048 || mustGroup(t, 18).ExponentBits(ShortExponent) != 620 {
		t.Error("exponent sizes")
	}
	for _, x := range []*big.Int{lo, new(big.Int).Sub(g.P(), big.NewInt(1)), big.NewInt(3)} {
		if _, err := g.NewPrivateKey(x); !errors.Is(err, ErrDHRange) {
			t.Errorf("NewPrivateKey(%v bits) = %v", x.BitLen(), err)
		}
	}
	k, _ := g.GenerateKey(nil, ShortExponent)
	k.Erase()
	if _, err := k.SharedSecret(big.NewInt(2)); !errors.Is(err, ErrClosed) {
		t.Errorf("after Erase: %v", err)
	}
}

func TestKeyPool(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	g := mustGroup(t, 14)
	pool := NewKeyPool(ctx, g, ShortExponent, 2, nil)
	seen := map[string]bool{}
	for range 4 {
		k, err := pool.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if seen[k.Public().String()] {
			t.Fatal("pool handed out a key pair twice")
		}
		seen[k.Public().String()] = true
	}
	cancel()
	select {
	case <-pool.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("pool goroutine did not stop")
	}
	if _, err := pool.Get(context.Background()); err != nil {
		t.Errorf("Get after stop: %v", err)
	}
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	empty := &KeyPool{g: g, ch: make(chan *PrivateKey), done: make(chan struct{})}
	if _, err := empty.Get(done); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a cancelled context: %v", err)
	}
}

func TestCounters(t *testing.T) {
	r := newDetReader("counters")
	for range 2000 {
		c, err := GenerateCounter(r)
		if err != nil {
			t.Fatal(err)
		}
		top := c.Fixed()[0]
		if top == 0 || top == 0x7f || top == 0x80 || top == 0xff {
			t.Fatalf("top octet %#x", top)
		}
		if len(c.Bytes()) != 16 || len(c.Peer().Bytes()) != 16 || len(c.Add(1<<40).Bytes()) != 16 {
			t.Fatal("counter not 16 octets under minimal I2B")
		}
		if c.Peer().Peer() != c || c.Peer() == c {
			t.Fatal("Peer")
		}
	}
	max := Counter{hi: ^uint64(0), lo: ^uint64(0)}
	if max.Add(1) != (Counter{}) || max.Add(3) != (Counter{lo: 2}) {
		t.Error("Add does not wrap mod 2^128")
	}
	if (Counter{lo: ^uint64(0)}).Add(1) != (Counter{hi: 1}) {
		t.Error("carry")
	}
	if got := (Counter{}).Bytes(); !bytes.Equal(got, []byte{0}) {
		t.Errorf("I2B(0) = %x", got)
	}
	if got := (Counter{lo: 1}).AppendPadded16(nil); len(got) != 16 || got[15] != 1 {
		t.Errorf("padded = %x", got)
	}
	for _, n := range []int{0, 17} {
		if _, err := CounterFromBytes(make([]byte, n)); !errors.Is(err, ErrMalformed) {
			t.Errorf("CounterFromBytes(%d octets) = %v", n, err)
		}
	}
	c, err := ParseCounter("PCNzO9YTTzb9/Gt8HbfH8A==")
	if err != nil || c.String() != "3c23733bd6134f36fdfc6b7c1db7c7f0" {
		t.Errorf("ParseCounter = %s, %v", c, err)
	}
	if c, err := ParseCounter("AQ=="); err != nil || c != (Counter{lo: 1}) {
		t.Errorf("1-octet counter: %s %v", c, err)
	}
}

func TestDecodeBase64(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want error
	}{
		{"AQID", 3, nil},
		{"AQI=", 3, nil},
		{"", 3, nil},
		{"AQID", 2, ErrTooLarge},
		{"AQ", 3, ErrMalformed},
		{"AR==", 3, ErrMalformed},
		{"AQ=\n", 3, ErrMalformed},
		{"AQ\nI", 3, ErrMalformed},
		{"A*ID", 3, ErrMalformed},
		{"AQ==AQ==", 9, ErrMalformed},
		{strings.Repeat("AAAA", 100), 10, ErrTooLarge},
		{strings.Repeat("A", 401), 10, ErrTooLarge},
	} {
		_, err := DecodeBase64("f", tc.in, tc.max)
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("DecodeBase64(%q, %d) = %v, want %v", tc.in, tc.max, err, tc.want)
		}
	}
	if _, err := DecodeInteger("f", "", 4); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty integer: %v", err)
	}
	// The fast encoder agrees with encoding/base64 at every length.
	src := make([]byte, 100)
	newDetReader("b64").Read(src)
	for n := range src {
		if got, want := string(appendBase64([]byte("x"), src[:n])), "x"+EncodeBase64(src[:n]); got != want {
			t.Fatalf("appendBase64(%d bytes) = %s, want %s", n, got, want)
		}
	}
}

func TestNonces(t *testing.T) {
	r := newDetReader("nonce")
	for range 500 {
		n, err := GenerateNonce(r)
		if err != nil || len(n) != NonceSize || n[0] == 0 || CheckNonce(n) != nil {
			t.Fatalf("nonce %x %v", n, err)
		}
	}
	for _, n := range []int{0, 7, 65} {
		if err := CheckNonce(make([]byte, n)); !errors.Is(err, ErrMalformed) {
			t.Errorf("CheckNonce(%d octets) = %v", n, err)
		}
	}
}

func TestSASPadding(t *testing.T) {
	for _, tc := range []struct {
		v      uint32
		pad    bool
		expect string
	}{{0, true, "aaaaa"}, {1, false, "c"}, {0, false, "a"}, {28, false, "ca"}, {16777215, false, "9kiui"}} {
		if got := sas28(tc.v, tc.pad); got != tc.expect {
			t.Errorf("sas28(%d, %v) = %q, want %q", tc.v, tc.pad, got, tc.expect)
		}
	}
}

func TestSuites(t *testing.T) {
	for _, c := range Ciphers() {
		if c == CipherNone {
			t.Error("Ciphers offers none")
		}
		if _, err := XEPSuite().WithAlgorithms(c, "sha256"); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
	for _, tc := range []struct{ c, h string }{
		{"serpent128-ctr", "sha256"}, {"rc4", "sha256"}, {"aes128-ctr", "sha1"},
		{"aes128-ctr", "md5"}, {"aes128-ctr", "whirlpool"},
	} {
		_, err := XEPSuite().WithAlgorithms(tc.c, tc.h)
		var ue *UnsupportedError
		if !errors.As(err, &ue) || !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s/%s: %v", tc.c, tc.h, err)
		}
	}
	s := XEPSuite()
	s.CipherKeyLen = 40
	if err := s.Validate(); !errors.Is(err, ErrKeySize) {
		t.Errorf("key longer than the hash: %v", err)
	}
	s = XEPSuite()
	s.CipherKeyLen = 32 // Gajim: the whole HMAC output keys AES
	if err := s.Validate(); err != nil {
		t.Errorf("aes128-ctr with 32-byte keys: %v", err)
	}
	s.CipherKeyLen = 20
	if err := s.Validate(); !errors.Is(err, ErrKeySize) {
		t.Errorf("20-byte AES key: %v", err)
	}
	x := XEPSuite()
	if !x.isClear("", "thread") || !x.isClear("urn:xmpp:hints", "store") || x.isClear(NSClient, "body") {
		t.Error("clear-text list")
	}
}

// Keys never reach fmt or slog output (style.md §13).
func TestKeyRedaction(t *testing.T) {
	raw := []byte("SECRETKEYMATERIAL-0123456789abcd")
	k := NewKey(raw)
	g := mustGroup(t, 14)
	priv, _ := g.NewPrivateKey(new(big.Int).SetBytes(append([]byte{0x7f}, raw...)))
	dk := DirectionKeys{Cipher: k, MAC: k, SIGMA: k}
	var logBuf bytes.Buffer
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("keys", "k", k, "priv", priv)
	forbidden := []string{string(raw), hex.EncodeToString(raw), fmt.Sprint(raw), priv.x.String(), priv.x.Text(16)}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		for _, v := range []any{k, &k, priv, dk, []Key{k}, struct{ K Key }{k}} {
			out := fmt.Sprintf(verb, v)
			for _, f := range forbidden {
				if strings.Contains(out, f) {
					t.Errorf("%s of %T leaks the key: %s", verb, v, out)
				}
			}
		}
	}
	for _, f := range forbidden {
		if strings.Contains(logBuf.String(), f) {
			t.Errorf("slog leaks the key: %s", logBuf.String())
		}
	}
	if !strings.Contains(fmt.Sprint(k), "REDACTED") {
		t.Error("no redaction marker")
	}
	k.Erase()
	if !bytes.Equal(k.MarshalPrivate(), make([]byte, len(raw))) {
		t.Error("Erase did not clear")
	}
}

func TestValidText(t *testing.T) {
	long := strings.Repeat("abcdefgh", 5)
	for _, tc := range []struct {
		s  string
		ok bool
	}{
		{"", true}, {"plain", true}, {long, true}, {"tab\tlf\ncr\r", true},
		{long + "\x00", false}, {"\x01" + long, false}, {long[:20] + "\x1f" + long, false},
		{long + "ü" + long, true}, {long + "\xff" + long, false}, {long + "\ufffe", false},
		{long + "\uffff" + long, false}, {"😀" + long, true}, {long + "\x7f", true},
	} {
		if got := validText(tc.s); got != tc.ok {
			t.Errorf("validText(%q) = %v, want %v", tc.s, got, tc.ok)
		}
	}
}
