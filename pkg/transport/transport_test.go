package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/xmltree"
	"mellium.im/xmpp/jid"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustParse(t *testing.T, s string) *xmltree.Element {
	t.Helper()
	el, err := xmltree.Parse([]byte(s), xmltree.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return el
}

func TestDialErrors(t *testing.T) {
	// A port that was open and is now closed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()

	srv := startServer(t, serverOptions{})
	cert, _ := selfSigned(t, testDomain)
	tlsLn, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tlsLn.Close() })
	go func() {
		for {
			c, err := tlsLn.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()

	alice := jid.MustParse(testUser + "@" + testDomain)
	tests := []struct {
		name  string
		cfg   Config
		check func(t *testing.T, err error)
	}{
		{"closed port", Config{JID: alice, Password: testPassword, Server: closedAddr}, func(t *testing.T, err error) {
			var ce *ConnectError
			if !errors.As(err, &ce) || ce.Addr != closedAddr {
				t.Fatalf("got %v, want *ConnectError for %s", err, closedAddr)
			}
			if !strings.Contains(err.Error(), closedAddr) {
				t.Errorf("message %q does not name %s", err, closedAddr)
			}
		}},
		{"wrong password", Config{JID: alice, Password: "wrong", Server: srv.addr(), AllowPlaintext: true}, func(t *testing.T, err error) {
			var ae *AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("got %v, want *AuthError", err)
			}
			if ae.Condition != "not-authorized" || fmt.Sprint(ae.Mechanisms) != "[PLAIN]" {
				t.Errorf("got condition %q mechanisms %v", ae.Condition, ae.Mechanisms)
			}
			if !strings.Contains(err.Error(), "PLAIN") || !strings.Contains(err.Error(), "authentication failed") {
				t.Errorf("message %q", err)
			}
			if strings.Contains(err.Error(), "wrong") {
				t.Errorf("message %q contains the password", err)
			}
		}},
		{"unknown user", Config{JID: jid.MustParse("mallory@localhost"), Password: testPassword, Server: srv.addr(), AllowPlaintext: true}, func(t *testing.T, err error) {
			var ae *AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("got %v, want *AuthError", err)
			}
		}},
		{"untrusted certificate, direct TLS", Config{JID: alice, Password: testPassword, Server: tlsLn.Addr().String(), DirectTLS: true}, func(t *testing.T, err error) {
			var te *TLSError
			if !errors.As(err, &te) || te.ServerName != testDomain {
				t.Fatalf("got %v, want *TLSError for %s", err, testDomain)
			}
			if !strings.Contains(err.Error(), `TLS verification of server name "localhost"`) {
				t.Errorf("message %q", err)
			}
		}},
		{"plaintext to a routable address", Config{JID: alice, Password: testPassword, Server: "192.0.2.1:5222", AllowPlaintext: true}, func(t *testing.T, err error) {
			if !errors.Is(err, ErrPlaintextRefused) {
				t.Fatalf("got %v, want ErrPlaintextRefused", err)
			}
		}},
		{"plaintext with direct TLS", Config{JID: alice, Password: testPassword, Server: srv.addr(), AllowPlaintext: true, DirectTLS: true}, func(t *testing.T, err error) {
			if !errors.Is(err, ErrPlaintextRefused) {
				t.Fatalf("got %v, want ErrPlaintextRefused", err)
			}
		}},
		{"SRV fallback", Config{JID: jid.MustParse("alice@esn.invalid"), Password: "x"}, func(t *testing.T, err error) {
			var ce *ConnectError
			if !errors.As(err, &ce) || ce.Addr != "esn.invalid:5222" {
				t.Fatalf("got %v, want *ConnectError for esn.invalid:5222", err)
			}
		}},
		{"SRV fallback, direct TLS", Config{JID: jid.MustParse("alice@esn.invalid"), Password: "x", DirectTLS: true}, func(t *testing.T, err error) {
			var ce *ConnectError
			if !errors.As(err, &ce) || ce.Addr != "esn.invalid:5223" {
				t.Fatalf("got %v, want *ConnectError for esn.invalid:5223", err)
			}
		}},
		{"no localpart", Config{JID: jid.MustParse("localhost"), Server: srv.addr()}, func(t *testing.T, err error) {
			if err == nil || !strings.Contains(err.Error(), "user@domain") {
				t.Fatalf("got %v", err)
			}
		}},
		{"bad server address", Config{JID: alice, Server: "localhost"}, func(t *testing.T, err error) {
			if err == nil || !strings.Contains(err.Error(), "host:port") {
				t.Fatalf("got %v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Dial(ctxT(t, 10*time.Second), tc.cfg)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			tc.check(t, err)
		})
	}
}

func TestDialDeadline(t *testing.T) {
	// A server that accepts and then says nothing.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			time.Sleep(2 * time.Second)
			c.Close()
		}
	}()
	cfg := Config{JID: jid.MustParse("alice@localhost"), Password: "x", Server: ln.Addr().String(), AllowPlaintext: true}
	start := time.Now()
	_, err = Dial(ctxT(t, 200*time.Millisecond), cfg)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Dial returned after %v, long after its deadline", d)
	}
}

