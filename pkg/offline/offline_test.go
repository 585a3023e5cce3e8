package offline

import (
	"crypto"
	"crypto/rsa"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/xmltree"
)

func TestPrepareForm(t *testing.T) {
	p := newParty(t, SetSubscribers, "pda")
	f, err := esn.ParseForm(p.pub.Form, esn.FormLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Type != esn.FormTypeForm || f.FormType() != esn.NSSSN {
		t.Fatalf("form type %q / %q", f.Type, f.FormType())
	}
	// O-02: no accept and no public-key method fields; 3-message style.
	for _, absent := range []string{"accept", "pubkey", "init_pubkey", "resp_pubkey", "dhhashes", "sas_algs"} {
		if f.Field(absent) != nil {
			t.Errorf("the options carry %q", absent)
		}
	}
	for _, present := range []string{"logging", "disclosure", "security", "modp", "crypt_algs", "hash_algs",
		"sign_algs", "compress", "stanzas", "ver", "rekey_freq", "expires", "my_nonce", "dhkeys", "match_resource", "signs"} {
		if f.Field(present) == nil {
			t.Errorf("the options lack %q", present)
		}
	}
	if got := f.Field("stanzas").OptionValues(); len(got) != 1 || got[0] != "message" {
		t.Errorf("stanzas %v (O-03, O-07)", got)
	}
	if got := f.Field("dhkeys").Values; len(got) != len(f.Field("modp").Options) {
		t.Errorf("%d dhkeys for %d groups (E-02)", len(got), len(f.Field("modp").Options))
	}
	if v, _ := f.Value("expires"); v != "2026-07-03T10:00:00Z" {
		t.Errorf("expires %q, want the default lifetime", v)
	}
	if f.Fields[len(f.Fields)-1].Var != "signs" {
		t.Error("signs is not the last field")
	}
	if s := p.pub.Secrets; s.Set != SetSubscribers || s.MatchResource != "pda" || len(s.Groups()) != 2 || s.ID != setID(s.Nonce()) {
		t.Errorf("secrets %+v", s.Groups())
	}
}

func TestPrepareRefuses(t *testing.T) {
	a, _, _ := keys(t)
	clk := newClock()
	base := func() PublishConfig {
		return PublishConfig{Set: SetAll, Owner: aliceBare, Signers: []crypto.Signer{a}, Now: clk.now}
	}
	tests := []struct {
		name string
		mod  func(*PublishConfig)
		want string
	}{
		{"no signer", func(c *PublishConfig) { c.Signers = nil }, "identity key"},
		{"past expiry", func(c *PublishConfig) { c.Expires = clk.now().Add(-time.Hour) }, "not in the future"},
		{"far expiry", func(c *PublishConfig) { c.Expires = clk.now().Add(MaxLifetime + time.Hour) }, "more than"},
		{"full JID owner", func(c *PublishConfig) { c.Owner = aliceFull }, "bare JID"},
		{"weak group", func(c *PublishConfig) { c.Groups = []int{2} }, "minimum"},
		{"duplicate group", func(c *PublishConfig) { c.Groups = []int{14, 14} }, "twice"},
		{"cipher none", func(c *PublishConfig) { c.Ciphers = []string{"none"} }, "cannot be offered"},
		{"no set", func(c *PublishConfig) { c.Set = 0 }, "unknown option set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mod(&c)
			_, err := Prepare(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// tamper returns a copy of the published form with one field value changed.
func tamper(t *testing.T, x *xmltree.Element, field, value string) *xmltree.Element {
	t.Helper()
	c := wire(t, x)
	for _, fl := range c.Children() {
		if fl.Attribute("var") == field {
			for _, v := range fl.Children() {
				if v.Name.Local == "value" {
					v.Nodes = []xmltree.Node{{Text: value}}
					return c
				}
			}
		}
	}
	t.Fatalf("no field %q", field)
	return nil
}

func TestVerify(t *testing.T) {
	a, b, m := keys(t)
	p := newParty(t, SetAll, "")
	tests := []struct {
		name       string
		form       *xmltree.Element
		ring       *ring
		candidates []*rsa.PublicKey
		wantErr    error
		checked    int
	}{
		{"trusted signer", p.pub.Form, newRing().trust(aliceBare, &a.PublicKey), nil, nil, 0},
		{"tampered expiry", tamper(t, p.pub.Form, "expires", "2099-01-01T00:00:00Z"), newRing().trust(aliceBare, &a.PublicKey), nil, ErrBadSignature, 0},
		{"tampered dhkeys", tamper(t, p.pub.Form, "dhkeys", "AAEC"), newRing().trust(aliceBare, &a.PublicKey), nil, ErrBadSignature, 0},
		{"wrong trusted key", p.pub.Form, newRing().trust(aliceBare, &m.PublicKey), nil, ErrBadSignature, 0},
		{"key trusted for another JID", p.pub.Form, newRing().trust(bobBare, &a.PublicKey), nil, esn.ErrUntrustedKey, 0},
		{"no key at all", p.pub.Form, newRing(), nil, esn.ErrUntrustedKey, 0},
		{"candidate refused (no silent trust)", p.pub.Form, newRing(), []*rsa.PublicKey{&b.PublicKey, &a.PublicKey}, esn.ErrUntrustedKey, 1},
		{"candidate trusted on first use", p.pub.Form, &ring{trusted: map[string][]*rsa.PublicKey{}, tofu: true}, []*rsa.PublicKey{&a.PublicKey}, nil, 1},
		{"candidate that did not sign", p.pub.Form, &ring{trusted: map[string][]*rsa.PublicKey{}, tofu: true}, []*rsa.PublicKey{&m.PublicKey}, esn.ErrUntrustedKey, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseOptions(wire(t, tc.form), SetAll, aliceBare)
			if err != nil {
				t.Fatal(err)
			}
			err = o.Verify(tc.ring, tc.candidates...)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.wantErr)
			}
			if tc.checked != tc.ring.checked {
				t.Errorf("CheckKey called %d times, want %d", tc.ring.checked, tc.checked)
			}
			if err != nil {
				if o.Signer() != nil {
					t.Error("a signer is set after a failed verification")
				}
				if _, serr := Start(o, SendConfig{Local: bobFull, Signer: b}); serr == nil {
					t.Error("Start accepted unverified options")
				}
			}
		})
	}
}

func TestParseOptionsRejects(t *testing.T) {
	p := newParty(t, SetSubscribers, "pda")
	tests := []struct {
		name  string
		edit  func(*xmltree.Element)
		field string
	}{
		{"no signs", func(x *xmltree.Element) { dropField(x, "signs") }, "signs"},
		{"no expires", func(x *xmltree.Element) { dropField(x, "expires") }, "expires"},
		{"bad expires", func(x *xmltree.Element) { setValue(x, "expires", "tomorrow") }, "expires"},
		{"no nonce", func(x *xmltree.Element) { dropField(x, "my_nonce") }, "my_nonce"},
		{"dhkeys count", func(x *xmltree.Element) { dropField(x, "dhkeys") }, "dhkeys"},
		{"bad modp", func(x *xmltree.Element) { setOption(x, "modp", "fourteen") }, "modp"},
		{"iq offered", func(x *xmltree.Element) { setOption(x, "stanzas", "iq") }, "stanzas"},
		{"bad match_resource", func(x *xmltree.Element) { setValue(x, "match_resource", "a/b") }, "match_resource"},
		{"signs not base64", func(x *xmltree.Element) { setValue(x, "signs", "@@@") }, "signs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := wire(t, p.pub.Form)
			tc.edit(x)
			_, err := ParseOptions(x, SetSubscribers, aliceBare)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want a malformed %q", err, tc.field)
			}
		})
	}
	if _, err := ParseOptions(xmltree.New("urn:other", "x"), SetAll, aliceBare); !errors.Is(err, ErrMalformed) {
		t.Errorf("foreign element: %v", err)
	}
}

