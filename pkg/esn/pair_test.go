package esn

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/xmltree"
)

// endpoint is one side of an in-memory pair.
type endpoint struct {
	m      *Manager
	jid    string
	events []Event
	errs   []error
}

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

type pair struct {
	t      testing.TB
	a, b   *endpoint
	clock  *clock
	tamper func(from, to *endpoint, st *xmltree.Element) []*xmltree.Element
	wire   []string // transcript as sent
}

type pairOpts struct {
	prefsA, prefsB     Preferences
	secretsA, secretsB RetainedSecrets
	tweak              func(a, b *Config)
}

func newPair(t testing.TB, o pairOpts) *pair {
	t.Helper()
	c := &clock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	mk := func(jid string, prefs Preferences, sec RetainedSecrets) Config {
		return Config{Local: jid, Preferences: prefs, Secrets: sec, Now: c.now}
	}
	ca := mk("alice@example.org/pda", o.prefsA, o.secretsA)
	cb := mk("bob@example.com/laptop", o.prefsB, o.secretsB)
	if o.tweak != nil {
		o.tweak(&ca, &cb)
	}
	ma, err := NewManager(ca)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := NewManager(cb)
	if err != nil {
		t.Fatal(err)
	}
	return &pair{t: t, clock: c, a: &endpoint{m: ma, jid: ca.Local}, b: &endpoint{m: mb, jid: cb.Local}}
}

// wireCopy serializes and re-parses a stanza, as a server would.
func wireCopy(t testing.TB, st *xmltree.Element) *xmltree.Element {
	t.Helper()
	el, err := xmltree.Parse([]byte(st.String()), xmltree.Limits{})
	if err != nil {
		t.Fatalf("re-parse %s: %v", st, err)
	}
	return el
}

type hop struct {
	from, to *endpoint
	st       *xmltree.Element
}

// run delivers stanzas from one side and everything they provoke, until
// quiet. Receive errors are recorded on the receiving endpoint.
func (p *pair) run(from *endpoint, sts []*xmltree.Element) {
	p.t.Helper()
	var q []hop
	for _, s := range sts {
		q = append(q, hop{from, p.other(from), s})
	}
	p.runQueue(q)
}

func (p *pair) other(e *endpoint) *endpoint {
	if e == p.a {
		return p.b
	}
	return p.a
}

// runQueue delivers hops in FIFO order (XMPP keeps the order of stanzas
// between two entities), appending what each provokes.
func (p *pair) runQueue(q []hop) {
	p.t.Helper()
	for steps := 0; len(q) > 0; steps++ {
		if steps > 1000 {
			p.t.Fatal("message loop")
		}
		h := q[0]
		q = q[1:]
		sts := []*xmltree.Element{wireCopy(p.t, h.st)}
		if p.tamper != nil {
			sts = p.tamper(h.from, h.to, sts[0])
		}
		for _, st := range sts {
			p.wire = append(p.wire, st.String())
			out, err := h.to.m.Receive(st)
			if err != nil {
				h.to.errs = append(h.to.errs, err)
			}
			h.to.events = append(h.to.events, out.Events...)
			for _, s := range out.Send {
				q = append(q, hop{h.to, h.from, s})
			}
		}
	}
}

func (p *pair) negotiate() string {
	p.t.Helper()
	thread, out, err := p.a.m.Initiate("bob@example.com", InitiateOptions{})
	if err != nil {
		p.t.Fatal(err)
	}
	p.run(p.a, out.Send)
	return thread
}

func findEvent[T Event](evs []Event) (T, bool) {
	var zero T
	for _, e := range evs {
		if v, ok := e.(T); ok {
			return v, true
		}
	}
	return zero, false
}

func lastEvent[T Event](evs []Event) (T, bool) {
	var zero T
	for i := len(evs) - 1; i >= 0; i-- {
		if v, ok := evs[i].(T); ok {
			return v, true
		}
	}
	return zero, false
}

func (p *pair) mustNegotiate() (string, NegotiatedEvent, NegotiatedEvent) {
	p.t.Helper()
	thread := p.negotiate()
	na, ok1 := findEvent[NegotiatedEvent](p.a.events)
	nb, ok2 := findEvent[NegotiatedEvent](p.b.events)
	if !ok1 || !ok2 {
		p.t.Fatalf("not negotiated: alice %v %v; bob %v %v", p.a.events, p.a.errs, p.b.events, p.b.errs)
	}
	return thread, na, nb
}

// terminateByA ends thread from Alice, delivers what she sends, and
// checks that Bob ended it as asked by his peer. Alice's own event is the
// caller's to check: whether she waits for an acknowledgement depends on
// the profile.
func (p *pair) terminateByA(thread string) Output {
	p.t.Helper()
	out, err := p.a.m.Terminate(thread)
	if err != nil {
		p.t.Fatal(err)
	}
	p.run(p.a, out.Send)
	tb, ok := lastEvent[TerminatedEvent](p.b.events)
	if !ok || tb.Err != nil || !tb.ByPeer {
		p.t.Fatalf("bob termination: %+v", tb)
	}
	return out
}

// converse sends hello and world from Alice and hi alice from Bob, and
// checks each got exactly the other's messages, in order.
func (p *pair) converse(thread string) {
	p.t.Helper()
	p.send(p.a, thread, "hello")
	p.send(p.b, thread, "hi alice")
	p.send(p.a, thread, "world")
	if got := strings.Join(bodies(p.b.events), "|"); got != "hello|world" {
		p.t.Fatalf("bob got %q", got)
	}
	if got := strings.Join(bodies(p.a.events), "|"); got != "hi alice" {
		p.t.Fatalf("alice got %q", got)
	}
}

