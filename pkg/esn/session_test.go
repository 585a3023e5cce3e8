package esn

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/xmltree"
)

func TestSimultaneousInitiation(t *testing.T) {
	p := newPair(t, pairOpts{})
	ta, outA, err := p.a.m.Initiate("bob@example.com", InitiateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tb, outB, err := p.b.m.Initiate("alice@example.org", InitiateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Both requests cross on the wire.
	var q []hop
	for _, s := range outA.Send {
		q = append(q, hop{p.a, p.b, s})
	}
	for _, s := range outB.Send {
		q = append(q, hop{p.b, p.a, s})
	}
	p.runQueue(q)
	win := min(ta, tb)
	na, ok1 := findEvent[NegotiatedEvent](p.a.events)
	nb, ok2 := findEvent[NegotiatedEvent](p.b.events)
	if !ok1 || !ok2 || na.Thread != win || nb.Thread != win || na.SAS != nb.SAS {
		t.Fatalf("want one session on %s: alice %+v bob %+v", win, p.a.events, p.b.events)
	}
	if p.a.m.Len() != 1 || p.b.m.Len() != 1 {
		t.Fatalf("sessions: %d %d", p.a.m.Len(), p.b.m.Len())
	}
	// The losing initiator was told its session was replaced.
	loser := p.a
	if win == ta {
		loser = p.b
	}
	te, ok := findEvent[TerminatedEvent](loser.events)
	if !ok || te.Replacement != win {
		t.Fatalf("loser events %+v", loser.events)
	}
	p.send(p.a, win, "after glare")
	if got := bodies(p.b.events); len(got) != 1 || got[0] != "after glare" {
		t.Fatalf("bob got %q", got)
	}
}

func TestRekey(t *testing.T) {
	pr := DefaultPreferences(ProfileXEP0116)
	pr.RekeyFreq = 1
	p := newPair(t, pairOpts{prefsA: pr, prefsB: pr})
	thread, na, _ := p.mustNegotiate()
	if na.Params.RekeyFreq != 1 || na.Params.Cipher != CipherAES256CTR {
		t.Fatalf("params %+v", na.Params)
	}
	if _, err := p.a.m.Rekey(thread); !errors.Is(err, crypt.ErrRekeyRefused) {
		t.Fatalf("rekey before any stanza: %v", err)
	}
	p.send(p.a, thread, "one")
	out, err := p.a.m.Rekey(thread)
	if err != nil {
		t.Fatal(err)
	}
	p.run(p.a, out.Send)
	if _, ok := findEvent[RekeyedEvent](p.b.events); !ok {
		t.Fatal("bob saw no re-key")
	}
	p.send(p.b, thread, "two")
	p.send(p.a, thread, "three")
	out, err = p.b.m.Rekey(thread)
	if err != nil {
		t.Fatal(err)
	}
	p.run(p.b, out.Send)
	p.send(p.a, thread, "four")
	p.send(p.b, thread, "five")
	if got := strings.Join(bodies(p.b.events), ","); got != "one,three,four" {
		t.Fatalf("bob got %q (errs %v)", got, p.b.errs)
	}
	if got := strings.Join(bodies(p.a.events), ","); got != "two,five" {
		t.Fatalf("alice got %q (errs %v)", got, p.a.errs)
	}
	if _, ok := findEvent[TerminatedEvent](append(p.a.events, p.b.events...)); ok {
		t.Fatal("a session terminated")
	}

	// XEP-0217 never re-keys.
	q := newPair(t, pairOpts{})
	th, _, _ := q.mustNegotiate()
	q.send(q.a, th, "x")
	if _, err := q.a.m.Rekey(th); !errors.Is(err, crypt.ErrRekeyRefused) {
		t.Fatalf("0217 rekey: %v", err)
	}
}

func TestAutoRekey(t *testing.T) {
	pr := DefaultPreferences(ProfileXEP0116)
	pr.RekeyFreq = 2
	p := newPair(t, pairOpts{prefsA: pr, prefsB: pr, tweak: func(a, b *Config) { a.AutoRekey = true }})
	thread, _, _ := p.mustNegotiate()
	for _, s := range []string{"a", "b", "c", "d", "e"} {
		p.send(p.a, thread, s)
	}
	n := 0
	for _, e := range p.b.events {
		if _, ok := e.(RekeyedEvent); ok {
			n++
		}
	}
	if n == 0 || strings.Join(bodies(p.b.events), "") != "abcde" {
		t.Fatalf("rekeys seen by bob: %d, bodies %q", n, bodies(p.b.events))
	}
}

// TestEncryptedTampering: replay, reorder, bit flips and drops of
// encrypted stanzas terminate the session on the receiver (XEP-0200 §8).
func TestEncryptedTampering(t *testing.T) {
	tests := []struct {
		name   string
		mangle func(a, b *xmltree.Element) []*xmltree.Element
		reason string
	}{
		{"replay", func(a, b *xmltree.Element) []*xmltree.Element { return []*xmltree.Element{a, b, a} }, "replayed stanza"},
		{"reorder", func(a, b *xmltree.Element) []*xmltree.Element { return []*xmltree.Element{b, a} }, "message authentication failed"},
		{"drop", func(a, b *xmltree.Element) []*xmltree.Element { return []*xmltree.Element{b} }, "message authentication failed"},
		{"flip data", func(a, b *xmltree.Element) []*xmltree.Element {
			d := a.Child(NSC, "c").Child(NSC, "data")
			d.Nodes[0].Text = flipB64(d.Nodes[0].Text)
			return []*xmltree.Element{a}
		}, "message authentication failed"},
		{"two c", func(a, b *xmltree.Element) []*xmltree.Element {
			a.AddChild(b.Child(NSC, "c"))
			return []*xmltree.Element{a}
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, pairOpts{})
			thread, _, _ := p.mustNegotiate()
			o1, _ := p.a.m.EncryptBody(thread, "first")
			o2, _ := p.a.m.EncryptBody(thread, "second")
			sts := tc.mangle(wireCopy(t, o1.Send[0]), wireCopy(t, o2.Send[0]))
			for _, st := range sts {
				out, err := p.b.m.Receive(st)
				if err != nil {
					p.b.errs = append(p.b.errs, err)
				}
				p.b.events = append(p.b.events, out.Events...)
				p.run(p.b, out.Send) // Bob's encrypted terminate reaches Alice
			}
			if tc.reason == "" {
				if len(p.b.errs) == 0 {
					t.Fatal("two <c/> accepted")
				}
				return
			}
			te, ok := lastEvent[TerminatedEvent](p.b.events)
			var tr *TerminatedError
			if !ok || !errors.As(te.Err, &tr) || tr.Reason != tc.reason {
				t.Fatalf("bob: %+v", p.b.events)
			}
			if !errors.Is(te.Err, crypt.ErrMAC) {
				t.Fatalf("reason %v does not wrap crypt.ErrMAC", te.Err)
			}
			ta, ok := lastEvent[TerminatedEvent](p.a.events)
			if !ok || !ta.ByPeer {
				t.Fatalf("alice not told: %+v", p.a.events)
			}
			for _, b := range bodies(p.b.events) {
				if b == "second" && tc.name != "replay" {
					t.Fatalf("tampered stream delivered %q", b)
				}
			}
		})
	}
}

func TestUnknownThreadAndReplayedNegotiation(t *testing.T) {
	p := newPair(t, pairOpts{})
	thread, out, _ := p.a.m.Initiate("bob@example.com", InitiateOptions{})
	m1 := wireCopy(t, out.Send[0])
	p.run(p.a, out.Send)
	if _, ok := findEvent[NegotiatedEvent](p.b.events); !ok {
		t.Fatal("not negotiated")
	}
	// M1 replayed into the live session: clear text inside an ESession.
	if _, err := p.b.m.Receive(wireCopy(t, m1)); !errors.Is(err, ErrPlaintext) {
		t.Fatalf("replayed M1 while active: %v", err)
	}
	// An encrypted stanza for a thread nobody knows.
	o, _ := p.a.m.EncryptBody(thread, "x")
	st := wireCopy(t, o.Send[0])
	st.Child(NSClient, "thread").Nodes[0].Text = "0000"
	if _, err := p.b.m.Receive(st); !errors.Is(err, ErrUnknownThread) {
		t.Fatalf("unknown thread: %v", err)
	}
	// From another JID than the bound one.
	st = wireCopy(t, o.Send[0])
	st.SetAttr("from", "mallory@example.net/x")
	if _, err := p.b.m.Receive(st); !errors.Is(err, ErrWrongSender) {
		t.Fatalf("wrong sender: %v", err)
	}
	// After termination the thread is never accepted again.
	tout, _ := p.a.m.Terminate(thread)
	p.run(p.a, tout.Send)
	res, err := p.b.m.Receive(wireCopy(t, m1))
	if err == nil || len(res.Send) != 0 || p.b.m.Len() != 0 {
		t.Fatalf("replayed M1 after end: %v %v", res, err)
	}
	// Not a session stanza at all.
	if _, err := p.b.m.Receive(mustParse(t, `<message xmlns='jabber:client' from='x@y/z'><body>hi</body></message>`)); !errors.Is(err, ErrNotForUs) {
		t.Fatalf("plain message: %v", err)
	}
}

func TestTimeouts(t *testing.T) {
	p := newPair(t, pairOpts{})
	_, _, err := p.a.m.Initiate("bob@example.com", InitiateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if out := p.a.m.Tick(p.clock.t.Add(59 * time.Second)); len(out.Events) != 0 {
		t.Fatal("timed out early")
	}
	out := p.a.m.Tick(p.clock.t.Add(61 * time.Second))
	te, ok := findEvent[TerminatedEvent](out.Events)
	if !ok || !errors.Is(te.Err, ErrTimeout) || p.a.m.Len() != 0 {
		t.Fatalf("negotiation timeout: %+v", out)
	}
	// Unacknowledged terminate.
	q := newPair(t, pairOpts{})
	thread, _, _ := q.mustNegotiate()
	if _, err := q.a.m.Terminate(thread); err != nil { // never delivered
		t.Fatal(err)
	}
	out = q.a.m.Tick(q.clock.t.Add(31 * time.Second))
	te, ok = findEvent[TerminatedEvent](out.Events)
	if !ok || te.Acknowledged || !errors.Is(te.Err, ErrTimeout) {
		t.Fatalf("ack timeout: %+v", out)
	}
}

func TestDeclineAndPolicy(t *testing.T) {
	p := newPair(t, pairOpts{tweak: func(a, b *Config) { b.Accept = func(string) bool { return false } }})
	p.negotiate()
	te, ok := lastEvent[TerminatedEvent](p.a.events)
	if !ok || !errors.Is(te.Err, ErrDeclined) {
		t.Fatalf("alice: %+v", p.a.events)
	}
	if _, ok := findEvent[WarningEvent](p.b.events); !ok {
		t.Fatal("bob was not told about the decline")
	}
	// Silent refusal sends nothing.
	q := newPair(t, pairOpts{tweak: func(a, b *Config) {
		b.Accept = func(string) bool { return false }
		b.SilentRefuse = true
	}})
	q.negotiate()
	if len(q.wire) != 1 {
		t.Fatalf("silent refusal answered: %q", q.wire)
	}
}

func TestDisclosureWarning(t *testing.T) {
	pa, pb := DefaultPreferences(ProfileXEP0217), DefaultPreferences(ProfileXEP0217)
	pa.AcceptDisclosure = []string{"never", "enabled"}
	pb.Disclosure = "enabled"
	p := newPair(t, pairOpts{prefsA: pa, prefsB: pb})
	p.mustNegotiate()
	for _, e := range []*endpoint{p.a, p.b} {
		w, ok := findEvent[WarningEvent](e.events)
		if !ok || !strings.Contains(w.Text, "enabled") {
			t.Fatalf("no disclosure warning: %+v", e.events)
		}
	}
	// Alice accepting only never refuses Bob's enabled.
	q := newPair(t, pairOpts{prefsB: pb})
	q.negotiate()
	if ne := negErr(t, q.b); ne.Condition != CondNotAcceptable || ne.Fields[0] != "disclosure" {
		t.Fatalf("bob: %+v", ne)
	}
}

func TestLoggingVocabulary(t *testing.T) {
	tests := []struct {
		field, value string
		want         Logging
		ok           bool
	}{
		{"otr", "true", LoggingMustNot, true}, {"otr", "0", LoggingMay, true},
		{"logging", "mustnot", LoggingMustNot, true}, {"logging", "may", LoggingMay, true},
		{"logging", "false", LoggingMustNot, true}, {"logging", "true", LoggingMay, true},
		{"otr", "maybe", 0, false}, {"other", "true", 0, false},
	}
	for _, tc := range tests {
		got, ok := loggingValue(tc.field, tc.value)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("%s=%s: %v %v", tc.field, tc.value, got, ok)
		}
	}
	// XEP-0116 profile negotiates "logging" may/mustnot end to end.
	pr := DefaultPreferences(ProfileXEP0116)
	p := newPair(t, pairOpts{prefsA: pr, prefsB: pr})
	_, na, _ := p.mustNegotiate()
	if na.Params.Logging != LoggingMustNot || na.Params.LoggingField != "logging" {
		t.Fatalf("%+v", na.Params)
	}
}

func TestPlaintextInsideSession(t *testing.T) {
	p := newPair(t, pairOpts{})
	thread, _, _ := p.mustNegotiate()
	st := mustParse(t, `<message xmlns='jabber:client' from='alice@example.org/pda' type='chat'><thread>`+thread+`</thread><body>sneaky</body></message>`)
	out, err := p.b.m.Receive(st)
	if !errors.Is(err, ErrPlaintext) || len(out.Events) != 0 {
		t.Fatalf("%v %v", out, err)
	}
	// A clear-text terminate is ignored as well.
	term := newMessage("alice@example.org/pda", "bob@example.com/laptop", "normal", thread)
	term.AddChild(featureWrap(simpleForm(FormTypeSubmit, boolField("terminate", true))))
	if _, err := p.b.m.Receive(wireCopy(t, term)); !errors.Is(err, ErrPlaintext) || p.b.m.Len() != 1 {
		t.Fatalf("clear terminate: %v", err)
	}
}

func TestManagerBounds(t *testing.T) {
	m, err := NewManager(Config{Local: "a@b/c", MaxSessions: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		_, _, err := m.Initiate("peer@x", InitiateOptions{})
		if (i < 2) != (err == nil) {
			t.Fatalf("session %d: %v", i, err)
		}
	}
	if _, err := NewManager(Config{Local: "nojid"}); err == nil {
		t.Fatal("bad local JID accepted")
	}
	if _, err := NewManager(Config{Local: "a@b/c", Preferences: Preferences{Groups: []int{3}}}); err == nil {
		t.Fatal("group 3 accepted")
	}
}

// TestSecretsNotPrinted checks that no key reaches the textual form of
// events and errors.
func TestSecretsNotPrinted(t *testing.T) {
	var keys [][]byte
	p := newPair(t, pairOpts{tweak: func(a, b *Config) { a.KeyLog = func(e KeyLogEntry) { keys = append(keys, e.Secret) } }})
	thread, na, nb := p.mustNegotiate()
	if len(keys) != 2 {
		t.Fatalf("key log entries: %d", len(keys))
	}
	info, _ := p.a.m.Info(thread)
	text := strings.Join([]string{sprint(na), sprint(nb), sprint(info)}, " ")
	for _, k := range keys {
		if strings.Contains(text, string(k)) || strings.Contains(text, hexs(k)) {
			t.Fatal("secret printed")
		}
	}
	line := KeyLogEntry{Label: KeyLogFinal, Thread: "t 1", Secret: []byte{1, 2}}.String()
	if line != "ESN_KFINAL 742031 0102" {
		t.Fatalf("key log line %q", line)
	}
}