func dropField(x *xmltree.Element, v string) {
	kept := x.Nodes[:0]
	for _, n := range x.Nodes {
		if n.Element != nil && n.Element.Attribute("var") == v {
			continue
		}
		kept = append(kept, n)
	}
	x.Nodes = kept
}

func field(x *xmltree.Element, v string) *xmltree.Element {
	for _, c := range x.Children() {
		if c.Attribute("var") == v {
			return c
		}
	}
	return nil
}

func setValue(x *xmltree.Element, v, val string) {
	f := field(x, v)
	f.Nodes = []xmltree.Node{{Element: xmltree.New(esn.NSData, "value").AddText(val)}}
}

func setOption(x *xmltree.Element, v, val string) {
	f := field(x, v)
	f.AddChild(xmltree.New(esn.NSData, "option").AddChild(xmltree.New(esn.NSData, "value").AddText(val)))
}

// The whole exchange in memory: Alice publishes and goes offline, Bob
// sends an init with a message, a second message and a termination; the
// server stores them with delay stamps; Alice comes back and decrypts.
func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name          string
		set           Set
		matchResource string
	}{
		{"subscribers", SetSubscribers, ""},
		{"all entities with match_resource", SetAll, "pda"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newParty(t, tc.set, tc.matchResource)
			bob := p.start(t, false)
			wantTo := aliceBare
			if tc.matchResource != "" {
				wantTo = aliceFull
			}
			if bob.To() != wantTo {
				t.Errorf("To = %q, want %q", bob.To(), wantTo)
			}
			var wireStanzas []*xmltree.Element
			for i, body := range []string{"first while you were away", "second <&> one"} {
				st, err := bob.SealBody(body)
				if err != nil {
					t.Fatal(err)
				}
				s := st.String()
				if strings.Contains(s, "while you were away") || strings.Contains(s, "second") {
					t.Fatalf("plaintext on the wire: %s", s)
				}
				if (i == 0) != strings.Contains(s, NSInit) {
					t.Errorf("stanza %d: <init/> present = %v", i, strings.Contains(s, NSInit))
				}
				if hasAMP := st.Child(esn.NSAMP, "amp") != nil; hasAMP != (tc.matchResource != "") {
					t.Errorf("amp present = %v", hasAMP)
				}
				if strings.Contains(s, "per-hop") {
					t.Error("per-hop on an AMP match-resource rule (#36)")
				}
				p.clk.advance(time.Minute)
				wireStanzas = append(wireStanzas, stored(wire(t, st), p.clk.now()))
			}
			term, err := bob.Terminate()
			if err != nil || term == nil {
				t.Fatalf("Terminate = %v, %v", term, err)
			}
			if _, err := bob.SealBody("after the end"); !errors.Is(err, ErrEnded) {
				t.Errorf("Seal after Terminate: %v", err)
			}
			wireStanzas = append(wireStanzas, wire(t, term))

			p.clk.advance(time.Hour)
			r := p.receiver(t, nil)
			defer r.Close()
			var evs []Event
			for _, st := range wireStanzas {
				e, err := r.Receive(st)
				if err != nil {
					t.Fatalf("Receive: %v", err)
				}
				evs = append(evs, e...)
			}
			if _, ok := evs[0].(EstablishedEvent); !ok {
				t.Fatalf("first event %#v", evs[0])
			}
			msgs := messages(evs)
			if len(msgs) != 2 || msgs[0].Body != "first while you were away" || msgs[1].Body != "second <&> one" {
				t.Fatalf("messages %v", describe(evs))
			}
			for i, m := range msgs {
				if m.Peer != bobFull || m.Thread != bob.Thread() || m.Key == nil || m.Set != tc.set {
					t.Errorf("message %d: %+v", i, m)
				}
				if m.Delay.IsZero() || m.Created.IsZero() || !m.Created.Before(m.Delay) {
					t.Errorf("message %d: created %v, delay %v", i, m.Created, m.Delay)
				}
			}
			if end, ok := evs[len(evs)-1].(EndedEvent); !ok || !end.ByPeer || end.Err != nil {
				t.Errorf("last event %#v", evs[len(evs)-1])
			}
			if n := len(r.Sessions()); n != 0 {
				t.Errorf("%d sessions open after Bob's termination", n)
			}
		})
	}
}

