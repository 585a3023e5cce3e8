package transcript

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/xmltree"
)

// conversation is a recorded in-memory session: every stanza as alice's
// `esn --trace` would show it, the key log lines of both sides, and the
// SAS both sides computed.
type conversation struct {
	trace  string // SEND:/RECV: lines from alice's point of view
	keylog string
	sas    string
	thread string
	// What alice's manager reported when the session was established.
	negotiated esn.NegotiatedEvent
}

// record negotiates between two managers, sends bodies from alice (and one
// answer from bob), terminates, and records everything.
func record(t testing.TB, prof esn.Profile, group int, bodies ...string) conversation {
	t.Helper()
	return recordWith(t, recOpts{prof: prof, group: group}, bodies...)
}

// recOpts configure recordWith: the profile and group of both sides, and
// for public-key sessions each side's key ring and policy.
type recOpts struct {
	prof         esn.Profile
	group        int
	ringA, ringB esn.KeyRing
	authA, authB esn.Auth
}

func recordWith(t testing.TB, o recOpts, bodies ...string) conversation {
	t.Helper()
	var kl bytes.Buffer
	logf := func(e esn.KeyLogEntry) { fmt.Fprintln(&kl, e.String()) }
	pa := esn.DefaultPreferences(o.prof)
	pa.Groups = []int{o.group}
	pb := pa
	pa.Auth, pb.Auth = o.authA, o.authB
	suite := crypt.XEPSuite()
	suite.MinGroup = min(o.group, crypt.DefaultMinGroup)
	a, err := esn.NewManager(esn.Config{Local: "alice@example.org/pda", Preferences: pa, Suite: &suite, KeyLog: logf, Keys: o.ringA})
	if err != nil {
		t.Fatal(err)
	}
	b, err := esn.NewManager(esn.Config{Local: "bob@example.com/laptop", Preferences: pb, Suite: &suite, KeyLog: logf, Keys: o.ringB})
	if err != nil {
		t.Fatal(err)
	}
	var c conversation
	var tr strings.Builder
	deliver := func(from *esn.Manager, sts []*xmltree.Element) {
		type hop struct {
			to *esn.Manager
			st *xmltree.Element
		}
		other := func(m *esn.Manager) *esn.Manager {
			if m == a {
				return b
			}
			return a
		}
		var q []hop
		for _, s := range sts {
			q = append(q, hop{other(from), s})
		}
		for len(q) > 0 {
			h := q[0]
			q = q[1:]
			dir := "SEND"
			if h.to == a {
				dir = "RECV"
			}
			wire := h.st.String()
			fmt.Fprintf(&tr, "%s: %s\n", dir, wire)
			st, err := xmltree.Parse([]byte(wire), xmltree.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			out, err := h.to.Receive(st)
			if err != nil {
				t.Fatalf("receive: %v", err)
			}
			for _, ev := range out.Events {
				switch ev := ev.(type) {
				case esn.NegotiatedEvent:
					c.sas = ev.SAS
					if h.to == a {
						c.negotiated = ev
					}
				case esn.TerminatedEvent:
					if ev.Err != nil {
						t.Fatalf("terminated: %v", ev.Err)
					}
				}
			}
			for _, s := range out.Send {
				q = append(q, hop{other(h.to), s})
			}
		}
	}
	thread, out, err := a.Initiate("bob@example.com", esn.InitiateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.thread = thread
	tr.WriteString("esn: connected as alice@example.org/pda\n")
	deliver(a, out.Send)
	for _, body := range bodies {
		out, err := a.EncryptBody(thread, body)
		if err != nil {
			t.Fatal(err)
		}
		deliver(a, out.Send)
	}
	out, err = b.EncryptBody(thread, "pong")
	if err != nil {
		t.Fatal(err)
	}
	deliver(b, out.Send)
	out, err = a.Terminate(thread)
	if err != nil {
		t.Fatal(err)
	}
	deliver(a, out.Send)
	c.trace, c.keylog = tr.String(), kl.String()
	return c
}

func replay(t *testing.T, capture, keylog string) ([]Step, *Transcript) {
	t.Helper()
	recs, err := ReadCapture(strings.NewReader(capture))
	if err != nil {
		t.Fatal(err)
	}
	var kl *KeyLog
	if keylog != "" {
		if kl, err = ParseKeyLog(strings.NewReader(keylog)); err != nil {
			t.Fatal(err)
		}
	}
	tr := New(kl)
	var steps []Step
	for _, r := range recs {
		s := tr.Add(r.Dir, r.Stanza)
		s.Line = r.Line
		steps = append(steps, s)
	}
	return steps, tr
}

func valueOf(steps []Step, name string) (Value, bool) {
	for _, s := range steps {
		for _, v := range s.Values {
			if v.Name == name {
				return v, true
			}
		}
	}
	return Value{}, false
}

func TestDecodeRoundTrip(t *testing.T) {
	for _, prof := range []esn.Profile{esn.ProfileXEP0217, esn.ProfileXEP0116} {
		for _, g := range []int{5, 14} {
			t.Run(fmt.Sprintf("%s/group=%d", prof, g), func(t *testing.T) {
				c := record(t, prof, g, "hello", "world")
				steps, tr := replay(t, c.trace, c.keylog)
				kinds := checkFullyDecoded(t, steps, tr, "hello,world,pong")
				for _, k := range []string{"request (M1)", "accept (M2)", "complete (M3)", "identity (M4)", "terminate (encrypted)", "terminate-ack (encrypted)"} {
					if !kinds[k] {
						t.Errorf("no %s step", k)
					}
				}
				if v, ok := valueOf(steps, "SAS"); !ok || v.Value != c.sas {
					t.Errorf("SAS = %+v, want %q", v, c.sas)
				}
				for _, name := range []string{"mac_A (decrypted ID_A)", "mac_B (decrypted ID_B)", "HASH(e) = He[" + fmt.Sprint(g) + "]"} {
					if v, ok := valueOf(steps, name); !ok || v.Check != OK {
						t.Errorf("%s = %+v, want ok", name, v)
					}
				}
			})
		}
	}
}

// Without a key log the trace still derives every public value, checks
// nothing it cannot, and flags nothing.
func TestTraceWithoutKeys(t *testing.T) {
	c := record(t, esn.ProfileXEP0217, 5, "secret text")
	steps, tr := replay(t, c.trace, "")
	if _, _, bad := tr.FirstFailure(); bad {
		t.Fatal("a failure without keys")
	}
	if v, _ := valueOf(steps, "SAS"); v.Value != c.sas {
		t.Errorf("SAS %q, want %q", v.Value, c.sas)
	}
	var out bytes.Buffer
	for _, s := range steps {
		if s.Body != "" {
			t.Errorf("decrypted %q without keys", s.Body)
		}
		s.WriteText(&out, "esn: trace: ")
	}
	text := out.String()
	for _, want := range []string{"N_A (my_nonce)", "C_B = C_A xor 2^127", "HASH(e) = He[5]", "[not checked]", "SAS"} {
		if !strings.Contains(text, want) {
			t.Errorf("trace text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "secret text") {
		t.Error("trace shows the plaintext")
	}
}

// Every tampering is flagged at the first value it breaks.
func TestDecodeFlagsFirstFailure(t *testing.T) {
	c := record(t, esn.ProfileXEP0217, 5, "hello")
	lines := strings.Split(c.trace, "\n")
	find := func(substr string) int {
		for i, l := range lines {
			if strings.Contains(l, substr) {
				return i
			}
		}
		t.Fatalf("no line with %q", substr)
		return -1
	}
	replaceIn := func(i int, re, repl string) string {
		l := append([]string(nil), lines...)
		l[i] = regexp.MustCompile(re).ReplaceAllString(l[i], repl)
		if l[i] == lines[i] {
			// The random value already had that character: use another.
			l[i] = regexp.MustCompile(re).ReplaceAllString(l[i], repl[:len(repl)-1]+"B")
		}
		if l[i] == lines[i] {
			t.Fatalf("tamper %q did not change line %d", re, i)
		}
		return strings.Join(l, "\n")
	}
	m1 := find("var=\"dhhashes\"")
	m3 := find("var=\"rshashes\"")
	enc := find("<data>")
	tests := []struct {
		name    string
		capture string
		keylog  string
		want    string // name of the first failed value
	}{
		{"wrong K", c.trace, flipFirstSecretDigit(t, c.keylog, "ESN_K"), "M_A = HMAC(KM_A, C_A | ID_A)"},
		{"wrong K_final", c.trace, flipFirstSecretDigit(t, c.keylog, "ESN_KFINAL"), "M_B = HMAC(KM_B, C_B | ID_B)"},
		{"request changed (downgrade)", replaceIn(m1, `<option><value>false</value></option>`, ""), c.keylog, "mac_A (decrypted ID_A)"},
		{"commitment broken", replaceIn(m1, `(var="dhhashes"[^>]*><value>)[A-Za-z0-9+/]`, "${1}A"), c.keylog, "HASH(e) = He[5]"},
		{"rshashes changed", replaceIn(m3, `(var="rshashes"[^>]*><value>)[A-Za-z0-9+/]`, "${1}Q"), c.keylog, "mac_A (decrypted ID_A)"},
		{"ciphertext flipped", replaceIn(enc, `<data>[A-Za-z0-9+/]`, "<data>Z"), c.keylog, "mac"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, tr := replay(t, tc.capture, tc.keylog)
			st, v, bad := tr.FirstFailure()
			if !bad {
				t.Fatal("no failure flagged")
			}
			if v.Name != tc.want {
				t.Errorf("first failure at step %d %s: %q (%s), want %q", st.N, st.Kind, v.Name, v.Note, tc.want)
			}
		})
	}
}

func TestReadCaptureXML(t *testing.T) {
	c := record(t, esn.ProfileXEP0217, 5, "hello")
	var xmlDoc strings.Builder
	xmlDoc.WriteString("<log>\n")
	for _, l := range strings.Split(c.trace, "\n") {
		if _, x, ok := strings.Cut(l, ": "); ok && strings.HasPrefix(x, "<message") {
			xmlDoc.WriteString(x + "\n")
			xmlDoc.WriteString("<presence xmlns='jabber:client'/>\n")
		}
	}
	xmlDoc.WriteString("</log>\n")
	recs, err := ReadCapture(strings.NewReader(xmlDoc.String()))
	if err != nil {
		t.Fatal(err)
	}
	tr := New(mustKeyLog(t, c.keylog))
	var bodies []string
	for _, r := range recs {
		if r.Dir != "" {
			t.Errorf("XML capture record has direction %q", r.Dir)
		}
		if s := tr.Add("", r.Stanza); s.Body != "" {
			bodies = append(bodies, s.Body)
		}
	}
	if _, v, bad := tr.FirstFailure(); bad {
		t.Fatalf("failure: %+v", v)
	}
	if strings.Join(bodies, ",") != "hello,pong" {
		t.Errorf("bodies %q", bodies)
	}
}

func mustKeyLog(t *testing.T, s string) *KeyLog {
	t.Helper()
	kl, err := ParseKeyLog(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return kl
}

func TestParseKeyLog(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
		threads  int
	}{
		{"empty", "", true, 0},
		{"comment and blank", "# esn key log\n\n", true, 0},
		{"one", "ESN_K 6162 00ff\n", true, 1},
		{"duplicate kept once", "ESN_K 6162 00ff\nESN_K 6162 00ff\n", true, 1},
		{"unknown label kept", "ESN_REKEY 6162 01\n", true, 1},
		{"two fields", "ESN_K 6162\n", false, 0},
		{"bad hex", "ESN_K 6162 zz\n", false, 0},
		{"empty secret", "ESN_K 6162 \"\"\n", false, 0},
		{"long re-key secret", "ESN_REKEY_I_1 6162 " + strings.Repeat("ab", 1024) + "\n", true, 1},
		{"too long", "ESN_K 6162 " + strings.Repeat("ab", 1025) + "\n", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kl, err := ParseKeyLog(strings.NewReader(tc.in))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err == nil && kl.Threads() != tc.threads {
				t.Errorf("%d threads, want %d", kl.Threads(), tc.threads)
			}
		})
	}
	kl := mustKeyLog(t, "ESN_K 6162 00ff\nESN_K 6162 00ff\n")
	if got := kl.Secrets("ab", esn.KeyLogNegotiation); len(got) != 1 || !bytes.Equal(got[0], []byte{0, 0xff}) {
		t.Errorf("Secrets = %x", got)
	}
}

// flipFirstSecretDigit changes the first hex digit of the secret on every
// key log line labelled label (both parties log the same secret), whatever
// its value was.
func flipFirstSecretDigit(t *testing.T, keylog, label string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(label) + ` [0-9a-f]+ [0-9a-f]`)
	if !re.MatchString(keylog) {
		t.Fatalf("no %s line in the key log", label)
	}
	return re.ReplaceAllStringFunc(keylog, func(m string) string {
		last := m[len(m)-1]
		repl := "0"
		if last == '0' {
			repl = "1"
		}
		return m[:len(m)-1] + repl
	})
}

// checkFullyDecoded fails the test unless every value of the transcript
// verified, none was left unchecked for want of a key, and the decrypted
// bodies, joined by commas, are want. It returns the step kinds seen.
func checkFullyDecoded(t *testing.T, steps []Step, tr *Transcript, want string) map[string]bool {
	t.Helper()
	if st, v, bad := tr.FirstFailure(); bad {
		t.Fatalf("step %d (%s): %s failed: %s", st.N, st.Kind, v.Name, v.Note)
	}
	var got []string
	kinds := map[string]bool{}
	for _, s := range steps {
		kinds[s.Kind] = true
		if s.Body != "" {
			got = append(got, s.Body)
		}
		for _, v := range s.Values {
			if v.Check == NeedsKey {
				t.Errorf("step %d: %s not checked with the key log: %s", s.N, v.Name, v.Note)
			}
		}
	}
	if strings.Join(got, ",") != want {
		t.Errorf("decrypted bodies %q, want %s", got, want)
	}
	return kinds
}
