package esn

import (
	"bytes"
	"crypto/aes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/xmltree"
)

func gajimPrefs(groups ...int) Preferences {
	p := DefaultPreferences(ProfileGajim)
	if len(groups) > 0 {
		p.Groups = groups
	}
	return p
}

// wireForms classifies the stanzas of a transcript.
type wireForms struct {
	m1, m2, m3, m4 *Form
	encrypted      []*xmltree.Element // <c/> elements in order
	stanzas        []*xmltree.Element // the stanzas carrying them
}

func readWire(t *testing.T, wire []string) wireForms {
	t.Helper()
	var w wireForms
	for _, s := range wire {
		st, err := xmltree.Parse([]byte(s), xmltree.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		in, err := parseInbound(st, FormLimits{})
		if err != nil {
			t.Fatalf("%v: %s", err, s)
		}
		switch in.kind {
		case kindRequest:
			w.m1 = in.form
		case kindAccept:
			w.m2 = in.form
		case kindComplete:
			w.m3 = in.form
		case kindIdentity:
			w.m4 = in.form
		case kindEncrypted:
			w.encrypted = append(w.encrypted, in.c)
			w.stanzas = append(w.stanzas, st)
		}
	}
	if w.m1 == nil || w.m2 == nil || w.m3 == nil || w.m4 == nil {
		t.Fatalf("incomplete negotiation on the wire: %q", wire)
	}
	return w
}

func fieldVars(f *Form) string {
	var v []string
	for _, fl := range f.Fields {
		v = append(v, fl.Var)
	}
	return strings.Join(v, ",")
}

func b64(t *testing.T, f *Form, v string) []byte {
	t.Helper()
	s, ok := f.Value(v)
	if !ok {
		t.Fatalf("no field %s", v)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("%s: %v", v, err)
	}
	return b
}

func TestGajimNegotiateGroups(t *testing.T) {
	for _, tc := range []struct {
		offer []int
		want  int
	}{{[]int{14}, 14}, {[]int{15}, 15}, {[]int{16}, 16}, {nil, 15}, {[]int{16, 14}, 16}} {
		t.Run(fmt.Sprint(tc.offer), func(t *testing.T) {
			pb := gajimPrefs(14, 15, 16) // the responder's order does not matter
			p := newPair(t, pairOpts{prefsA: gajimPrefs(tc.offer...), prefsB: pb, secretsA: &MemorySecrets{}, secretsB: &MemorySecrets{}})
			thread, na, nb := p.mustNegotiate()
			if len(thread) != GajimThreadIDLen || strings.Trim(thread, gajimLetters) != "" {
				t.Errorf("thread id %q", thread)
			}
			for _, ev := range []NegotiatedEvent{na, nb} {
				pr := ev.Params
				if pr.Profile != ProfileGajim || pr.Group != tc.want || pr.Cipher != CipherAES128CTR || pr.Version != "1.0" ||
					pr.RekeyFreq != RekeyNever || pr.LoggingField != "logging" || !slices.Equal(pr.Stanzas, []string{"message"}) {
					t.Fatalf("params %+v", pr)
				}
			}
			if na.SAS != nb.SAS || na.SAS == "" || len(na.SAS) > 5 {
				t.Fatalf("SAS %q / %q", na.SAS, nb.SAS)
			}
			p.converse(thread)
			for _, ev := range p.b.events {
				if m, ok := ev.(MessageEvent); ok && len(m.Stanza.Children()) != 2 {
					t.Fatalf("delivered stanza %s (the notice must be dropped)", m.Stanza)
				}
			}
			w := readWire(t, p.wire)
			if len(w.encrypted) != 3 {
				t.Fatalf("%d encrypted stanzas", len(w.encrypted))
			}
			for _, st := range w.stanzas {
				s := st.String()
				if strings.Contains(s, "hello") || !strings.Contains(s, "<body>"+crypt.GajimNotice+"</body>") {
					t.Fatalf("stanza on the wire: %s", s)
				}
			}
			// Termination: Alice sends the SSN terminate form and ends;
			// Bob ends on receipt. Gajim sends no acknowledgement.
			out := p.terminateByA(thread)
			if len(out.Send) != 1 {
				t.Fatalf("terminate sent %d stanzas", len(out.Send))
			}
			ta, ok := lastEvent[TerminatedEvent](out.Events)
			if !ok || ta.Err != nil || ta.Acknowledged {
				t.Fatalf("alice termination: %+v", ta)
			}
			if p.a.m.Len() != 0 || p.b.m.Len() != 0 {
				t.Fatal("sessions left")
			}
		})
	}
}

// The shapes of Gajim's four messages (gajim-compat.md "Negotiation").
func TestGajimWireShapes(t *testing.T) {
	p := newPair(t, pairOpts{prefsA: gajimPrefs(), prefsB: gajimPrefs()})
	p.mustNegotiate()
	w := readWire(t, p.wire)

	// M1: the logging field, ver 1.0, groups 15, 16, 14, an 8-octet nonce.
	if w.m1.Field("otr") != nil || !slices.Equal(w.m1.Field("logging").OptionValues(), []string{"mustnot", "may"}) {
		t.Errorf("M1 logging: %s", fieldVars(w.m1))
	}
	if v, _ := w.m1.Value("ver"); v != "1.0" {
		t.Errorf("M1 ver %q", v)
	}
	if g := w.m1.Field("modp").OptionValues(); !slices.Equal(g, []string{"15", "16", "14"}) {
		t.Errorf("M1 groups %v", g)
	}
	if n := b64(t, w.m1, "my_nonce"); len(n) != 8 {
		t.Errorf("M1 nonce of %d octets", len(n))
	}
	if w.m1.Field("dhhashes") == nil || len(w.m1.Field("dhhashes").Values) != 3 {
		t.Error("M1 dhhashes")
	}

	// M2: submit, every field text-single, accept=true, the first group.
	if w.m2.Type != FormTypeSubmit {
		t.Errorf("M2 type %q", w.m2.Type)
	}
	for _, fl := range w.m2.Fields {
		if fl.Type != "text-single" {
			t.Errorf("M2 field %s has type %q", fl.Var, fl.Type)
		}
	}
	if v, _ := w.m2.Value("accept"); v != "true" {
		t.Errorf("M2 accept %q", v)
	}
	if v, _ := w.m2.Value("modp"); v != "15" {
		t.Errorf("M2 modp %q", v)
	}
	if v, _ := w.m2.Value("ver"); v != "1.0" {
		t.Errorf("M2 ver %q", v)
	}
	if v, _ := w.m2.Value("logging"); v != "mustnot" {
		t.Errorf("M2 logging %q", v)
	}
	if n := b64(t, w.m2, "my_nonce"); len(n) != 8 {
		t.Errorf("M2 nonce of %d octets", len(n))
	}
	if got, want := fieldVars(w.m2), "FORM_TYPE,accept,logging,disclosure,security,crypt_algs,hash_algs,compress,stanzas,init_pubkey,resp_pubkey,ver,rekey_freq,sas_algs,modp,my_nonce,dhkeys,counter,nonce"; got != want {
		t.Errorf("M2 fields\n%s\nwant\n%s", got, want)
	}

	// M3: result, this field order, exactly one random 32-octet rshashes.
	if got := fieldVars(w.m3); got != "FORM_TYPE,accept,nonce,rshashes,dhkeys,identity,mac" {
		t.Errorf("M3 fields %s", got)
	}
	if rs := w.m3.Field("rshashes"); len(rs.Values) != 1 || len(b64(t, w.m3, "rshashes")) != 32 {
		t.Errorf("M3 rshashes %v", rs.Values)
	}
	if len(b64(t, w.m3, "identity")) != 32 {
		t.Error("M3 identity is not 32 octets")
	}
	// M4: <init/> result with FORM_TYPE, nonce, srshash, identity, mac.
	if got := fieldVars(w.m4); got != "FORM_TYPE,nonce,srshash,identity,mac" || w.m4.Type != FormTypeResult {
		t.Errorf("M4 %s fields %s", w.m4.Type, got)
	}
}

// mpi16 is mpi left-padded with zero octets to a multiple of 16.
func gajimMPI16(v *big.Int) []byte {
	b := v.Bytes()
	if len(b) == 0 {
		b = []byte{0}
	}
	if r := len(b) % 16; r != 0 {
		b = append(make([]byte, 16-r), b...)
	}
	return b
}

func hmacOf(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// aes256CTR1 is Gajim's cipher: the 32-byte key, CTR from counter + 1,
// block mpi16 of the counter (mod 2^128).
func aes256CTR1(t *testing.T, key []byte, c *big.Int, in []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil || len(key) != 32 {
		t.Fatalf("AES-256 key: %v", err)
	}
	mod := new(big.Int).Lsh(big.NewInt(1), 128)
	out := make([]byte, len(in))
	for j := 0; j*16 < len(in); j++ {
		ctr := new(big.Int).Add(c, big.NewInt(int64(j+1)))
		var ks [16]byte
		block.Encrypt(ks[:], gajimMPI16(ctr.Mod(ctr, mod)))
		for i := j * 16; i < len(in) && i < j*16+16; i++ {
			out[i] = in[i] ^ ks[i-j*16]
		}
	}
	return out
}

// Known answers: every value of a gajim<->gajim negotiation and its first
// stanza recomputed here from gajim-compat.md's formulas, from the wire
// and the key log.
func TestGajimKnownAnswers(t *testing.T) {
	var logged []KeyLogEntry
	tweak := func(a, b *Config) {
		a.KeyLog = func(e KeyLogEntry) { logged = append(logged, e) }
	}
	p := newPair(t, pairOpts{prefsA: gajimPrefs(14), prefsB: gajimPrefs(), tweak: tweak})
	thread, na, _ := p.mustNegotiate()
	p.send(p.a, thread, "Hello Bob")
	w := readWire(t, p.wire)
	var k, kFinal []byte
	for _, e := range logged {
		switch e.Label {
		case KeyLogNegotiation:
			k = e.Secret
		case KeyLogFinal:
			kFinal = e.Secret
		}
	}
	// K' = SHA256(K), re-hashed with empty SRS and OSS.
	if sum := sha256.Sum256(k); !bytes.Equal(kFinal, sum[:]) {
		t.Fatal("K' is not SHA256(K)")
	}
	nA, nB := b64(t, w.m1, "my_nonce"), b64(t, w.m2, "my_nonce")
	cA := new(big.Int).SetBytes(b64(t, w.m2, "counter"))
	e := b64(t, w.m3, "dhkeys")
	idA, mA := b64(t, w.m3, "identity"), b64(t, w.m3, "mac")
	kcA, kmA, ksA := hmacOf(k, []byte("Initiator Cipher Key")), hmacOf(k, []byte("Initiator MAC Key")), hmacOf(k, []byte("Initiator SIGMA Key"))
	// M_A = HMAC(KM_A, mpi(C_A) | ID_A), the counter unpadded.
	if !hmac.Equal(mA, hmacOf(kmA, cA.Bytes(), idA)) {
		t.Fatal("M_A")
	}
	// mac_A = HMAC(KS_A, N_B | N_A | mpi(e) | formA | formA2), encrypted
	// with the provisory KC_A (all 32 octets) and C_A.
	gs := crypt.GajimSuite()
	formA := gs.NormalizeContent(w.m1.Element())
	formA2 := gs.NormalizeContent(w.m3.Element(), "identity", "mac")
	if !bytes.Contains(formA, []byte(` />`)) || bytes.Contains(formA2, []byte(`xmlns`)) {
		t.Fatalf("formA %s\nformA2 %s", formA, formA2)
	}
	if got, want := aes256CTR1(t, kcA, cA, idA), hmacOf(ksA, nB, nA, e, formA, formA2); !bytes.Equal(got, want) {
		t.Fatal("ID_A does not decrypt to mac_A")
	}
	// SAS: base 28 of the last 24 bits of SHA256(M_A | formB | label).
	formB := gs.NormalizeContent(w.m2.Element())
	h := sha256.Sum256(slices.Concat(mA, formB, []byte("Short Authentication String")))
	v := int(h[29])<<16 | int(h[30])<<8 | int(h[31])
	sas := ""
	for {
		sas = string("acdefghikmopqruvwxy123456789"[v%28]) + sas
		if v /= 28; v == 0 {
			break
		}
	}
	if na.SAS != sas {
		t.Fatalf("SAS %q, want %q", na.SAS, sas)
	}
	// M4: mac_B with the final KS_B, encrypted with the final KC_B and C_B.
	cB := new(big.Int).Xor(cA, new(big.Int).Lsh(big.NewInt(1), 127))
	kcB, kmB, ksB := hmacOf(kFinal, []byte("Responder Cipher Key")), hmacOf(kFinal, []byte("Responder MAC Key")), hmacOf(kFinal, []byte("Responder SIGMA Key"))
	idB, mB := b64(t, w.m4, "identity"), b64(t, w.m4, "mac")
	if !hmac.Equal(mB, hmacOf(kmB, cB.Bytes(), idB)) {
		t.Fatal("M_B")
	}
	d := b64(t, w.m2, "dhkeys")
	formB2 := gs.NormalizeContent(w.m4.Element(), "identity", "mac")
	if got, want := aes256CTR1(t, kcB, cB, idB), hmacOf(ksB, nA, nB, d, formB, formB2); !bytes.Equal(got, want) {
		t.Fatal("ID_B does not decrypt to mac_B")
	}
	// The first stanza: counters run on from ID_A (two blocks), the MAC
	// covers <data>…</data> | mpi16(C), the plaintext is space-padded.
	c := w.encrypted[0]
	data := c.ChildText("", "data")
	mac, _ := base64.StdEncoding.DecodeString(c.ChildText("", "mac"))
	ct, _ := base64.StdEncoding.DecodeString(data)
	c0 := new(big.Int).Add(cA, big.NewInt(2))
	kcAf, kmAf := hmacOf(kFinal, []byte("Initiator Cipher Key")), hmacOf(kFinal, []byte("Initiator MAC Key"))
	if !hmac.Equal(mac, hmacOf(kmAf, []byte("<data>"+data+"</data>"), gajimMPI16(c0))) {
		t.Fatal("stanza MAC is not over mpi16(C)")
	}
	if got := string(aes256CTR1(t, kcAf, c0, ct)); got != "<body>Hello Bob</body>          " {
		t.Fatalf("plaintext %q", got)
	}
}

// A retained secret: the second session sends exactly the HMAC(N_A, RS)
// values (no random fillers) and shares it.
func TestGajimRetainedSecrets(t *testing.T) {
	sa, sb := &MemorySecrets{}, &MemorySecrets{}
	p := newPair(t, pairOpts{prefsA: gajimPrefs(14), prefsB: gajimPrefs(), secretsA: sa, secretsB: sb})
	_, na, _ := p.mustNegotiate()
	if na.RetainedSecret {
		t.Fatal("first session shared a secret")
	}
	la, _ := sa.Retained("alice@example.org", "bob@example.com")
	lb, _ := sb.Retained("bob@example.com", "alice@example.org")
	if len(la) != 1 || len(lb) != 1 || !bytes.Equal(la[0].Secret, lb[0].Secret) {
		t.Fatal("retained secrets differ")
	}
	p2 := newPair(t, pairOpts{prefsA: gajimPrefs(14), prefsB: gajimPrefs(), secretsA: sa, secretsB: sb})
	_, na2, nb2 := p2.mustNegotiate()
	if !na2.RetainedSecret || !nb2.RetainedSecret {
		t.Fatal("second session did not share the retained secret")
	}
	w := readWire(t, p2.wire)
	rs := w.m3.Field("rshashes").Values
	want := crypt.EncodeBase64(hmacOf(b64(t, w.m1, "my_nonce"), la[0].Secret))
	if len(rs) != 1 || rs[0] != want {
		t.Fatalf("rshashes %v, want [%s]", rs, want)
	}
	if srsh := b64(t, w.m4, "srshash"); !bytes.Equal(srsh, hmacOf(la[0].Secret, []byte("Shared Retained Secret"))) {
		t.Fatal("srshash")
	}
	la2, _ := sa.Retained("alice@example.org", "bob@example.com")
	lb2, _ := sb.Retained("bob@example.com", "alice@example.org")
	if len(la2) != 1 || bytes.Equal(la2[0].Secret, la[0].Secret) || !bytes.Equal(la2[0].Secret, lb2[0].Secret) {
		t.Fatal("chain not replaced identically")
	}
}

// Gajim hashes forms as received, character data inside fields included:
// whitespace between the fields of M2 is harmless, whitespace inside a
// field breaks mac_B (the responder hashed its compact form).
func TestGajimFormWhitespace(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inside bool
	}{{"between fields", false}, {"inside a field", true}} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, pairOpts{prefsA: gajimPrefs(14), prefsB: gajimPrefs()})
			p.tamper = func(from, to *endpoint, st *xmltree.Element) []*xmltree.Element {
				f := st.Child(NSFeatureNeg, "feature")
				if from != p.b || f == nil || f.Child(NSData, "x").Attribute("type") != FormTypeSubmit {
					return []*xmltree.Element{st}
				}
				x := f.Child(NSData, "x")
				var nodes []xmltree.Node
				for _, n := range x.Nodes {
					if tc.inside && n.Element != nil {
						n.Element.Nodes = append([]xmltree.Node{{Text: "\n  "}}, n.Element.Nodes...)
					}
					nodes = append(nodes, xmltree.Node{Text: "\n "}, n)
				}
				x.Nodes = nodes
				return []*xmltree.Element{wireCopy(t, st)}
			}
			p.negotiate()
			_, ok := findEvent[NegotiatedEvent](p.a.events)
			if ok == tc.inside {
				t.Fatalf("negotiated=%v: %v %v", ok, p.a.events, p.b.events)
			}
			if tc.inside {
				ta, _ := lastEvent[TerminatedEvent](p.a.events)
				var ne *NegotiationError
				if !errors.As(ta.Err, &ne) || ne.Step != "identity" || !errors.Is(ta.Err, ErrAuthentication) {
					t.Fatalf("alice: %v", ta.Err)
				}
			}
		})
	}
}