func TestOneShot(t *testing.T) {
	p := newParty(t, SetSubscribers, "")
	bob := p.start(t, true)
	st, err := bob.SealBody("only this")
	if err != nil {
		t.Fatal(err)
	}
	if !bob.Ended() {
		t.Error("a one-shot session is still open after its stanza")
	}
	if term, err := bob.Terminate(); term != nil || err != nil {
		t.Errorf("Terminate of a one-shot session = %v, %v", term, err)
	}
	r := p.receiver(t, nil)
	evs, err := r.Receive(wire(t, st))
	if err != nil {
		t.Fatal(err)
	}
	if m := messages(evs); len(m) != 1 || m[0].Body != "only this" {
		t.Fatalf("events %s", describe(evs))
	}
	est := evs[0].(EstablishedEvent)
	if !est.OneShot || est.Params.Cipher != "aes256-ctr" || est.Params.Group != 15 || est.Params.Logging != "mustnot" {
		t.Errorf("established %+v", est)
	}
	if end, ok := evs[len(evs)-1].(EndedEvent); !ok || !end.ByPeer {
		t.Errorf("no end after a one-shot stanza: %s", describe(evs))
	}
}

func TestAliceTerminates(t *testing.T) {
	p := newParty(t, SetSubscribers, "")
	bob := p.start(t, false)
	st, _ := bob.SealBody("hello")
	r := p.receiver(t, nil)
	if _, err := r.Receive(wire(t, st)); err != nil {
		t.Fatal(err)
	}
	if s := r.Sessions(); len(s) != 1 || s[0].Peer != bobFull {
		t.Fatalf("sessions %v", s)
	}
	term, err := r.Terminate(bobFull, bob.Thread())
	if err != nil {
		t.Fatal(err)
	}
	if term.Attribute("to") != bobFull || term.ChildText("", "thread") != bob.Thread() || term.Child("", "body") != nil {
		t.Errorf("termination stanza %s", term)
	}
	term = wire(t, term)
	term.SetAttr("from", aliceFull)
	ended, err := bob.Receive(term)
	if err != nil || !ended || !bob.Ended() {
		t.Fatalf("Bob's Receive = %v, %v", ended, err)
	}
	if _, err := r.Terminate(bobFull, bob.Thread()); err == nil {
		t.Error("a second Terminate succeeded")
	}
}