func (p *pair) send(from *endpoint, thread, body string) {
	p.t.Helper()
	out, err := from.m.EncryptBody(thread, body)
	if err != nil {
		p.t.Fatalf("encrypt: %v", err)
	}
	p.run(from, out.Send)
}

func bodies(evs []Event) []string {
	var out []string
	for _, e := range evs {
		if m, ok := e.(MessageEvent); ok {
			out = append(out, m.Body)
		}
	}
	return out
}

func TestNegotiateProfilesAndGroups(t *testing.T) {
	for _, prof := range []Profile{ProfileXEP0217, ProfileXEP0116} {
		for _, g := range []int{5, 14, 15} {
			t.Run(fmt.Sprintf("%s/group=%d", prof, g), func(t *testing.T) {
				pr := DefaultPreferences(prof)
				pr.Groups = []int{g}
				p := newPair(t, pairOpts{prefsA: pr, prefsB: pr, secretsA: &MemorySecrets{}, secretsB: &MemorySecrets{}})
				thread, na, nb := p.mustNegotiate()
				if na.SAS != nb.SAS || len(na.SAS) != 5 {
					t.Fatalf("SAS differ: %q %q", na.SAS, nb.SAS)
				}
				if na.Params.Group != g || nb.Params.Group != g || na.Params.Profile != prof {
					t.Fatalf("params %+v / %+v", na.Params, nb.Params)
				}
				if na.Verified || na.RetainedSecret {
					t.Fatal("first session cannot share a retained secret")
				}
				if nb.Peer != "alice@example.org/pda" || na.Peer != "bob@example.com/laptop" {
					t.Fatalf("binding: %q %q", na.Peer, nb.Peer)
				}
				p.converse(thread)
				for _, w := range p.wire {
					if strings.Contains(w, "hello") || strings.Contains(w, "<body") {
						t.Fatalf("plaintext on the wire: %s", w)
					}
				}
				// Terminate from Alice; Bob acknowledges.
				p.terminateByA(thread)
				ta, ok := lastEvent[TerminatedEvent](p.a.events)
				if !ok || ta.Err != nil || !ta.Acknowledged {
					t.Fatalf("alice termination: %+v", ta)
				}
				if p.a.m.Len() != 0 || p.b.m.Len() != 0 {
					t.Fatal("sessions left")
				}
			})
		}
	}
}

func TestTerminateByResponder(t *testing.T) {
	p := newPair(t, pairOpts{})
	thread, _, _ := p.mustNegotiate()
	out, err := p.b.m.Terminate(thread)
	if err != nil {
		t.Fatal(err)
	}
	p.run(p.b, out.Send)
	tb, _ := lastEvent[TerminatedEvent](p.b.events)
	ta, _ := lastEvent[TerminatedEvent](p.a.events)
	if !tb.Acknowledged || tb.Err != nil || !ta.ByPeer || ta.Err != nil {
		t.Fatalf("bob %+v alice %+v", tb, ta)
	}
	if _, err := p.a.m.EncryptBody(thread, "late"); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("encrypt after end: %v", err)
	}
}

func TestRetainedSecretChain(t *testing.T) {
	sa, sb := &MemorySecrets{}, &MemorySecrets{}
	p := newPair(t, pairOpts{secretsA: sa, secretsB: sb})
	_, na, _ := p.mustNegotiate()
	if na.RetainedSecret {
		t.Fatal("first session shared a secret")
	}
	// The user compared the SAS: mark both chains verified.
	la, _ := sa.Retained("alice@example.org", "bob@example.com")
	lb, _ := sb.Retained("bob@example.com", "alice@example.org")
	if len(la) != 1 || len(lb) != 1 || string(la[0].Secret) != string(lb[0].Secret) {
		t.Fatalf("retained secrets differ or missing: %d %d", len(la), len(lb))
	}
	sa.SetVerified("alice@example.org", la[0].ID, true)
	sb.SetVerified("bob@example.com", lb[0].ID, true)

	p2 := newPair(t, pairOpts{secretsA: sa, secretsB: sb})
	_, na2, nb2 := p2.mustNegotiate()
	if !na2.RetainedSecret || !nb2.RetainedSecret || !na2.Verified || !nb2.Verified {
		t.Fatalf("second session: alice %+v bob %+v", na2, nb2)
	}
	la2, _ := sa.Retained("alice@example.org", "bob@example.com")
	lb2, _ := sb.Retained("bob@example.com", "alice@example.org")
	if len(la2) != 1 || string(la2[0].Secret) == string(la[0].Secret) || string(la2[0].Secret) != string(lb2[0].Secret) {
		t.Fatal("chain not replaced identically on both sides")
	}
}

func TestOSS(t *testing.T) {
	for _, tc := range []struct {
		name   string
		a, b   string
		wantOK bool
	}{{"same", "pw", "pw", true}, {"one side", "pw", "", false}, {"differ", "a", "b", false}} {
		t.Run(tc.name, func(t *testing.T) {
			pa, pb := DefaultPreferences(ProfileXEP0217), DefaultPreferences(ProfileXEP0217)
			pa.OSS, pb.OSS = []byte(tc.a), []byte(tc.b)
			p := newPair(t, pairOpts{prefsA: pa, prefsB: pb})
			p.negotiate()
			_, ok := findEvent[NegotiatedEvent](p.a.events)
			if ok != tc.wantOK {
				t.Fatalf("negotiated=%v, want %v (%v)", ok, tc.wantOK, p.a.events)
			}
			if !tc.wantOK {
				ta, _ := lastEvent[TerminatedEvent](p.a.events)
				var ne *NegotiationError
				if !errors.As(ta.Err, &ne) || ne.Condition != CondFeatureNotImplemented || ne.Step != "identity" {
					t.Fatalf("alice: %+v", ta.Err)
				}
			}
		})
	}
}

var _ = crypt.Initiator
