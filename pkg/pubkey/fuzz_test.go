package pubkey

import (
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"
)

// FuzzParsePublicKey checks that parsing never panics, fails only with the
// package's errors, and that parse -> serialize -> parse is stable (same
// key, JID, dates and print).
func FuzzParsePublicKey(f *testing.F) {
	k := testKey(f)
	pk := NewPublicKey(&k.PublicKey, alice, t0, t1)
	spki, _ := pk.SPKIBase64()
	seeds := []string{
		pk.Element().String(),
		`<pubkey xmlns='urn:xmpp:pubkey:2'><begin>2024-01-01T00:00:00</begin><end>2034-01-01T00:00:00</end><jid>alice@example.org</jid><key>` + spki + `</key></pubkey>`,
		`<pubkey xmlns='urn:xmpp:pubkey:2'/>`,
		`<pubkey xmlns='urn:xmpp:pubkey:2'><begin>x</begin></pubkey>`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParsePublicKeyXML(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrWeakKey) && !errors.Is(err, ErrPrintMismatch) &&
				!errors.Is(err, ErrUnsupportedAlgo) && !errors.Is(err, ErrNotRSA) {
				t.Fatalf("error outside the package's classes: %v", err)
			}
			return
		}
		wire := got.Element().String()
		again, err := ParsePublicKeyXML([]byte(wire))
		if err != nil {
			t.Fatalf("re-parse of %s: %v", wire, err)
		}
		if !SameKey(got.Key, again.Key) || got.JID != again.JID || !got.Begin.Equal(again.Begin) ||
			!got.End.Equal(again.End) || !got.Fingerprint().Equal(again.Fingerprint()) {
			t.Fatalf("unstable round trip:\n%s", wire)
		}
		_ = Validate(got, alice, t0.Add(time.Hour), nil, nil)
	})
}

// FuzzParseRevocation: no panics, only package errors, stable round trip
// of the signed data.
func FuzzParseRevocation(f *testing.F) {
	k := testKey(f)
	pk := NewPublicKey(&k.PublicKey, alice, t0, t1)
	rv, err := NewRevocation(rand.Reader, pk, pk, k, t0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(rv.Element().String()))
	f.Add([]byte(`<revoke xmlns='urn:xmpp:pubkey:2'><key/></revoke>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseRevocationXML(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotRSA) && !errors.Is(err, ErrUnsupportedAlgo) {
				t.Fatalf("error outside the package's classes: %v", err)
			}
			return
		}
		if got.Signature == nil {
			return
		}
		again, err := ParseRevocationXML([]byte(got.Element().String()))
		if err != nil {
			t.Fatal(err)
		}
		if string(again.SignedData()) != string(got.SignedData()) {
			t.Fatal("round trip changed the signed data")
		}
		_ = got.Verify(pk)
	})
}

// BenchmarkSign and BenchmarkVerify measure rsa-sha256 over a 32-byte
// mac_X, the signing an ESession identity proof needs.
func BenchmarkSign(b *testing.B) {
	for _, bits := range []int{2048, 3072} {
		b.Run(fmt.Sprintf("bits=%d", bits), func(b *testing.B) {
			k, err := GenerateKey(rand.Reader, bits)
			if err != nil {
				b.Fatal(err)
			}
			msg := make([]byte, 32)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Sign(rand.Reader, k, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, bits := range []int{2048, 3072} {
		b.Run(fmt.Sprintf("bits=%d", bits), func(b *testing.B) {
			k, err := GenerateKey(rand.Reader, bits)
			if err != nil {
				b.Fatal(err)
			}
			msg := make([]byte, 32)
			sig, _ := Sign(rand.Reader, k, msg)
			b.ReportAllocs()
			for b.Loop() {
				if err := Verify(&k.PublicKey, msg, sig); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