func TestBobRejectsContentFromAlice(t *testing.T) {
	p := newParty(t, SetSubscribers, "")
	bob := p.start(t, false)
	st, _ := bob.SealBody("hello")
	if _, err := p.receiver(t, nil).Receive(wire(t, st)); err != nil {
		t.Fatal(err)
	}
	// A stanza of the thread from someone else is not ours.
	forged := wire(t, st)
	forged.SetAttr("from", "mallory@example.net/x")
	if _, err := bob.Receive(forged); !errors.Is(err, ErrNotOffline) {
		t.Errorf("stanza from another JID: %v", err)
	}
	bounce := xmltree.New(esn.NSClient, "message")
	bounce.SetAttr("from", aliceBare)
	bounce.SetAttr("type", "error")
	bounce.AddChild(xmltree.New(esn.NSClient, "thread").AddText(bob.Thread()))
	bounce.AddChild(xmltree.New(esn.NSClient, "error").AddChild(xmltree.New(esn.NSStanzas, "service-unavailable")))
	var de *DeliveryError
	if _, err := bob.Receive(wire(t, bounce)); !errors.As(err, &de) || de.Condition != "service-unavailable" {
		t.Errorf("bounce: %v", err)
	}
}

func TestReceiveFailures(t *testing.T) {
	_, _, m := keys(t)
	tests := []struct {
		name    string
		prep    func(p *party)
		edit    func(t *testing.T, st *xmltree.Element)
		later   time.Duration
		wantErr error
	}{
		{"expired (O-27)", nil, nil, 49 * time.Hour, ErrExpired},
		{"Bob's key not trusted (O-32)", func(p *party) { p.aliceRng = newRing() }, nil, 0, esn.ErrUntrustedKey},
		{"Bob's key is someone else's", func(p *party) { p.aliceRng = newRing().trust(bobBare, &m.PublicKey) }, nil, 0, esn.ErrUntrustedKey},
		{"tampered identity", nil, func(t *testing.T, st *xmltree.Element) { flipValue(t, st, "identity") }, 0, ErrAuthentication},
		{"tampered mac", nil, func(t *testing.T, st *xmltree.Element) { flipValue(t, st, "mac") }, 0, ErrAuthentication},
		{"tampered form (mac_B)", nil, func(t *testing.T, st *xmltree.Element) {
			initForm(t, st).AddChild(xmltree.New(esn.NSData, "field", xml.Attr{Name: xml.Name{Local: "var"}, Value: "x-added"}))
		}, 0, ErrAuthentication},
		{"choice changed", nil, func(t *testing.T, st *xmltree.Element) { setInitValue(t, st, "ver", "1.0 ") }, 0, ErrUnsupported},
		{"choice not offered", nil, func(t *testing.T, st *xmltree.Element) { setInitValue(t, st, "crypt_algs", "twofish256-ctr") }, 0, ErrUnsupported},
		{"rekey_freq below the offer", nil, func(t *testing.T, st *xmltree.Element) { setInitValue(t, st, "rekey_freq", "1") }, 0, ErrUnsupported},
		{"d out of range (O-30)", nil, func(t *testing.T, st *xmltree.Element) { setInitValue(t, st, "dhkeys", "AQ==") }, 0, ErrMalformed},
		{"unknown nonce", nil, func(t *testing.T, st *xmltree.Element) {
			setInitValue(t, st, "nonce", crypt.EncodeBase64([]byte("0123456789abcdef0123456789abcdef")))
		}, 0, ErrUnknownNonce},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newParty(t, SetSubscribers, "")
			if tc.prep != nil {
				tc.prep(p)
			}
			bob := p.start(t, false)
			st, err := bob.SealBody("secret")
			if err != nil {
				t.Fatal(err)
			}
			st = wire(t, st)
			if tc.edit != nil {
				tc.edit(t, st)
			}
			p.clk.advance(tc.later)
			r := p.receiver(t, nil)
			evs, err := r.Receive(st)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Receive = %v, want %v", err, tc.wantErr)
			}
			if len(messages(evs)) != 0 {
				t.Fatalf("a message surfaced: %s", describe(evs))
			}
			if len(r.Sessions()) != 0 {
				t.Error("a session was kept")
			}
		})
	}
}