// A XEP-profile peer and a gajim-profile peer never establish a session:
// each pairing fails during the negotiation, on the gajim side with
// ErrProfileMismatch, on the XEP side with a negotiation error.
func TestGajimXEPDoNotInteroperate(t *testing.T) {
	for _, tc := range []struct {
		name             string
		a, b             Preferences
		gajimIsAlice     bool
		step             string
		xepSeesCondition string
	}{
		{"xep0217 to gajim", DefaultPreferences(ProfileXEP0217), gajimPrefs(), false, "request", CondNotAcceptable},
		{"xep0116 to gajim", DefaultPreferences(ProfileXEP0116), gajimPrefs(), false, "completion", CondFeatureNotImplemented},
		{"gajim to xep0217", gajimPrefs(14, 15), DefaultPreferences(ProfileXEP0217), true, "response", CondNotAcceptable},
		{"gajim to xep0116", gajimPrefs(), DefaultPreferences(ProfileXEP0116), true, "response", CondNotAcceptable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, pairOpts{prefsA: tc.a, prefsB: tc.b, secretsA: &MemorySecrets{}, secretsB: &MemorySecrets{}})
			p.negotiate()
			for _, e := range []*endpoint{p.a, p.b} {
				if _, ok := findEvent[NegotiatedEvent](e.events); ok {
					t.Fatalf("%s negotiated", e.jid)
				}
				if e.m.Len() != 0 {
					t.Fatalf("%s keeps a session", e.jid)
				}
			}
			g, x := p.b, p.a
			if tc.gajimIsAlice {
				g, x = p.a, p.b
			}
			tg, ok := lastEvent[TerminatedEvent](g.events)
			var ne *NegotiationError
			if !ok || !errors.Is(tg.Err, ErrProfileMismatch) || !errors.As(tg.Err, &ne) || ne.Step != tc.step || ne.Remote {
				t.Fatalf("gajim side: %v", tg.Err)
			}
			tx, ok := lastEvent[TerminatedEvent](x.events)
			if !ok || !errors.As(tx.Err, &ne) || !ne.Remote || ne.Condition != tc.xepSeesCondition {
				t.Fatalf("xep side: %v", tx.Err)
			}
			if strings.Contains(tg.Err.Error(), "ESN_") {
				t.Fatal("secret-looking text in the error")
			}
		})
	}
}

