package transport_test

// Integration tests against a real Prosody (scripts/prosody.sh), found or
// started by internal/testserver: ESN_TEST_ENV names the running server's
// env file; under CI=true a missing server fails the tests.

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/esn-project/esn/internal/testserver"
	"github.com/esn-project/esn/pkg/transport"
	"github.com/esn-project/esn/pkg/xmltree"
	"mellium.im/xmpp/jid"
)

// prosody describes the test server.
type prosody struct {
	testserver.Server
	CAs *x509.CertPool
}

func needProsody(t *testing.T) prosody {
	t.Helper()
	srv := testserver.Env(t)
	pool, err := srv.RootCAs()
	if err != nil {
		t.Fatal(err)
	}
	return prosody{Server: srv, CAs: pool}
}

func (p prosody) jid(user string) jid.JID { return p.Account(user).JID }

// config returns a STARTTLS config for user, verified against the test CA.
func (p prosody) config(user string) transport.Config {
	acct := p.Account(user)
	return transport.Config{
		JID:      acct.JID,
		Password: acct.Password,
		Server:   p.Addr,
		RootCAs:  p.CAs,
	}
}

func dial(t *testing.T, cfg transport.Config) *transport.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := transport.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("Dial %s: %v", cfg.JID, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func randomNode(t *testing.T) string {
	var b [6]byte
	rand.Read(b[:])
	return "urn:esn:test:" + t.Name() + ":" + hex.EncodeToString(b[:])
}

func TestProsodyLogin(t *testing.T) {
	p := needProsody(t)
	modes := []struct {
		name string
		edit func(*transport.Config)
	}{
		{"STARTTLS verified", func(*transport.Config) {}},
		{"direct TLS", func(c *transport.Config) { c.Server = p.DirectTLSAddr; c.DirectTLS = true }},
		{"plaintext on loopback", func(c *transport.Config) { c.RootCAs = nil; c.AllowPlaintext = true }},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			for _, user := range []string{"alice", "bob"} {
				var trace strings.Builder
				cfg := p.config(user)
				cfg.Resource = "login-test"
				cfg.Trace = &trace
				m.edit(&cfg)
				c := dial(t, cfg)
				if got := c.LocalJID().String(); got != user+"@"+p.Domain+"/login-test" {
					t.Errorf("LocalJID = %s", got)
				}
				// A round trip to the server proves the stream works.
				if _, err := c.DiscoInfo(ctxT(t), jid.MustParse(p.Domain)); err != nil {
					t.Fatal(err)
				}
				c.Close()
				if c.Err() != nil {
					t.Errorf("Err after Close: %v", c.Err())
				}
				if strings.Contains(trace.String(), cfg.Password) {
					t.Errorf("the trace shows the password")
				}
				if !strings.Contains(trace.String(), "mechanism=\"SCRAM-SHA-1\">[redacted]</auth>") {
					t.Errorf("trace does not show a redacted SCRAM-SHA-1 exchange:\n%s", trace.String())
				}
			}
		})
	}
}