func initForm(t *testing.T, st *xmltree.Element) *xmltree.Element {
	t.Helper()
	in := st.Child(NSInit, "init")
	if in == nil {
		t.Fatal("no <init/>")
	}
	return in.Child(esn.NSData, "x")
}

func setInitValue(t *testing.T, st *xmltree.Element, v, val string) {
	t.Helper()
	x := initForm(t, st)
	if field(x, v) == nil {
		t.Fatalf("no field %q", v)
	}
	setValue(x, v, val)
}

func flipValue(t *testing.T, st *xmltree.Element, v string) {
	t.Helper()
	x := initForm(t, st)
	val := field(x, v).ChildText("", "value")
	b, err := crypt.DecodeBase64(v, val, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	setValue(x, v, crypt.EncodeBase64(b))
}

func TestReplayRejected(t *testing.T) {
	p := newParty(t, SetSubscribers, "")
	bob := p.start(t, true)
	st, _ := bob.SealBody("once")
	r := p.receiver(t, nil)
	if _, err := r.Receive(wire(t, st)); err != nil {
		t.Fatal(err)
	}
	// The same stanza again (the session ended: one-shot).
	evs, err := r.Receive(wire(t, st))
	if !errors.Is(err, ErrReplay) || len(messages(evs)) != 0 {
		t.Fatalf("replay: %v, %s", err, describe(evs))
	}
	// Same d and N_B under another thread.
	again := wire(t, st)
	for _, c := range again.Children() {
		if c.Name.Local == "thread" {
			c.Nodes = []xmltree.Node{{Text: "another-thread"}}
		}
	}
	if _, err := r.Receive(again); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay on another thread: %v", err)
	}
	// A replayed <c/> alone, in an open session, fails the XEP-0200 MAC.
	bob2 := p.start(t, false)
	s1, _ := bob2.SealBody("a")
	s2, _ := bob2.SealBody("b")
	if _, err := r.Receive(wire(t, s1)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Receive(wire(t, s2)); err != nil {
		t.Fatal(err)
	}
	evs, err = r.Receive(wire(t, s2))
	if !errors.Is(err, ErrAuthentication) || len(messages(evs)) != 0 {
		t.Fatalf("replayed <c/>: %v %s", err, describe(evs))
	}
}

func TestBobRefusesExpiredAndUnsupported(t *testing.T) {
	p := newParty(t, SetSubscribers, "")
	o := p.fetch(t)
	p.clk.advance(48 * time.Hour)
	if _, err := Start(o, SendConfig{Local: bobFull, Signer: p.bob, Now: p.clk.now}); !errors.Is(err, ErrExpired) {
		t.Errorf("expired options: %v", err)
	}
	p = newParty(t, SetSubscribers, "")
	o = p.fetch(t)
	_, err := Start(o, SendConfig{Local: bobFull, Signer: p.bob, Now: p.clk.now, Preferences: Preferences{Groups: []int{16}}})
	var fe *FieldError
	if !errors.Is(err, ErrUnsupported) || !errors.As(err, &fe) || fe.Field != "modp" {
		t.Errorf("no common group: %v", err)
	}
	if _, err := Start(o, SendConfig{Local: bobFull, Now: p.clk.now}); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("no identity: %v", err)
	}
	if _, err := Start(o, SendConfig{Local: bobBare, Signer: p.bob, Now: p.clk.now}); err == nil {
		t.Error("a bare Local was accepted")
	}
}

