package runner

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/xmltree"
)

// memConn is one end of an in-memory server: what it sends is serialized,
// re-parsed and handed, in order, to the other end's runner on that end's
// dispatch goroutine (as pkg/transport does).
type memConn struct {
	jid   string
	peer  *memConn
	queue chan *xmltree.Element
	r     *Runner
	done  chan struct{}
	once  sync.Once
	drop  bool          // the peer vanished: stanzas go nowhere
	gate  chan struct{} // non-nil: incoming stanzas wait until it closes
	mu    sync.Mutex
}

// hold stops handing incoming stanzas to the runner until release is
// called, so that stanzas sent meanwhile cross in flight.
func (c *memConn) hold() (release func()) {
	g := make(chan struct{})
	c.mu.Lock()
	c.gate = g
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		c.gate = nil
		c.mu.Unlock()
		close(g)
	}
}

func newMemPair() (*memConn, *memConn) {
	a := &memConn{jid: "alice@example.org/a", queue: make(chan *xmltree.Element, 1024), done: make(chan struct{})}
	b := &memConn{jid: "bob@example.com/b", queue: make(chan *xmltree.Element, 1024), done: make(chan struct{})}
	a.peer, b.peer = b, a
	return a, b
}

func (c *memConn) Send(ctx context.Context, st *xmltree.Element) error {
	select {
	case <-c.done:
		return errors.New("closed")
	default:
	}
	c.peer.mu.Lock()
	gone := c.peer.drop
	c.peer.mu.Unlock()
	if gone {
		return nil
	}
	el, err := xmltree.Parse([]byte(st.String()), xmltree.Limits{})
	if err != nil {
		return err
	}
	el.SetAttr("from", c.jid)
	c.peer.queue <- el
	return nil
}

func (c *memConn) Done() <-chan struct{} { return c.done }
func (c *memConn) Err() error            { return errors.New("stream closed") }

// serve dispatches incoming stanzas to the runner until the conn closes.
func (c *memConn) serve() {
	go func() {
		for {
			select {
			case st := <-c.queue:
				c.mu.Lock()
				gate := c.gate
				c.mu.Unlock()
				if gate != nil {
					select {
					case <-gate:
					case <-c.done:
						return
					}
				}
				if st.Name.Local == "presence" {
					c.r.HandlePresence(st)
				} else {
					c.r.HandleMessage(st)
				}
			case <-c.done:
				return
			}
		}
	}()
}

// vanish kills this end: the peer gets unavailable presence, as from a
// server whose client connection died.
func (c *memConn) vanish() {
	c.mu.Lock()
	c.drop = true
	c.mu.Unlock()
	c.once.Do(func() { close(c.done) })
	p := xmltree.New("jabber:client", "presence")
	p.SetAttr("type", "unavailable")
	p.SetAttr("from", c.jid)
	c.peer.queue <- p
}

type side struct {
	c      *memConn
	r      *Runner
	mu     sync.Mutex
	events []esn.Event
	trace  bytes.Buffer
	// slow makes OnEvent take its time, as a command writing to a slow
	// terminal would.
	slow atomic.Bool
}

func (s *side) got() []esn.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]esn.Event(nil), s.events...)
}

func newSides(t *testing.T, tweak func(*esn.Config)) (*side, *side) {
	t.Helper()
	return newSidesWith(t, tweak, func(c *memConn) Conn { return c })
}

