package offline

import (
	"crypto"
	"testing"
)

// BenchmarkPrepare is Alice's cost of one option set (two groups: two
// exponentiations and one RSA signature).
func BenchmarkPrepare(b *testing.B) {
	a, _, _ := keys(b)
	clk := newClock()
	b.ReportAllocs()
	for b.Loop() {
		p, err := Prepare(PublishConfig{Set: SetSubscribers, Owner: aliceBare, Signers: []crypto.Signer{a}, Now: clk.now})
		if err != nil {
			b.Fatal(err)
		}
		p.Secrets.Erase()
	}
}

// BenchmarkStart is Bob's cost: verify the options, key exchange, sign,
// seal the first message.
func BenchmarkStart(b *testing.B) {
	p := newParty(b, SetSubscribers, "")
	b.ReportAllocs()
	for b.Loop() {
		s := p.start(b, true)
		if _, err := s.SealBody("hello"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReceiveInit is Alice's cost of one stored one-shot init:
// exponentiation, identity decryption, two RSA verifications, decryption.
func BenchmarkReceiveInit(b *testing.B) {
	p := newParty(b, SetSubscribers, "")
	var stanzas []string
	for range 64 {
		st, err := p.start(b, true).SealBody("hello")
		if err != nil {
			b.Fatal(err)
		}
		stanzas = append(stanzas, st.String())
	}
	r := p.receiver(b, nil)
	defer r.Close()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(stanzas) {
			b.StopTimer()
			r.Close()
			r = p.receiver(b, nil)
			i = 0
			b.StartTimer()
		}
		st := wire(b, mustParse(b, stanzas[i]))
		i++
		if _, err := r.Receive(st); err != nil {
			b.Fatal(err)
		}
	}
}