func TestOldFieldNames(t *testing.T) {
	// XEP-0187's own example: 'otr' instead of 'logging', and sign_algs
	// 'rsa' (digest #27, #32). Bob answers in the same vocabulary.
	p := newParty(t, SetSubscribers, "")
	f := esn.NewForm(esn.FormTypeForm)
	f.Add(esn.Field{Var: "otr", Type: "list-single", Options: options([]string{"true", "false"})})
	f.Add(esn.Field{Var: "sign_algs", Type: "list-single", Options: options([]string{"rsa"})})
	f.Add(esn.Field{Var: "disclosure", Type: "list-single", Options: options([]string{"never"})})
	f.Add(esn.Field{Var: "security", Type: "list-single", Options: options([]string{"e2e"})})
	f.Add(esn.Field{Var: "modp", Type: "list-single", Options: options([]string{"14"})})
	f.Add(esn.Field{Var: "crypt_algs", Type: "list-single", Options: options([]string{"aes128-ctr"})})
	f.Add(esn.Field{Var: "hash_algs", Type: "list-single", Options: options([]string{"sha256"})})
	f.Add(esn.Field{Var: "compress", Type: "list-single", Options: options([]string{"none"})})
	f.Add(esn.Field{Var: "stanzas", Type: "list-multi", Options: options([]string{"message"})})
	f.Add(esn.Field{Var: "ver", Type: "list-single", Options: options([]string{"1.3", "1.2"})})
	pr, err := selectParams(f, Preferences{})
	if err != nil {
		t.Fatal(err)
	}
	if pr.LoggingField != "otr" || pr.Logging != "mustnot" || pr.SignAlg != "rsa" || pr.Version != "1.3" || pr.Group != 14 {
		t.Fatalf("params %+v", pr)
	}
	ans := esn.NewForm(esn.FormTypeSubmit)
	for _, fl := range pr.answerFields() {
		ans.Add(fl)
	}
	if v, _ := ans.Value("otr"); v != "true" {
		t.Errorf("otr answered %q", v)
	}
	back, err := checkAnswer(f, ans)
	if err == nil {
		t.Fatal("an offer without rekey_freq accepted an answer: want an error")
	}
	f.Add(esn.Field{Var: "rekey_freq", Type: "text-single", Values: []string{"100"}})
	if back, err = checkAnswer(f, ans); err != nil || back.Logging != "mustnot" {
		t.Fatalf("checkAnswer = %+v, %v", back, err)
	}
	_ = p
}