// newSidesWith is newSides with the connection each runner gets built by
// conn around the in-memory one.
func newSidesWith(t *testing.T, tweak func(*esn.Config), conn func(*memConn) Conn) (*side, *side) {
	t.Helper()
	ca, cb := newMemPair()
	pr := esn.DefaultPreferences(esn.ProfileXEP0217)
	pr.Groups = []int{5}
	suite := crypt.XEPSuite()
	suite.MinGroup = 5
	mk := func(c *memConn) *side {
		cfg := esn.Config{Local: c.jid, Preferences: pr, Suite: &suite}
		if tweak != nil {
			tweak(&cfg)
		}
		m, err := esn.NewManager(cfg)
		if err != nil {
			t.Fatal(err)
		}
		s := &side{c: c}
		s.r = New(conn(c), m, Options{TickInterval: 20 * time.Millisecond, Trace: &s.trace, TracePrefix: "trace: ",
			OnEvent: func(ev esn.Event) {
				if s.slow.Load() {
					time.Sleep(50 * time.Millisecond)
				}
				s.mu.Lock()
				s.events = append(s.events, ev)
				s.mu.Unlock()
			}})
		c.r = s.r
		c.serve()
		s.r.Start()
		t.Cleanup(func() { c.once.Do(func() { close(c.done) }); s.r.Stop() })
		return s
	}
	return mk(ca), mk(cb)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestSendAndTerminate(t *testing.T) {
	a, b := newSides(t, nil)
	thread, err := a.r.Initiate("bob@example.com", esn.InitiateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	neg, err := a.r.Negotiated(ctx(t), thread)
	if err != nil {
		t.Fatal(err)
	}
	if neg.Peer != b.c.jid || neg.SAS == "" {
		t.Errorf("negotiated %+v", neg)
	}
	for _, body := range []string{"hello", "world"} {
		if err := a.r.SendBody(thread, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.r.Terminate(ctx(t), thread); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	var bodies []string
	for _, ev := range b.got() {
		if m, ok := ev.(esn.MessageEvent); ok {
			bodies = append(bodies, m.Body)
		}
	}
	if strings.Join(bodies, ",") != "hello,world" {
		t.Errorf("bob got %q", bodies)
	}
	if a.r.Manager().Len() != 0 || b.r.Manager().Len() != 0 {
		t.Errorf("sessions left: %d, %d", a.r.Manager().Len(), b.r.Manager().Len())
	}
	tr := a.trace.String()
	for _, want := range []string{"trace: [1] SEND request (M1)", "RECV accept (M2)", "SEND complete (M3)", "SAS", "= " + neg.SAS} {
		if !strings.Contains(tr, want) {
			t.Errorf("trace lacks %q:\n%s", want, tr)
		}
	}
	if strings.Contains(tr, "hello") {
		t.Error("trace shows a message body")
	}
}

func TestPeerOffline(t *testing.T) {
	a, b := newSides(t, nil)
	thread, _ := a.r.Initiate("bob@example.com", esn.InitiateOptions{})
	if _, err := a.r.Negotiated(ctx(t), thread); err != nil {
		t.Fatal(err)
	}
	b.c.vanish()
	var pe *PeerOfflineError
	deadline := time.Now().Add(10 * time.Second)
	for a.r.Err(thread) == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := a.r.SendBody(thread, "anyone?"); !errors.As(err, &pe) || pe.Peer != b.c.jid {
		t.Fatalf("SendBody after the peer left = %v, want PeerOfflineError", err)
	}
	if err := a.r.Terminate(ctx(t), thread); !errors.As(err, &pe) {
		t.Fatalf("Terminate = %v, want PeerOfflineError", err)
	}
}

func TestPeerSilent(t *testing.T) {
	a, b := newSides(t, func(c *esn.Config) { c.NegotiationTimeout = 100 * time.Millisecond })
	b.c.mu.Lock()
	b.c.drop = true // bob's client receives nothing and never answers
	b.c.mu.Unlock()
	thread, _ := a.r.Initiate("bob@example.com", esn.InitiateOptions{})
	_, err := a.r.Negotiated(ctx(t), thread)
	if !errors.Is(err, esn.ErrTimeout) {
		t.Fatalf("Negotiated = %v, want ErrTimeout", err)
	}
}

func TestSimultaneousInitiation(t *testing.T) {
	a, b := newSides(t, nil)
	// Both requests are in flight before either arrives: otherwise the
	// second initiator may answer the first request before initiating, and
	// two ordinary sessions result.
	releaseA, releaseB := a.c.hold(), b.c.hold()
	ta, _ := a.r.Initiate("bob@example.com", esn.InitiateOptions{})
	tb, _ := b.r.Initiate("alice@example.org", esn.InitiateOptions{})
	releaseA()
	releaseB()
	na, err1 := a.r.Negotiated(ctx(t), ta)
	nb, err2 := b.r.Negotiated(ctx(t), tb)
	if err1 != nil || err2 != nil {
		t.Fatalf("Negotiated: %v, %v", err1, err2)
	}
	if na.Thread != nb.Thread || na.SAS != nb.SAS {
		t.Fatalf("different sessions: %s/%s", na.Thread, nb.Thread)
	}
	if err := a.r.SendBody(na.Thread, "hi"); err != nil {
		t.Fatal(err)
	}
	if err := a.r.Terminate(ctx(t), na.Thread); err != nil {
		t.Fatal(err)
	}
}

func TestConnectionLost(t *testing.T) {
	a, _ := newSides(t, nil)
	a.c.mu.Lock()
	a.c.peer.drop = true
	a.c.mu.Unlock()
	thread, _ := a.r.Initiate("bob@example.com", esn.InitiateOptions{})
	a.c.once.Do(func() { close(a.c.done) })
	if _, err := a.r.Negotiated(ctx(t), thread); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("Negotiated = %v, want ErrConnectionLost", err)
	}
}

func TestTerminateAllAndPlaintextWarning(t *testing.T) {
	a, b := newSides(t, nil)
	thread, _ := a.r.Initiate("bob@example.com", esn.InitiateOptions{})
	if _, err := a.r.Negotiated(ctx(t), thread); err != nil {
		t.Fatal(err)
	}
	plain := xmltree.New("jabber:client", "message")
	plain.AddChild(xmltree.New("jabber:client", "body").AddText("clear"))
	a.c.Send(ctx(t), plain)
	// bob terminates everything (as esn receive does on exit).
	if err := b.r.TerminateAll(ctx(t)); err != nil {
		t.Fatalf("TerminateAll: %v", err)
	}
	warned := false
	for _, ev := range b.got() {
		if w, ok := ev.(esn.WarningEvent); ok && strings.Contains(w.Text, "not encrypted") {
			warned = true
		}
		if m, ok := ev.(esn.MessageEvent); ok {
			t.Errorf("clear text delivered as a message: %q", m.Body)
		}
	}
	if !warned {
		t.Error("no warning for the clear-text message")
	}
	if a.r.Manager().Len() != 0 {
		t.Error("alice's session still open after bob's terminate")
	}
}

// TestEventBeforeRelease: OnEvent has seen a session's event before the
// callers waiting for it are released, so that a command prints its
// "negotiated" and "terminated" lines before what follows the wait (send's
// "sent" and "done").
func TestEventBeforeRelease(t *testing.T) {
	a, _ := newSides(t, nil)
	a.slow.Store(true)
	seen := func(kind string) bool {
		for _, ev := range a.got() {
			switch ev.(type) {
			case esn.NegotiatedEvent:
				if kind == "negotiated" {
					return true
				}
			case esn.TerminatedEvent:
				if kind == "terminated" {
					return true
				}
			}
		}
		return false
	}
	thread, err := a.r.Initiate("bob@example.com", esn.InitiateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.r.Negotiated(ctx(t), thread); err != nil {
		t.Fatal(err)
	}
	if !seen("negotiated") {
		t.Error("Negotiated returned before OnEvent had the NegotiatedEvent")
	}
	if err := a.r.Terminate(ctx(t), thread); err != nil {
		t.Fatal(err)
	}
	if !seen("terminated") {
		t.Error("Terminate returned before OnEvent had the TerminatedEvent")
	}
}