func TestProsodyDialErrors(t *testing.T) {
	p := needProsody(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	tests := []struct {
		name  string
		edit  func(*transport.Config)
		check func(t *testing.T, err error)
	}{
		{"wrong password", func(c *transport.Config) { c.Password = "not-" + c.Password }, func(t *testing.T, err error) {
			var ae *transport.AuthError
			if !errors.As(err, &ae) || ae.Condition != "not-authorized" || !slices.Contains(ae.Mechanisms, "SCRAM-SHA-1") {
				t.Fatalf("got %v, want *AuthError not-authorized listing SCRAM-SHA-1", err)
			}
		}},
		{"closed port", func(c *transport.Config) { c.Server = closed }, func(t *testing.T, err error) {
			var ce *transport.ConnectError
			if !errors.As(err, &ce) || ce.Addr != closed || !strings.Contains(err.Error(), closed) {
				t.Fatalf("got %v, want *ConnectError naming %s", err, closed)
			}
		}},
		{"untrusted certificate, STARTTLS", func(c *transport.Config) { c.RootCAs = x509.NewCertPool() }, func(t *testing.T, err error) {
			var te *transport.TLSError
			if !errors.As(err, &te) || te.ServerName != p.Domain || !strings.Contains(err.Error(), "TLS verification") {
				t.Fatalf("got %v, want *TLSError for %s", err, p.Domain)
			}
		}},
		{"untrusted certificate, direct TLS", func(c *transport.Config) {
			c.RootCAs = x509.NewCertPool()
			c.Server, c.DirectTLS = p.DirectTLSAddr, true
		}, func(t *testing.T, err error) {
			var te *transport.TLSError
			if !errors.As(err, &te) || te.ServerName != p.Domain {
				t.Fatalf("got %v, want *TLSError for %s", err, p.Domain)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := p.config("alice")
			tc.edit(&cfg)
			c, err := transport.Dial(ctxT(t), cfg)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			tc.check(t, err)
		})
	}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestProsodyMessageAndDisco(t *testing.T) {
	p := needProsody(t)
	const feature = "urn:esn:test:feature"

	aliceCfg := p.config("alice")
	aliceCfg.Presence = true
	alice := dial(t, aliceCfg)

	bobMsgs := make(chan *xmltree.Element, 4)
	bobCfg := p.config("bob")
	bobCfg.Presence = true
	bobCfg.Features = []string{feature}
	bobCfg.Identity = transport.Identity{Category: "client", Type: "pc", Name: "bob's esn"}
	bobCfg.Setup = func(c *transport.Conn) {
		c.OnMessage(func(m *xmltree.Element) {
			if m.ChildText("", "body") != "" {
				bobMsgs <- m
			}
		})
	}
	bob := dial(t, bobCfg)

	waitFor(t, "bob's presence at alice", func() bool {
		return slices.ContainsFunc(alice.AvailableResources(p.jid("bob")), func(j jid.JID) bool { return j.Equal(bob.LocalJID()) })
	})

	info, err := alice.DiscoInfo(ctxT(t), bob.LocalJID())
	if err != nil {
		t.Fatal(err)
	}
	if !info.HasFeature(feature) || !info.HasFeature(transport.NSDiscoInfo) {
		t.Errorf("bob's features %v lack %s", info.Features, feature)
	}
	if len(info.Identities) != 1 || info.Identities[0] != bobCfg.Identity {
		t.Errorf("bob's identities %v", info.Identities)
	}

	msg := xmltree.New("jabber:client", "message")
	msg.SetAttr("to", bob.LocalJID().String())
	msg.SetAttr("type", "chat")
	msg.AddChild(xmltree.New("jabber:client", "body").AddText("hello <bob> & co"))
	if err := alice.Send(ctxT(t), msg); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-bobMsgs:
		if m.ChildText("", "body") != "hello <bob> & co" {
			t.Errorf("bob got %s", m)
		}
		from, err := jid.Parse(m.Attribute("from"))
		if err != nil || !from.Equal(alice.LocalJID()) {
			t.Errorf("message from %q, want %s", m.Attribute("from"), alice.LocalJID())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("bob got no message")
	}

	// The same through SendRaw: the server takes the bytes as they are.
	raw := `<message to="` + bob.LocalJID().String() + `" type="chat" id="raw-1"><body>raw &lt;bob&gt;</body></message>`
	if err := alice.SendRaw(ctxT(t), []byte(raw)); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-bobMsgs:
		if m.ChildText("", "body") != "raw <bob>" || m.Attribute("id") != "raw-1" {
			t.Errorf("bob got %s", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("bob got no raw message")
	}

	// An IQ bob does not handle gets service-unavailable.
	_, err = alice.SendIQ(ctxT(t), iqGet(bob.LocalJID(), xmltree.New("urn:esn:test:unknown", "q")))
	if !errors.Is(err, &transport.StanzaError{Condition: "service-unavailable"}) {
		t.Errorf("unhandled IQ: %v, want service-unavailable", err)
	}

	// bob leaves; alice sees it.
	bob.Close()
	waitFor(t, "bob's unavailable presence at alice", func() bool {
		return len(alice.AvailableResources(p.jid("bob"))) == 0
	})
}

func iqGet(to jid.JID, payload *xmltree.Element) *xmltree.Element {
	el := xmltree.New("jabber:client", "iq")
	el.SetAttr("type", "get")
	el.SetAttr("to", to.String())
	return el.AddChild(payload)
}

func TestProsodyPEP(t *testing.T) {
	p := needProsody(t)
	alice := dial(t, p.config("alice"))
	bob := dial(t, p.config("bob"))
	node := randomNode(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		alice.PEPDelete(ctx, node)
	})

	payload := xmltree.New("urn:esn:test:key", "key").AddText("v1")
	open := transport.NodeConfig{AccessModel: "open", MaxItems: 10}
	if err := alice.PEPPublish(ctxT(t), node, "k1", payload, open); err != nil {
		t.Fatal(err)
	}
	// Reconfiguring an existing node goes through the conflict path.
	other := xmltree.New("urn:esn:test:key", "key").AddText("v2")
	if err := alice.PEPConfigure(ctxT(t), node, transport.NodeConfig{AccessModel: "presence"}); err != nil {
		t.Fatal(err)
	}
	if err := alice.PEPPublish(ctxT(t), node, "k2", other, open); err != nil {
		t.Fatal(err)
	}

	items, err := bob.PEPFetch(ctxT(t), p.jid("alice"), node)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, it := range items {
		got[it.ID] = it.Payload.Text()
	}
	if fmt.Sprint(got) != "map[k1:v1 k2:v2]" {
		t.Errorf("bob fetched %v", got)
	}
	own, err := alice.PEPFetch(ctxT(t), jid.JID{}, node)
	if err != nil || len(own) != 2 {
		t.Fatalf("alice fetched %v, %v", own, err)
	}

	if err := alice.PEPRetract(ctxT(t), node, "k1"); err != nil {
		t.Fatal(err)
	}
	items, err = bob.PEPFetch(ctxT(t), p.jid("alice"), node)
	if err != nil || len(items) != 1 || items[0].ID != "k2" {
		t.Fatalf("after retract bob fetched %v, %v", items, err)
	}

	// Whitelist: bob may no longer read.
	if err := alice.PEPConfigure(ctxT(t), node, transport.NodeConfig{AccessModel: "whitelist"}); err != nil {
		t.Fatal(err)
	}
	_, err = bob.PEPFetch(ctxT(t), p.jid("alice"), node)
	var se *transport.StanzaError
	if !errors.As(err, &se) {
		t.Fatalf("whitelisted fetch: %v, want a stanza error", err)
	}

	if err := alice.PEPDelete(ctxT(t), node); err != nil {
		t.Fatal(err)
	}
	_, err = alice.PEPFetch(ctxT(t), jid.JID{}, node)
	if !errors.Is(err, &transport.StanzaError{Condition: "item-not-found"}) {
		t.Errorf("fetch of a deleted node: %v, want item-not-found", err)
	}
}

// TestProsodyStanzaTooLarge sends bob a message over his limit through
// the real server.
func TestProsodyStanzaTooLarge(t *testing.T) {
	p := needProsody(t)
	alice := dial(t, p.config("alice"))
	bobCfg := p.config("bob")
	bobCfg.MaxStanzaSize = 4096
	bobCfg.Resource = "small"
	bob := dial(t, bobCfg)

	msg := xmltree.New("jabber:client", "message")
	msg.SetAttr("to", bob.LocalJID().String())
	msg.AddChild(xmltree.New("jabber:client", "body").AddText(strings.Repeat("x", 8192)))
	if err := alice.Send(ctxT(t), msg); err != nil {
		t.Fatal(err)
	}
	select {
	case <-bob.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("bob's stream did not end")
	}
	if !errors.Is(bob.Err(), transport.ErrStanzaTooLarge) {
		t.Errorf("bob.Err() = %v, want ErrStanzaTooLarge", bob.Err())
	}
	if _, err := alice.DiscoInfo(ctxT(t), jid.MustParse(p.Domain)); err != nil {
		t.Errorf("alice's stream suffered: %v", err)
	}
}

// TestProsodyIndependentPeer talks to a Conn from testserver's raw client,
// which shares no code with this package.
func TestProsodyIndependentPeer(t *testing.T) {
	p := needProsody(t)
	const feature = "urn:esn:test:independent"
	handled := make(chan string, 1)
	aliceMsgs := make(chan *xmltree.Element, 1)
	cfg := p.config("alice")
	cfg.Resource = "independent"
	cfg.Features = []string{feature}
	cfg.Setup = func(c *transport.Conn) {
		c.OnIQ(func(iq *xmltree.Element) bool {
			q := iq.Child("urn:esn:test:echo", "q")
			if q == nil {
				return false
			}
			handled <- q.Text()
			res := xmltree.New("jabber:client", "iq")
			res.SetAttr("type", "result")
			res.SetAttr("id", iq.Attribute("id"))
			res.SetAttr("to", iq.Attribute("from"))
			res.AddChild(xmltree.New("urn:esn:test:echo", "q").AddText(q.Text()))
			c.Send(context.Background(), res)
			return true
		})
		c.OnMessage(func(m *xmltree.Element) {
			if m.ChildText("", "body") != "" {
				aliceMsgs <- m
			}
		})
	}
	alice := dial(t, cfg)
	carol := testserver.Login(t, p.Server, p.Account("carol"), testserver.DialOptions{})

	info, err := carol.IQ(ctxT(t), "get", alice.LocalJID().String(), `<query xmlns='http://jabber.org/protocol/disco#info'/>`)
	if err != nil {
		t.Fatal(err)
	}
	var features []string
	for _, f := range info.Child(transport.NSDiscoInfo, "query").Children() {
		features = append(features, f.Attribute("var"))
	}
	if !slices.Contains(features, feature) {
		t.Errorf("disco#info features %v lack %s", features, feature)
	}

	echo, err := carol.IQ(ctxT(t), "set", alice.LocalJID().String(), `<q xmlns='urn:esn:test:echo'>ping &amp; pong</q>`)
	if err != nil {
		t.Fatal(err)
	}
	if got := echo.ChildText("urn:esn:test:echo", "q"); got != "ping & pong" || <-handled != "ping & pong" {
		t.Errorf("echo %q", got)
	}

	if _, err := carol.IQ(ctxT(t), "get", alice.LocalJID().String(), `<q xmlns='urn:esn:test:nobody'/>`); err == nil ||
		!strings.Contains(err.Error(), "service-unavailable") {
		t.Errorf("unhandled IQ: %v, want service-unavailable", err)
	}

	if err := carol.Send(ctxT(t), fmt.Sprintf(`<message to='%s' type='chat'><body>from carol</body></message>`, alice.LocalJID())); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-aliceMsgs:
		if m.ChildText("", "body") != "from carol" {
			t.Errorf("alice got %s", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("alice got no message from carol")
	}

	msg := xmltree.New("jabber:client", "message")
	msg.SetAttr("to", carol.JID.String())
	msg.AddChild(xmltree.New("jabber:client", "body").AddText("from alice"))
	if err := alice.Send(ctxT(t), msg); err != nil {
		t.Fatal(err)
	}
	got, err := carol.Expect(ctxT(t), func(el *xmltree.Element) bool { return el.Name.Local == "message" })
	if err != nil {
		t.Fatal(err)
	}
	if got.ChildText("", "body") != "from alice" {
		t.Errorf("carol got %s", got)
	}
}

// TestProsodyOfflineReachesSetupHandlers checks that handlers registered
// in Config.Setup see the offline messages the server sends in answer to
// initial presence.
func TestProsodyOfflineReachesSetupHandlers(t *testing.T) {
	p := needProsody(t)
	acct := p.NewAccount(t, "offline")
	carol := testserver.Login(t, p.Server, p.Account("carol"), testserver.DialOptions{})
	for i := range 3 {
		if err := carol.Send(ctxT(t), fmt.Sprintf(`<message to='%s' type='chat'><body>offline %d</body></message>`, acct.JID, i)); err != nil {
			t.Fatal(err)
		}
	}
	// Let the server store them.
	if _, err := carol.IQ(ctxT(t), "get", p.Domain, `<query xmlns='http://jabber.org/protocol/disco#info'/>`); err != nil {
		t.Fatal(err)
	}

	msgs := make(chan *xmltree.Element, 8)
	c := dial(t, transport.Config{
		JID: acct.JID, Password: acct.Password, Server: p.Addr, RootCAs: p.CAs,
		Presence: true,
		Setup: func(c *transport.Conn) {
			c.OnMessage(func(m *xmltree.Element) { msgs <- m })
		},
	})
	for i := range 3 {
		select {
		case m := <-msgs:
			if want := fmt.Sprintf("offline %d", i); m.ChildText("", "body") != want || m.Child("urn:xmpp:delay", "delay") == nil {
				t.Errorf("message %d: %s, want body %q with a delay", i, m, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("offline message %d not delivered", i)
		}
	}
	_ = c
}