func TestSTARTTLS(t *testing.T) {
	cert, pool := selfSigned(t, testDomain)
	srv := startServer(t, serverOptions{tls: &tls.Config{Certificates: []tls.Certificate{cert}}})
	base := Config{JID: jid.MustParse(testUser + "@" + testDomain), Password: testPassword, Server: srv.addr()}

	t.Run("verified", func(t *testing.T) {
		cfg := base
		cfg.RootCAs = pool
		c, err := Dial(ctxT(t, 10*time.Second), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		p := srv.accept()
		if p.s.ConnectionState().Version == 0 {
			t.Error("server side is not on TLS")
		}
		if c.LocalJID().Bare().String() != "alice@localhost" || c.LocalJID().Resourcepart() == "" {
			t.Errorf("LocalJID = %s", c.LocalJID())
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		_, err := Dial(ctxT(t, 10*time.Second), base)
		var te *TLSError
		if !errors.As(err, &te) || te.ServerName != testDomain {
			t.Fatalf("got %v, want *TLSError", err)
		}
	})
	t.Run("wrong name", func(t *testing.T) {
		cfg := base
		cfg.RootCAs = pool
		cfg.JID = jid.MustParse("alice@example.org")
		_, err := Dial(ctxT(t, 10*time.Second), cfg)
		var te *TLSError
		if !errors.As(err, &te) || te.ServerName != "example.org" {
			t.Fatalf("got %v, want *TLSError for example.org", err)
		}
	})
	t.Run("server without STARTTLS", func(t *testing.T) {
		plain := startServer(t, serverOptions{})
		cfg := base
		cfg.Server = plain.addr()
		_, err := Dial(ctxT(t, 10*time.Second), cfg)
		var te *TLSError
		if !errors.As(err, &te) {
			t.Fatalf("got %v, want *TLSError (no downgrade to plaintext)", err)
		}
	})
}

func TestSendAssignsIDAndNamespace(t *testing.T) {
	c, p := dialPair(t, Config{})
	msg := xmltree.New("", "message", attr("to", "bob@localhost"))
	msg.AddChild(xmltree.New("", "body").AddText("hi <&>"))
	if err := c.Send(ctxT(t, 5*time.Second), msg); err != nil {
		t.Fatal(err)
	}
	if msg.Attribute("id") != "" {
		t.Error("Send modified its argument")
	}
	got := p.next(t)
	if got.Name.Space != nsClient || got.Attribute("id") == "" || got.ChildText("", "body") != "hi <&>" {
		t.Errorf("server got %s", got)
	}
	if err := c.Send(ctxT(t, time.Second), xmltree.New("urn:x", "foo")); err == nil {
		t.Error("Send of a non-stanza succeeded")
	}
}

func TestSendIQMatching(t *testing.T) {
	c, p := dialPair(t, Config{})
	type result struct {
		el  *xmltree.Element
		err error
	}
	ask := func(to string, timeout time.Duration) (chan result, *xmltree.Element) {
		done := make(chan result, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			el, err := c.SendIQ(ctx, iq("get", to, xmltree.New("urn:example:q", "q")))
			done <- result{el, err}
		}()
		return done, p.nextIQ(t)
	}
	reply := func(req *xmltree.Element, from, typ, body string) {
		fromAttr := ""
		if from != "" {
			fromAttr = fmt.Sprintf(" from='%s'", from)
		}
		p.write(t, fmt.Sprintf(`<iq type='%s' id='%s'%s to='%s'>%s</iq>`, typ, req.Attribute("id"), fromAttr, c.LocalJID(), body))
	}

	t.Run("spoofed replies are ignored", func(t *testing.T) {
		done, req := ask("bob@localhost/phone", 5*time.Second)
		reply(req, "mallory@localhost/x", "result", "<spoof xmlns='x'/>")
		reply(req, "", "result", "<spoof xmlns='x'/>")
		reply(req, "bob@localhost", "result", "<spoof xmlns='x'/>")
		reply(req, "bob@localhost/phone", "result", "<real xmlns='x'/>")
		r := <-done
		if r.err != nil || r.el.Child("x", "real") == nil {
			t.Fatalf("got %v, %v", r.el, r.err)
		}
	})
	t.Run("no to: server or own account may answer", func(t *testing.T) {
		for _, from := range []string{"", "alice@localhost", "localhost", c.LocalJID().String()} {
			done, req := ask("", 5*time.Second)
			reply(req, "bob@localhost", "result", "")
			reply(req, from, "result", "<real xmlns='x'/>")
			if r := <-done; r.err != nil || r.el.Child("x", "real") == nil {
				t.Fatalf("from %q: got %v, %v", from, r.el, r.err)
			}
		}
	})
	t.Run("bare JID: reply without from accepted", func(t *testing.T) {
		done, req := ask("alice@localhost", 5*time.Second)
		reply(req, "", "result", "<real xmlns='x'/>")
		if r := <-done; r.err != nil || r.el.Child("x", "real") == nil {
			t.Fatalf("got %v, %v", r.el, r.err)
		}
	})
	t.Run("error reply", func(t *testing.T) {
		done, req := ask("bob@localhost/phone", 5*time.Second)
		reply(req, "bob@localhost/phone", "error",
			`<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>gone</text></error>`)
		r := <-done
		var se *StanzaError
		if !errors.As(r.err, &se) || se.Condition != "item-not-found" || se.Type != "cancel" || se.Text != "gone" {
			t.Fatalf("got %v", r.err)
		}
		if !errors.Is(r.err, &StanzaError{Condition: "item-not-found"}) || errors.Is(r.err, &StanzaError{Condition: "forbidden"}) {
			t.Error("StanzaError.Is does not match by condition")
		}
	})
	t.Run("timeout", func(t *testing.T) {
		done, req := ask("bob@localhost/phone", 100*time.Millisecond)
		r := <-done
		if !errors.Is(r.err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want DeadlineExceeded", r.err)
		}
		// A late reply is dropped without harm.
		reply(req, "bob@localhost/phone", "result", "")
		c.mu.Lock()
		n := len(c.pending)
		c.mu.Unlock()
		if n != 0 {
			t.Errorf("%d pending IQs left", n)
		}
	})
	t.Run("wrong type", func(t *testing.T) {
		if _, err := c.SendIQ(ctxT(t, time.Second), iq("result", "", nil)); err == nil {
			t.Error("SendIQ of a result succeeded")
		}
	})
}

func TestIncomingIQ(t *testing.T) {
	handled := make(chan *xmltree.Element, 1)
	c, p := dialPair(t, Config{
		Features: []string{"urn:xmpp:esession", "urn:xmpp:esession", "http://jabber.org/protocol/disco#info"},
		Setup: func(c *Conn) {
			c.OnIQ(func(el *xmltree.Element) bool {
				if el.Child("urn:example:mine", "q") == nil {
					return false
				}
				handled <- el
				c.Send(context.Background(), resultReply(el, nil))
				return true
			})
		},
	})
	tests := []struct {
		name, in string
		check    func(t *testing.T, out *xmltree.Element)
	}{
		{"disco#info", `<iq type='get' id='d1' from='bob@localhost/x'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			func(t *testing.T, out *xmltree.Element) {
				if out.Attribute("type") != "result" || out.Attribute("id") != "d1" || out.Attribute("to") != "bob@localhost/x" {
					t.Fatalf("reply %s", out)
				}
				info := parseDiscoInfo(out.Child(NSDiscoInfo, "query"))
				want := []string{NSDiscoInfo, "urn:xmpp:esession"}
				if fmt.Sprint(info.Features) != fmt.Sprint(want) {
					t.Errorf("features %v, want %v", info.Features, want)
				}
				if len(info.Identities) != 1 || info.Identities[0] != (Identity{"client", "bot", "esn"}) {
					t.Errorf("identities %v", info.Identities)
				}
			}},
		{"unhandled get", `<iq type='get' id='u1' from='bob@localhost/x'><query xmlns='jabber:iq:version'/></iq>`,
			func(t *testing.T, out *xmltree.Element) {
				se := parseStanzaError(out)
				if out.Attribute("id") != "u1" || out.Attribute("type") != "error" || se.Condition != "service-unavailable" || se.Type != "cancel" {
					t.Fatalf("reply %s", out)
				}
			}},
		{"disco#info with node goes to handlers", `<iq type='get' id='n1' from='bob@localhost/x'><query xmlns='http://jabber.org/protocol/disco#info' node='x#y'/></iq>`,
			func(t *testing.T, out *xmltree.Element) {
				if parseStanzaError(out).Condition != "service-unavailable" {
					t.Fatalf("reply %s", out)
				}
			}},
		{"handled set", `<iq type='set' id='h1' from='bob@localhost/x'><q xmlns='urn:example:mine'/></iq>`,
			func(t *testing.T, out *xmltree.Element) {
				if out.Attribute("type") != "result" || out.Attribute("id") != "h1" {
					t.Fatalf("reply %s", out)
				}
				select {
				case <-handled:
				default:
					t.Error("handler not called")
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p.write(t, tc.in)
			tc.check(t, p.nextIQ(t))
		})
	}
	_ = c
}

// TestHandlersMaySend checks the point of the dispatch goroutine: a
// message handler that waits for an IQ reply does not block the stream.
func TestHandlersMaySend(t *testing.T) {
	got := make(chan error, 1)
	c, p := dialPair(t, Config{})
	c.OnMessage(func(el *xmltree.Element) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.SendIQ(ctx, iq("get", "", xmltree.New("urn:example:q", "q")))
		got <- err
	})
	p.write(t, `<message from='bob@localhost/x'><body>hi</body></message>`)
	req := p.nextIQ(t)
	p.write(t, fmt.Sprintf(`<iq type='result' id='%s'/>`, req.Attribute("id")))
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler's SendIQ never returned")
	}
}

func TestPresenceTracking(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	c, p := dialPair(t, Config{})
	c.OnPresence(func(el *xmltree.Element) {
		mu.Lock()
		seen = append(seen, el.Attribute("from")+"/"+el.Attribute("type"))
		mu.Unlock()
	})
	bob := jid.MustParse("bob@localhost")
	steps := []struct {
		in   string
		want string
	}{
		{`<presence from='bob@localhost/phone'/>`, "[bob@localhost/phone]"},
		{`<presence from='bob@localhost/pc'><priority>1</priority></presence>`, "[bob@localhost/pc bob@localhost/phone]"},
		{`<presence from='bob@localhost/phone' type='unavailable'/>`, "[bob@localhost/pc]"},
		{`<presence from='bob@localhost/pc' type='subscribe'/>`, "[bob@localhost/pc]"},
		{`<presence from='bob@localhost' type='unavailable'/>`, "[]"},
	}
	for i, s := range steps {
		p.write(t, s.in)
		deadline := time.Now().Add(5 * time.Second)
		for {
			mu.Lock()
			n := len(seen)
			mu.Unlock()
			if n > i {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("step %d: presence not delivered", i)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if got := fmt.Sprint(c.AvailableResources(bob)); got != s.want {
			t.Errorf("step %d: %s, want %s", i, got, s.want)
		}
	}
}

func TestStanzaSizeBound(t *testing.T) {
	const limit = 4096
	tests := []struct {
		name     string
		stanza   string
		tooLarge bool
	}{
		{"just under", `<message from='bob@localhost/x'><body>` + strings.Repeat("a", limit-100) + `</body></message>`, false},
		{"text over", `<message from='bob@localhost/x'><body>` + strings.Repeat("a", limit+1) + `</body></message>`, true},
		{"markup over", `<message from='bob@localhost/x'>` + strings.Repeat("<b/>", limit/4+1) + `</message>`, true},
		{"attribute over", `<message from='bob@localhost/x' a='` + strings.Repeat("a", limit) + `'/>`, true},
		{"exactly the limit", sized(limit), false},
		{"one byte over", sized(limit + 1), true},
		// Only the byte count sees this one: the parsed tree is tiny.
		{"whitespace over", `<message` + strings.Repeat(" ", limit) + `/>`, true},
		{"deep nesting", `<message>` + strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100) + `</message>`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan *xmltree.Element, 1)
			c, p := dialPair(t, Config{MaxStanzaSize: limit, Setup: func(c *Conn) {
				c.OnMessage(func(el *xmltree.Element) { got <- el })
			}})
			p.write(t, tc.stanza)
			if !tc.tooLarge {
				select {
				case <-got:
				case <-time.After(5 * time.Second):
					t.Fatal("stanza not delivered")
				}
				if c.Err() != nil {
					t.Fatal(c.Err())
				}
				return
			}
			select {
			case <-c.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("stream not closed")
			}
			if !errors.Is(c.Err(), ErrStanzaTooLarge) {
				t.Fatalf("Err() = %v, want ErrStanzaTooLarge", c.Err())
			}
			if len(got) != 0 {
				t.Error("oversized stanza was delivered")
			}
			// The server saw a policy-violation stream error.
			<-p.closed
			if p.err == nil || !strings.Contains(p.err.Error(), "policy-violation") {
				t.Errorf("server read error %v, want policy-violation", p.err)
			}
			if err := c.Send(ctxT(t, time.Second), xmltree.New("", "message")); !errors.Is(err, ErrClosed) {
				t.Errorf("Send after the end: %v, want ErrClosed", err)
			}
		})
	}
}

// sized returns a message stanza of exactly n bytes.
func sized(n int) string {
	const head, tail = `<message from='bob@localhost/x'><body>`, `</body></message>`
	return head + strings.Repeat("a", n-len(head)-len(tail)) + tail
}

func TestQueueFullAnswersResourceConstraint(t *testing.T) {
	release := make(chan struct{})
	c, p := dialPair(t, Config{QueueSize: 1, Setup: func(c *Conn) {
		c.OnMessage(func(*xmltree.Element) { <-release })
	}})
	defer close(release)
	// One message blocks the handler, one fills the queue; the IQ then
	// finds the queue full.
	p.write(t, `<message from='bob@localhost/x'/>`)
	time.Sleep(50 * time.Millisecond)
	p.write(t, `<iq type='get' id='q1' from='bob@localhost/x'><q xmlns='urn:example:q'/></iq>`)
	p.write(t, `<iq type='get' id='q2' from='bob@localhost/x'><q xmlns='urn:example:q'/></iq>`)
	out := p.nextIQ(t)
	if out.Attribute("id") != "q2" || parseStanzaError(out).Condition != "resource-constraint" {
		t.Fatalf("reply %s", out)
	}
	_ = c
}

func TestClose(t *testing.T) {
	c, p := dialPair(t, Config{Presence: true})
	if got := p.next(t); got.Name.Local != "presence" || got.ChildText("", "priority") != "0" {
		t.Fatalf("initial presence %s", got)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := p.next(t); got.Name.Local != "presence" || got.Attribute("type") != "unavailable" {
		t.Fatalf("final presence %s", got)
	}
	select {
	case <-p.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("server did not see the end of the stream")
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	if c.Err() != nil {
		t.Errorf("Err() after Close = %v", c.Err())
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := c.SendIQ(ctxT(t, time.Second), iq("get", "", xmltree.New("urn:x", "q"))); !errors.Is(err, ErrClosed) {
		t.Errorf("SendIQ after Close: %v", err)
	}
}

func TestServerClosesStream(t *testing.T) {
	c, p := dialPair(t, Config{})
	waiting := make(chan error, 1)
	go func() {
		_, err := c.SendIQ(ctxT(t, 10*time.Second), iq("get", "", xmltree.New("urn:x", "q")))
		waiting <- err
	}()
	p.nextIQ(t)
	p.write(t, `</stream:stream>`)
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("stream end not noticed")
	}
	if c.Err() == nil || !strings.Contains(c.Err().Error(), "closed the stream") {
		t.Errorf("Err() = %v", c.Err())
	}
	if err := <-waiting; !errors.Is(err, ErrClosed) {
		t.Errorf("pending SendIQ: %v, want ErrClosed", err)
	}
}

// TestPEPRequests checks the IQs the PEP helpers send and how they react
// to the replies (create, conflict, configure, publish; fetch; retract;
// delete), against a scripted server.
func TestPEPRequests(t *testing.T) {
	c, p := dialPair(t, Config{})
	ok := func(req *xmltree.Element) {
		p.write(t, fmt.Sprintf(`<iq type='result' id='%s'/>`, req.Attribute("id")))
	}
	fail := func(req *xmltree.Element, cond string) {
		p.write(t, fmt.Sprintf(`<iq type='error' id='%s'><error type='cancel'><%s xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`, req.Attribute("id"), cond))
	}
	run := func(f func() error) chan error {
		ch := make(chan error, 1)
		go func() { ch <- f() }()
		return ch
	}
	payload := mustParse(t, `<key xmlns='urn:xmpp:tmp:pubkey'>AAAA</key>`)
	cfg := NodeConfig{AccessModel: "open", MaxItems: MaxItemsMax}

	done := run(func() error { return c.PEPPublish(ctxT(t, 5*time.Second), "urn:xmpp:tmp:pubkey", "k1", payload, cfg) })
	create := p.nextIQ(t)
	ps := create.Child(NSPubSub, "pubsub")
	if create.Attribute("type") != "set" || create.Attribute("to") != "" || ps == nil || ps.Child(NSPubSub, "create").Attribute("node") != "urn:xmpp:tmp:pubkey" {
		t.Fatalf("create %s", create)
	}
	form := ps.Child(NSPubSub, "configure").Child(nsDataForms, "x")
	if got := formValues(form); got != "FORM_TYPE=http://jabber.org/protocol/pubsub#node_config;pubsub#access_model=open;pubsub#max_items=max" {
		t.Errorf("create form %s", got)
	}
	fail(create, "conflict")
	configure := p.nextIQ(t)
	cps := configure.Child(NSPubSubOwner, "pubsub")
	if cps == nil || cps.Child(NSPubSubOwner, "configure").Attribute("node") != "urn:xmpp:tmp:pubkey" {
		t.Fatalf("configure %s", configure)
	}
	ok(configure)
	publish := p.nextIQ(t)
	item := publish.Child(NSPubSub, "pubsub").Child(NSPubSub, "publish").Child(NSPubSub, "item")
	if item.Attribute("id") != "k1" || item.Child("urn:xmpp:tmp:pubkey", "key").Text() != "AAAA" {
		t.Fatalf("publish %s", publish)
	}
	ok(publish)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// The node is configured now: the next publish goes straight out.
	done = run(func() error { return c.PEPPublish(ctxT(t, 5*time.Second), "urn:xmpp:tmp:pubkey", "k2", payload, cfg) })
	if next := p.nextIQ(t); next.Child(NSPubSub, "pubsub").Child(NSPubSub, "publish") == nil {
		t.Fatalf("second publish %s", next)
	} else {
		ok(next)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Create failing otherwise is an error.
	done = run(func() error { return c.PEPPublish(ctxT(t, 5*time.Second), "other", "", payload, cfg) })
	fail(p.nextIQ(t), "forbidden")
	if err := <-done; !errors.Is(err, &StanzaError{Condition: "forbidden"}) {
		t.Fatalf("got %v", err)
	}

	type fetched struct {
		items []Item
		err   error
	}
	fch := make(chan fetched, 1)
	go func() {
		items, err := c.PEPFetch(ctxT(t, 5*time.Second), jid.MustParse("bob@localhost/phone"), "urn:xmpp:tmp:pubkey")
		fch <- fetched{items, err}
	}()
	fetch := p.nextIQ(t)
	if fetch.Attribute("type") != "get" || fetch.Attribute("to") != "bob@localhost" {
		t.Fatalf("fetch %s", fetch)
	}
	p.write(t, fmt.Sprintf(`<iq type='result' id='%s' from='bob@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:tmp:pubkey'><item id='a'><key xmlns='urn:xmpp:tmp:pubkey'>A</key></item><item id='b'><key xmlns='urn:xmpp:tmp:pubkey'>B</key></item></items></pubsub></iq>`, fetch.Attribute("id")))
	f := <-fch
	if f.err != nil || len(f.items) != 2 || f.items[1].ID != "b" || f.items[1].Payload.Text() != "B" {
		t.Fatalf("fetched %+v, %v", f.items, f.err)
	}

	done = run(func() error { return c.PEPRetract(ctxT(t, 5*time.Second), "urn:xmpp:tmp:pubkey", "k1") })
	retract := p.nextIQ(t)
	r := retract.Child(NSPubSub, "pubsub").Child(NSPubSub, "retract")
	if r.Attribute("notify") != "true" || r.Child(NSPubSub, "item").Attribute("id") != "k1" {
		t.Fatalf("retract %s", retract)
	}
	ok(retract)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	done = run(func() error { return c.PEPDelete(ctxT(t, 5*time.Second), "urn:xmpp:tmp:pubkey") })
	del := p.nextIQ(t)
	if del.Child(NSPubSubOwner, "pubsub").Child(NSPubSubOwner, "delete").Attribute("node") != "urn:xmpp:tmp:pubkey" {
		t.Fatalf("delete %s", del)
	}
	ok(del)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func formValues(x *xmltree.Element) string {
	var parts []string
	for _, f := range x.Children() {
		parts = append(parts, f.Attribute("var")+"="+f.ChildText(nsDataForms, "value"))
	}
	return strings.Join(parts, ";")
}

func TestErrorMessages(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&ConnectError{Addr: "127.0.0.1:1", Err: errors.New("connection refused")}, "transport: cannot connect to 127.0.0.1:1: connection refused"},
		{&TLSError{ServerName: "example.org", Err: errors.New("x509: unknown authority")}, `transport: TLS verification of server name "example.org" failed: x509: unknown authority`},
		{&AuthError{Mechanisms: []string{"SCRAM-SHA-1", "PLAIN"}, Condition: "not-authorized"}, "transport: authentication failed (not-authorized); the server offered SASL mechanisms SCRAM-SHA-1, PLAIN"},
		{&AuthError{Mechanisms: []string{"X-OAUTH"}, Err: errors.New("no SASL mechanism in common")}, "transport: authentication failed: no SASL mechanism in common; the server offered SASL mechanisms X-OAUTH"},
		{&AuthError{}, "transport: authentication failed; the server offered no SASL mechanism"},
		{&StanzaError{Type: "cancel", Condition: "item-not-found", Text: "a\nb"}, `transport: stanza error: item-not-found (cancel): "a\nb"`},
	}
	for i, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%d: got %q\nwant %q", i, got, tc.want)
		}
	}
}

func FuzzParseReplies(f *testing.F) {
	f.Add(`<iq type='error'><error type='cancel' by='x'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>t</text></error></iq>`)
	f.Add(`<query xmlns='http://jabber.org/protocol/disco#info'><identity category='client' type='pc'/><feature var='a'/><feature var='a'/><x xmlns='jabber:x:data'/></query>`)
	f.Fuzz(func(t *testing.T, s string) {
		el, err := xmltree.Parse([]byte(s), xmltree.Limits{MaxBytes: 1 << 16})
		if err != nil {
			return
		}
		se := parseStanzaError(el)
		if se.Condition == "" {
			t.Fatal("empty condition")
		}
		info := parseDiscoInfo(el)
		seen := map[string]bool{}
		for _, f := range info.Features {
			if seen[f] || f == "" {
				t.Fatalf("duplicate or empty feature %q", f)
			}
			seen[f] = true
		}
	})
}