func TestGajimSelect(t *testing.T) {
	he := [][]byte{bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32)}
	base := func() *Form { return buildGajimRequest(gajimPrefs(16, 14, 15), bytes.Repeat([]byte{9}, 8), he) }
	setOptions := func(f *Form, v string, vals ...string) {
		fl := f.Field(v)
		fl.Values, fl.Options = nil, opts(vals)
	}
	for _, tc := range []struct {
		name   string
		prefs  Preferences
		edit   func(f *Form)
		group  int
		rekey  uint32
		log    Logging
		cond   string
		fields []string
		prof   bool
	}{
		{name: "first group, whatever our order", prefs: gajimPrefs(14, 15, 16), group: 16, rekey: RekeyNever},
		{name: "first rekey_freq", prefs: gajimPrefs(), edit: func(f *Form) { setOptions(f, "rekey_freq", "50", "4294967295") }, group: 16, rekey: 50},
		{name: "logging preference", prefs: func() Preferences { p := gajimPrefs(); p.Logging = []Logging{LoggingMay}; return p }(), group: 16, rekey: RekeyNever, log: LoggingMay},
		{name: "first group not acceptable", prefs: gajimPrefs(14, 15), cond: CondNotAcceptable, fields: []string{"modp"}},
		{name: "otr field", prefs: gajimPrefs(), edit: func(f *Form) { f.Field("logging").Var = "otr" }, cond: CondNotAcceptable, fields: []string{"logging"}, prof: true},
		{name: "boolean logging values", prefs: gajimPrefs(), edit: func(f *Form) { setOptions(f, "logging", "true", "false") }, cond: CondNotAcceptable, fields: []string{"logging"}},
		{name: "other cipher only", prefs: gajimPrefs(), edit: func(f *Form) { setOptions(f, "crypt_algs", "aes256-ctr") }, cond: CondNotAcceptable, fields: []string{"crypt_algs"}},
		{name: "ver 2.0", prefs: gajimPrefs(), edit: func(f *Form) { setOptions(f, "ver", "2.0") }, cond: CondNotAcceptable, fields: []string{"ver"}},
		{name: "3-message", prefs: gajimPrefs(), edit: func(f *Form) { f.Add(Field{Var: "dhkeys", Values: []string{"AQ=="}}) }, cond: CondFeatureNotImplemented, fields: []string{"dhkeys"}},
		{name: "commitments do not match the groups", prefs: gajimPrefs(), edit: func(f *Form) { f.Field("dhhashes").Values = f.Field("dhhashes").Values[:2] }, cond: CondNotAcceptable, fields: []string{"dhhashes"}},
		{name: "short nonce", prefs: gajimPrefs(), edit: func(f *Form) { f.Field("my_nonce").Values = []string{"AAAA"} }, cond: CondNotAcceptable, fields: []string{"my_nonce"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := base()
			if tc.edit != nil {
				tc.edit(f)
			}
			f, err := ParseForm(f.Element(), FormLimits{})
			if err != nil {
				t.Fatal(err)
			}
			r, nerr := gajimSelect(tc.prefs, f)
			if tc.cond != "" {
				if nerr == nil || nerr.Condition != tc.cond || !slices.Equal(nerr.Fields, tc.fields) || errors.Is(nerr, ErrProfileMismatch) != tc.prof {
					t.Fatalf("got %v, want %s %v", nerr, tc.cond, tc.fields)
				}
				return
			}
			if nerr != nil {
				t.Fatal(nerr)
			}
			if r.params.Group != tc.group || r.params.RekeyFreq != tc.rekey || r.params.Logging != tc.log || !bytes.Equal(r.he, he[0]) {
				t.Fatalf("params %+v", r.params)
			}
			var ans []string
			for _, fl := range r.answer {
				if fl.Type != "text-single" || len(fl.Values) != 1 {
					t.Fatalf("answer field %+v", fl)
				}
				ans = append(ans, fl.Var+"="+fl.Values[0])
			}
			want := "logging=" + tc.log.String() + ",disclosure=never,security=e2e,crypt_algs=aes128-ctr,hash_algs=sha256,compress=none,stanzas=message,init_pubkey=none,resp_pubkey=none,ver=1.0,rekey_freq=" + fmt.Sprint(tc.rekey) + ",sas_algs=sas28x5"
			if got := strings.Join(ans, ","); got != want {
				t.Fatalf("answer\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestGajimPreferencesRefused(t *testing.T) {
	pa := gajimPrefs()
	pa.OSS = []byte("pw")
	p := newPair(t, pairOpts{prefsA: pa})
	if _, _, err := p.a.m.Initiate("bob@example.com", InitiateOptions{}); !errors.Is(err, ErrProfileFeature) {
		t.Fatalf("OSS under the gajim profile: %v", err)
	}
	pk := gajimPrefs()
	pk.Auth = AuthKey
	if err := checkGajimPrefs(pk); !errors.Is(err, ErrProfileFeature) {
		t.Fatalf("AuthKey under the gajim profile: %v", err)
	}
	pk.Auth = AuthAuto
	if err := checkGajimPrefs(pk); err != nil {
		t.Fatalf("AuthAuto under the gajim profile: %v", err)
	}
	// Per-session preferences select the profile too.
	p2 := newPair(t, pairOpts{prefsB: gajimPrefs()})
	gp := gajimPrefs(14)
	thread, out, err := p2.a.m.Initiate("bob@example.com", InitiateOptions{Preferences: &gp})
	if err != nil || len(thread) != GajimThreadIDLen {
		t.Fatalf("%q %v", thread, err)
	}
	p2.run(p2.a, out.Send)
	if _, ok := findEvent[NegotiatedEvent](p2.a.events); !ok {
		t.Fatalf("per-session gajim profile: %v", p2.a.events)
	}
}

func TestNewGajimThreadID(t *testing.T) {
	seen := map[byte]int{}
	for range 200 {
		id, err := NewGajimThreadID(randReader{})
		if err != nil || len(id) != GajimThreadIDLen {
			t.Fatalf("%q %v", id, err)
		}
		for i := range len(id) {
			if !strings.Contains(gajimLetters, id[i:i+1]) {
				t.Fatalf("%q", id)
			}
			seen[id[i]]++
		}
	}
	if len(seen) != 52 {
		t.Errorf("%d distinct letters in 6400 draws", len(seen))
	}
	if _, err := NewGajimThreadID(bytes.NewReader(make([]byte, 10))); err == nil {
		t.Error("short reader")
	}
	for _, s := range []string{"gajim", "xep0116", "xep0217"} {
		pr, err := ParseProfile(s)
		if err != nil || pr.String() != s {
			t.Errorf("%s: %v %v", s, pr, err)
		}
	}
}

// gajimFuzzSeeds returns the stanzas of a gajim<->gajim negotiation and
// exchange, for the fuzz targets.
func gajimFuzzSeeds(t testing.TB, group int) []string {
	return sessionWire(t, gajimPrefs(group), 1)
}

// FuzzGajimReceive is FuzzReceive for gajim-profile sessions: a fresh
// gajim responder and an established gajim session get arbitrary stanzas.
func FuzzGajimReceive(f *testing.F) {
	for _, s := range gajimFuzzSeeds(f, 1) {
		f.Add([]byte(s))
	}
	f.Fuzz(fuzzReceive(gajimPrefs(1))) // the cheapest group: fuzzing instruments math/big too
}