func TestSecretsStayHidden(t *testing.T) {
	p := newParty(t, SetAll, "")
	s := p.pub.Secrets
	raw, err := s.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	x := s.keys[0].x.Text(16)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		out := fmt.Sprintf(verb, s)
		if strings.Contains(out, x) || strings.Contains(out, crypt.EncodeBase64(s.keys[0].x.Bytes())) || !strings.Contains(out, "REDACTED") {
			t.Errorf("%s prints %q", verb, out)
		}
	}
	back, err := ParseSecrets(raw)
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != s.ID || back.keys[0].x.Cmp(s.keys[0].x) != 0 || !back.Expires.Equal(s.Expires) || back.form != s.form {
		t.Error("secrets do not survive a round trip")
	}
	back.Erase()
	if _, err := back.MarshalPrivate(); err != nil {
		// Erase drops the keys: nothing to marshal but no panic.
		t.Logf("after Erase: %v", err)
	}
	for _, bad := range []string{"", "{}", `{"v":2}`, strings.Replace(string(raw), `"id":"`, `"id":"00`, 1)} {
		if _, err := ParseSecrets([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseSecrets(%.20q) = %v", bad, err)
		}
	}
}

func TestForgetAndClose(t *testing.T) {
	p := newParty(t, SetSubscribers, "")
	bob := p.start(t, false)
	st, _ := bob.SealBody("before forget")
	r := p.receiver(t, nil)
	if _, err := r.Receive(wire(t, st)); err != nil {
		t.Fatal(err)
	}
	r.Forget(SetSubscribers)
	// The established session keeps working.
	st2, _ := bob.SealBody("after forget")
	if evs, err := r.Receive(wire(t, st2)); err != nil || len(messages(evs)) != 1 {
		t.Fatalf("after Forget: %v %s", err, describe(evs))
	}
	// A new request for the forgotten set is not decryptable.
	st3, _ := p.start(t, true).SealBody("new")
	if _, err := r.Receive(wire(t, st3)); !errors.Is(err, ErrUnknownNonce) {
		t.Fatalf("new request after Forget: %v", err)
	}
	r.Close()
	if n := len(r.Sessions()); n != 0 {
		t.Errorf("%d sessions after Close", n)
	}
}

func TestNotOffline(t *testing.T) {
	p := newParty(t, SetSubscribers, "")
	r := p.receiver(t, nil)
	for _, s := range []string{
		`<message xmlns='jabber:client' from='bob@example.com/x'><body>plain</body></message>`,
		`<message xmlns='jabber:client' from='bob@example.com/x'><thread>t</thread><c xmlns='http://www.xmpp.org/extensions/xep-0200.html#ns'><mac>AA==</mac></c></message>`,
		`<message xmlns='jabber:client' from='bob@example.com/x'><thread>t</thread><init xmlns='http://www.xmpp.org/extensions/xep-0116.html#ns-init'><x xmlns='jabber:x:data' type='result'/></init></message>`,
		`<message xmlns='jabber:client' type='error' from='bob@example.com/x'><thread>t</thread></message>`,
		`<presence xmlns='jabber:client' from='bob@example.com/x'/>`,
	} {
		st, err := xmltree.Parse([]byte(s), xmltree.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Receive(st); !errors.Is(err, ErrNotOffline) {
			t.Errorf("Receive(%s) = %v, want ErrNotOffline", s, err)
		}
	}
}
