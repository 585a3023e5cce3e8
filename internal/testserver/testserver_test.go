package testserver

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/xmltree"
	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestLoad(t *testing.T) {
	srv, err := Load(filepath.Join("testdata", "esn.env"))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"Addr", srv.Addr, "127.0.0.1:5222"},
		{"DirectTLSAddr", srv.DirectTLSAddr, "127.0.0.1:5223"},
		{"Domain", srv.Domain, "localhost"},
		{"CAFile", srv.CAFile, "/tmp/esn-p1/certs/localhost.crt"},
		{"Dir", srv.Dir, "/tmp/esn-p1"},
		{"PID", strconv.Itoa(srv.PID), "28374"},
		{"MAM", strconv.FormatBool(srv.MAM), "true"},
		{"Users", strings.Join(srv.Users, ","), "alice,bob,carol"},
		{"Strangers", strings.Join(srv.Strangers, ","), "eve"},
		{"alice", srv.Account("alice").JID.String() + " " + srv.Account("alice").Password, "alice@localhost alice-pw"},
		{"eve", srv.Account("eve").Password, "it's a secret"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	env := srv.Environ()
	if !slices.Contains(env, "ESN_SERVER=127.0.0.1:5222") || !slices.Contains(env, "ESN_CA_FILE=/tmp/esn-p1/certs/localhost.crt") {
		t.Errorf("Environ() = %v", env)
	}
	defer func() {
		if recover() == nil {
			t.Error("Account of an unknown user did not panic")
		}
	}()
	srv.Account("mallory")
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, content, want string }{
		{"missing server", "export ESN_DOMAIN='localhost'\n", "ESN_SERVER is missing"},
		{"unquoted blank", "export ESN_SERVER=a ESN_DIRECT_TLS_SERVER=b\n", "unquoted blank"},
		{"syntax", "export ESN_SERVER=$X\n", "line 1"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strconv.Itoa(i)+".env")
			if err := os.WriteFile(p, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(p); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load: %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "absent.env")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load of a missing file: %v, want ErrNotExist", err)
	}
}

// fatalTB records Fatal calls instead of ending the test.
type fatalTB struct {
	testing.TB
	msg string
}

type fatalCalled struct{}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(fatalCalled{})
}
func (f *fatalTB) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	panic(fatalCalled{})
}

func envFails(t *testing.T) string {
	t.Helper()
	f := &fatalTB{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(fatalCalled); !ok {
					panic(r)
				}
			}
		}()
		srv := Env(f)
		t.Fatalf("Env returned %+v, want a test failure", srv)
	}()
	return f.msg
}

// TestEnvFailsNeverSkips checks that a missing or dead server fails the test
// (under CI, and whenever ESN_TEST_ENV is set).
func TestEnvFailsNeverSkips(t *testing.T) {
	dir := t.TempDir()
	// A port that was free a moment ago: nothing answers there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	deadEnv := filepath.Join(dir, "dead.env")
	os.WriteFile(deadEnv, []byte("export ESN_SERVER='"+dead+"'\nexport ESN_DIRECT_TLS_SERVER='"+dead+
		"'\nexport ESN_CA_FILE='/nonexistent'\nexport ESN_DOMAIN='localhost'\n"), 0o600)

	tests := []struct{ name, ci, env, want string }{
		{"CI without server", "true", "", "CI is set but ESN_TEST_ENV is not"},
		{"missing env file", "", filepath.Join(dir, "absent.env"), "no such file"},
		{"dead server", "true", deadEnv, "does not answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			t.Setenv(EnvVar, tt.env)
			if msg := envFails(t); !strings.Contains(msg, tt.want) {
				t.Fatalf("Env failed with %q, want it to mention %q", msg, tt.want)
			}
		})
	}
}

// readFeatures connects, sends a stream header and returns the server's
// features.
func readFeatures(t *testing.T, srv Server, directTLS bool, maxTLS uint16) *xmltree.Element {
	t.Helper()
	addr := srv.Addr
	if directTLS {
		addr = srv.DirectTLSAddr
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if directTLS {
		cfg, err := srv.TLSConfig()
		if err != nil {
			t.Fatal(err)
		}
		cfg.MaxVersion = maxTLS
		tc := tls.Client(conn, cfg)
		if err := tc.Handshake(); err != nil {
			t.Fatalf("direct TLS handshake verified against %s: %v", srv.CAFile, err)
		}
		conn = tc
	}
	// Read the header by hand, to check it came from our domain.
	_, err = fmt.Fprintf(conn, "<?xml version='1.0'?><stream:stream to='%s' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", srv.Domain)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	buf := make([]byte, 4096)
	for !bytes.Contains(got.Bytes(), []byte("</stream:features>")) {
		n, err := conn.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("reading the stream header from %s: %v (got %q)", addr, err, got.String())
		}
	}
	s := got.String()
	if !strings.Contains(s, "<stream:stream") || !strings.Contains(s, "from='"+srv.Domain+"'") {
		t.Fatalf("no stream header from %s in %q", srv.Domain, s)
	}
	start := strings.Index(s, "<stream:features")
	el, err := xmltree.Parse([]byte(strings.Replace(s[start:], "<stream:features", "<stream:features xmlns:stream='"+nsStream+"'", 1)), xmltree.Limits{})
	if err != nil {
		t.Fatalf("parsing features %q: %v", s[start:], err)
	}
	return el
}

func mechanisms(features *xmltree.Element) []string {
	var ms []string
	if m := features.Child(nsSASL, "mechanisms"); m != nil {
		for _, c := range m.Children() {
			ms = append(ms, c.Text())
		}
	}
	return ms
}

func TestStreamHeader(t *testing.T) {
	srv := Env(t)
	t.Run("c2s", func(t *testing.T) {
		f := readFeatures(t, srv, false, 0)
		if f.Child(nsTLS, "starttls") == nil {
			t.Errorf("no STARTTLS offered: %s", f)
		}
		if f.Child(nsTLS, "starttls").Child(nsTLS, "required") != nil {
			t.Errorf("STARTTLS is required; plain-text tests need it optional: %s", f)
		}
		if ms := mechanisms(f); !slices.Contains(ms, "PLAIN") || !slices.Contains(ms, "SCRAM-SHA-1") {
			t.Errorf("mechanisms before TLS = %v, want PLAIN and SCRAM-SHA-1", ms)
		}
	})
	// Prosody 0.12 knows only the tls-unique channel binding, which TLS 1.3
	// lacks: it offers the -PLUS mechanisms on TLS 1.2 connections only.
	for _, tt := range []struct {
		name   string
		maxTLS uint16
		want   []string
	}{
		{"direct TLS 1.3", tls.VersionTLS13, []string{"SCRAM-SHA-1", "PLAIN"}},
		{"direct TLS 1.2", tls.VersionTLS12, []string{"SCRAM-SHA-1-PLUS", "SCRAM-SHA-1", "PLAIN"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := readFeatures(t, srv, true, tt.maxTLS)
			if f.Child(nsTLS, "starttls") != nil {
				t.Errorf("STARTTLS offered inside TLS: %s", f)
			}
			ms := mechanisms(f)
			for _, m := range tt.want {
				if !slices.Contains(ms, m) {
					t.Errorf("mechanisms = %v, want %s among them", ms, m)
				}
			}
		})
	}
}

func TestLogin(t *testing.T) {
	srv := Env(t)
	tests := []struct {
		name string
		opts DialOptions
	}{
		{"STARTTLS", DialOptions{}},
		{"direct TLS", DialOptions{DirectTLS: true}},
		{"plain text on loopback", DialOptions{Plaintext: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			acct := srv.Account("alice")
			c := Login(t, srv, acct, tt.opts)
			if !c.JID.Bare().Equal(acct.JID) || c.JID.Resourcepart() == "" {
				t.Fatalf("bound %s, want a full JID of %s", c.JID, acct.JID)
			}
			if _, err := c.IQ(ctx, "get", srv.Domain, "<ping xmlns='urn:xmpp:ping'/>"); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		t.Parallel()
		acct := srv.Account("bob")
		acct.Password += "-wrong"
		_, err := Dial(testContext(t), srv, acct, DialOptions{})
		var ae *AuthError
		if !errors.As(err, &ae) || ae.Condition != "not-authorized" {
			t.Fatalf("Dial with a wrong password: %v, want *AuthError not-authorized", err)
		}
		if strings.Contains(err.Error(), acct.Password) {
			t.Fatalf("error %q shows the password", err)
		}
	})
}

// TestMelliumLogin checks that mellium (under pkg/transport) authenticates
// against this server over STARTTLS and direct TLS: with SCRAM-SHA-1 on TLS
// 1.3, and SCRAM-SHA-1-PLUS (tls-unique) on TLS 1.2.
func TestMelliumLogin(t *testing.T) {
	srv := Env(t)
	acct := srv.Account("carol")
	tests := []struct {
		name   string
		direct bool
		maxTLS uint16
		mech   sasl.Mechanism
	}{
		{"STARTTLS 1.3 SCRAM-SHA-1", false, tls.VersionTLS13, sasl.ScramSha1},
		{"direct TLS 1.3 SCRAM-SHA-1", true, tls.VersionTLS13, sasl.ScramSha1},
		{"STARTTLS 1.2 SCRAM-SHA-1-PLUS", false, tls.VersionTLS12, sasl.ScramSha1Plus},
		{"direct TLS 1.2 SCRAM-SHA-1-PLUS", true, tls.VersionTLS12, sasl.ScramSha1Plus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			tlsCfg, err := srv.TLSConfig()
			if err != nil {
				t.Fatal(err)
			}
			tlsCfg.MaxVersion = tt.maxTLS
			addr, state := srv.Addr, xmpp.SessionState(0)
			features := []xmpp.StreamFeature{xmpp.StartTLS(tlsCfg)}
			conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if tt.direct {
				addr, state, features = srv.DirectTLSAddr, xmpp.Secure, nil
				conn, err = (&tls.Dialer{Config: tlsCfg}).DialContext(ctx, "tcp", addr)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			features = append(features, xmpp.SASL("", acct.Password, tt.mech), xmpp.BindResource())
			s, err := xmpp.NewSession(ctx, acct.JID.Domain(), acct.JID, conn, state, xmpp.NewNegotiator(
				func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
					return xmpp.StreamConfig{Features: features}
				}))
			if err != nil {
				t.Fatalf("mellium login with %s at %s: %v", tt.mech.Name, addr, err)
			}
			if !s.LocalAddr().Bare().Equal(acct.JID) {
				t.Errorf("bound %s", s.LocalAddr())
			}
			if v := s.ConnectionState().Version; v != tt.maxTLS {
				t.Errorf("TLS version %x, want %x", v, tt.maxTLS)
			}
			s.Close()
		})
	}
}

// rosterOf returns the roster items of the logged-in account: JID -> subscription.
func rosterOf(t *testing.T, c *Client) map[string]string {
	t.Helper()
	res, err := c.IQ(testContext(t), "get", "", "<query xmlns='jabber:iq:roster'/>")
	if err != nil {
		t.Fatal(err)
	}
	items := map[string]string{}
	if q := res.Child("jabber:iq:roster", "query"); q != nil {
		for _, it := range q.Children() {
			items[it.Attribute("jid")] = it.Attribute("subscription")
		}
	}
	return items
}

// TestRosterMutual checks that the test users are mutual contacts with
// subscription both, and the strangers on nobody's roster.
func TestRosterMutual(t *testing.T) {
	srv := Env(t)
	if len(srv.Users) < 2 {
		t.Fatalf("want at least two users, have %v", srv.Users)
	}
	for _, u := range srv.Users {
		t.Run(u, func(t *testing.T) {
			t.Parallel()
			items := rosterOf(t, Login(t, srv, srv.Account(u), DialOptions{}))
			for _, other := range srv.Users {
				j := other + "@" + srv.Domain
				if other != u && items[j] != "both" {
					t.Errorf("%s's roster has %s with subscription %q, want both (roster %v)", u, j, items[j], items)
				}
			}
			for _, s := range srv.Strangers {
				if _, ok := items[s+"@"+srv.Domain]; ok {
					t.Errorf("stranger %s is on %s's roster", s, u)
				}
			}
		})
	}
}

func isAvailableFrom(from jid.JID) func(*xmltree.Element) bool {
	return func(el *xmltree.Element) bool {
		return el.Name.Local == "presence" && el.Attribute("type") == "" && el.Attribute("from") == from.String()
	}
}

// TestPresenceProbe checks that presence flows both ways between contacts:
// a later login learns an earlier one's presence (probe), and the earlier
// one sees the new presence.
func TestPresenceProbe(t *testing.T) {
	srv := Env(t)
	ctx := testContext(t)
	bob := Login(t, srv, srv.Account("bob"), DialOptions{Resource: "probe-" + randomHex(4), Presence: true})
	alice := Login(t, srv, srv.Account("alice"), DialOptions{Resource: "probe-" + randomHex(4), Presence: true})
	if _, err := alice.Expect(ctx, isAvailableFrom(bob.JID)); err != nil {
		t.Fatalf("alice did not get bob's presence: %v", err)
	}
	if _, err := bob.Expect(ctx, isAvailableFrom(alice.JID)); err != nil {
		t.Fatalf("bob did not get alice's presence: %v", err)
	}
}

// TestLargeStanzaRelayed checks that the server relays a stanza larger than
// esn's 1 MiB default bound, so tests can check that bound end to end.
func TestLargeStanzaRelayed(t *testing.T) {
	srv := Env(t)
	ctx := testContext(t)
	a, b := srv.NewAccount(t, "biga"), srv.NewAccount(t, "bigb")
	ca := Login(t, srv, a, DialOptions{})
	cb := Login(t, srv, b, DialOptions{Presence: true})
	body := strings.Repeat("0123456789abcdef", (3<<20)/2/16) // 1.5 MiB
	if err := ca.Send(ctx, "<message type='chat' id='big' to='"+cb.JID.String()+"'><body>"+body+"</body></message>"); err != nil {
		t.Fatal(err)
	}
	el, err := cb.Expect(ctx, func(el *xmltree.Element) bool { return el.Attribute("id") == "big" })
	if err != nil {
		t.Fatal(err)
	}
	if got := el.ChildText(nsClient, "body"); got != body {
		t.Fatalf("relayed body has %d bytes, want %d", len(got), len(body))
	}
}

// TestNewAccount checks that a fresh account logs in and has no contacts.
func TestNewAccount(t *testing.T) {
	srv := Env(t)
	acct := srv.NewAccount(t, "fresh")
	if !strings.HasPrefix(acct.JID.Localpart(), "fresh") || acct.JID.Domainpart() != srv.Domain {
		t.Fatalf("NewAccount = %s", acct.JID)
	}
	c := Login(t, srv, acct, DialOptions{})
	if items := rosterOf(t, c); len(items) != 0 {
		t.Fatalf("fresh account's roster = %v, want empty", items)
	}
	other := srv.NewAccount(t, "fresh")
	if other.JID.Equal(acct.JID) || other.Password == acct.Password {
		t.Fatalf("two NewAccount calls gave %s and %s with the same password or name", acct.JID, other.JID)
	}
}

// mamIDs queries c's archive for messages exchanged with "with" and returns
// the ids of the archived stanzas.
func mamIDs(t *testing.T, c *Client, with jid.JID) []string {
	t.Helper()
	ctx := testContext(t)
	qid := "q-" + randomHex(4)
	res, err := c.IQ(ctx, "set", "", "<query xmlns='urn:xmpp:mam:2' queryid='"+qid+"'>"+
		"<x xmlns='jabber:x:data' type='submit'>"+
		"<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>"+
		"<field var='with'><value>"+with.String()+"</value></field></x>"+
		"<set xmlns='http://jabber.org/protocol/rsm'><max>50</max></set></query>")
	if err != nil {
		t.Fatal(err)
	}
	if fin := res.Child("urn:xmpp:mam:2", "fin"); fin == nil {
		t.Fatalf("MAM answered without <fin/>: %s", res)
	}
	// XEP-0313 §4.2: the results come before the IQ result, so they are all
	// queued by now.
	var ids []string
	rest := c.backlog[:0]
	for _, el := range c.backlog {
		r := el.Child("urn:xmpp:mam:2", "result")
		if el.Name.Local != "message" || r == nil || r.Attribute("queryid") != qid {
			rest = append(rest, el)
			continue
		}
		if fwd := r.Child("urn:xmpp:forward:0", "forwarded"); fwd != nil {
			if m := fwd.Child(nsClient, "message"); m != nil {
				ids = append(ids, m.Attribute("id"))
			}
		}
	}
	c.backlog = rest
	return ids
}

// TestMAMArchivesBodyless checks the esn_archive_all plugin: MAM keeps
// body-less chat and normal messages (ESession stanzas), and still honours
// the no-store hints and its own rules for other types.
func TestMAMArchivesBodyless(t *testing.T) {
	srv := Env(t)
	if !srv.MAM {
		srv = Start(t, Options{}) // the shared server runs without MAM: use one with it
	}
	ctx := testContext(t)
	a, b := srv.NewAccount(t, "mama"), srv.NewAccount(t, "mamb")
	ca := Login(t, srv, a, DialOptions{Presence: true})
	Login(t, srv, b, DialOptions{Presence: true})
	const c = "<c xmlns='http://www.xmpp.org/extensions/xep-0200.html#ns'><data>AAAA</data><mac>BBBB</mac></c>"
	msgs := []struct {
		id, stanza string
		archived   bool
	}{
		{"chat-c", "<message type='chat' to='%s' id='chat-c'><thread>t1</thread>" + c + "</message>", true},
		{"normal-c", "<message to='%s' id='normal-c'>" + c + "</message>", true},
		{"chat-body", "<message type='chat' to='%s' id='chat-body'><body>hi</body></message>", true},
		{"no-store", "<message type='chat' to='%s' id='no-store'>" + c + "<no-store xmlns='urn:xmpp:hints'/></message>", false},
		{"no-permanent", "<message type='chat' to='%s' id='no-permanent'>" + c + "<no-permanent-store xmlns='urn:xmpp:hints'/></message>", false},
		{"headline", "<message type='headline' to='%s' id='headline'>" + c + "</message>", false},
	}
	for _, m := range msgs {
		if err := ca.Send(ctx, fmt.Sprintf(m.stanza, b.JID)); err != nil {
			t.Fatal(err)
		}
	}
	got := mamIDs(t, ca, b.JID)
	for _, m := range msgs {
		if slices.Contains(got, m.id) != m.archived {
			t.Errorf("message %s: archived = %v, want %v (archive holds %v)", m.id, !m.archived, m.archived, got)
		}
	}
}

// logProblems returns the warning and error lines of a Prosody log.
func logProblems(t *testing.T, path string) (lines []string, all string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		// "Nov 27 12:44:52 source\tlevel\tmessage"
		if f := strings.Split(l, "\t"); len(f) >= 3 && (f[1] == "warn" || f[1] == "error") {
			lines = append(lines, l)
		}
	}
	return lines, string(data)
}

// hasFeature asks for c's own disco#info and reports whether it lists f.
func hasFeature(t *testing.T, c *Client, f string) bool {
	t.Helper()
	res, err := c.IQ(testContext(t), "get", c.JID.Bare().String(), "<query xmlns='http://jabber.org/protocol/disco#info'/>")
	if err != nil {
		t.Fatal(err)
	}
	for _, el := range res.Child("http://jabber.org/protocol/disco#info", "query").Children() {
		if el.Name.Local == "feature" && el.Attribute("var") == f {
			return true
		}
	}
	return false
}

// TestPrivateServer starts servers of their own, with and without MAM, and
// checks that config and plugin load cleanly, options apply, and the
// lifecycle is clean.
func TestPrivateServer(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		mam  bool
	}{
		{"default", Options{}, true},
		{"no mam, own users and domain", Options{NoMAM: true, Domain: "esn.test", Users: []string{"ann", "ben"}, Strangers: []string{}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := Start(t, tt.opts)
			if srv.MAM != tt.mam {
				t.Errorf("MAM = %v, want %v", srv.MAM, tt.mam)
			}
			want := tt.opts.Users
			if want == nil {
				want = []string{"alice", "bob", "carol"}
			}
			if !slices.Equal(srv.Users, want) {
				t.Errorf("Users = %v, want %v", srv.Users, want)
			}
			if d := cmp.Or(tt.opts.Domain, "localhost"); srv.Domain != d {
				t.Errorf("Domain = %q, want %q", srv.Domain, d)
			}
			if len(srv.Strangers) != 0 && tt.opts.Strangers != nil {
				t.Errorf("Strangers = %v, want none", srv.Strangers)
			}
			c := Login(t, srv, srv.Account(want[0]), DialOptions{})
			if items := rosterOf(t, c); items[want[1]+"@"+srv.Domain] != "both" {
				t.Errorf("%s's roster = %v, want %s with subscription both", want[0], items, want[1])
			}
			if got := hasFeature(t, c, "urn:xmpp:mam:2"); got != tt.mam {
				t.Errorf("account advertises urn:xmpp:mam:2: %v, want %v", got, tt.mam)
			}
			c.Close()

			problems, log := logProblems(t, srv.LogFile)
			if len(problems) > 0 {
				t.Errorf("prosody logged warnings or errors:\n%s", strings.Join(problems, "\n"))
			}
			for _, line := range []string{"Activated service 'c2s' on [127.0.0.1]", "Activated service 'c2s_direct_tls' on [127.0.0.1]", "Groups loaded successfully", "Certificates loaded"} {
				if !strings.Contains(log, line) {
					t.Errorf("log lacks %q:\n%s", line, log)
				}
			}
			if got := strings.Contains(log, "esn_archive_all active"); got != tt.mam {
				t.Errorf("plugin esn_archive_all loaded: %v, want %v", got, tt.mam)
			}
		})
	}
}

// script runs scripts/prosody.sh with extra environment and returns its exit
// code, stdout and stderr.
func script(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	s, err := Script()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", append([]string{s}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

// TestScriptLifecycle drives scripts/prosody.sh itself: start, idempotent
// start, status, stop, and that stop ends only its own server.
func TestScriptLifecycle(t *testing.T) {
	shared := Env(t)
	dir := t.TempDir()
	env := []string{"ESN_PROSODY_PORT=auto", "ESN_PROSODY_OWNER_PID=" + strconv.Itoa(os.Getpid())}
	t.Cleanup(func() { script(t, nil, "stop", dir) })

	code, out, errs := script(t, env, "start", dir)
	if code != 0 {
		t.Fatalf("start: exit %d\n%s", code, errs)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil || !alive(pid) {
		t.Fatalf("start printed %q (%v); want the PID of a running server\n%s", out, err, errs)
	}
	srv, err := Load(filepath.Join(dir, "esn.env"))
	if err != nil {
		t.Fatal(err)
	}
	if srv.PID != pid || srv.Addr == shared.Addr {
		t.Fatalf("esn.env says pid %d addr %s; want pid %d and a port of its own", srv.PID, srv.Addr, pid)
	}
	readFeatures(t, srv, false, 0)

	steps := []struct {
		args     []string
		code     int
		out, err string
	}{
		{[]string{"start", dir}, 0, strconv.Itoa(pid), "already running"},
		{[]string{"status", dir}, 0, strconv.Itoa(pid), "running in"},
		{[]string{"stop", dir}, 0, "", "stopped prosody (pid " + strconv.Itoa(pid) + ")"},
		{[]string{"status", dir}, 3, "", "not running"},
		{[]string{"stop", dir}, 0, "", "not running"},
		{[]string{"status", filepath.Join(dir, "nonexistent")}, 3, "", "no such directory"},
		{[]string{"bogus", dir}, 64, "", "usage"},
	}
	for _, s := range steps {
		code, out, errs := script(t, env, s.args...)
		if code != s.code || strings.TrimSpace(out) != s.out || !strings.Contains(errs, s.err) {
			t.Errorf("prosody.sh %s: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr containing %q",
				strings.Join(s.args, " "), code, out, errs, s.code, s.out, s.err)
		}
	}
	if alive(pid) {
		t.Errorf("server pid %d still runs after stop", pid)
	}
	if shared.PID != 0 && !alive(shared.PID) {
		t.Errorf("stopping %s also ended the shared server (pid %d)", dir, shared.PID)
	}
	if err := shared.reachable(); err != nil {
		t.Errorf("shared server: %v", err)
	}
}

// TestScriptBusyPort checks that start refuses a port someone else listens
// on, and says so, rather than sharing it.
func TestScriptBusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"c2s", []string{"ESN_PROSODY_PORT=" + port, "ESN_PROSODY_TLS_PORT=auto"}, "c2s port " + port + " is already in use"},
		{"direct TLS", []string{"ESN_PROSODY_PORT=auto", "ESN_PROSODY_TLS_PORT=" + port}, "direct-TLS port " + port + " is already in use"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			code, out, errs := script(t, tt.env, "start", dir)
			if code == 0 || !strings.Contains(errs, tt.want) {
				t.Errorf("start on a busy port: exit %d, stdout %q, stderr %q; want failure mentioning %q", code, out, errs, tt.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "server.pid")); err == nil {
				t.Errorf("a server.pid was left behind")
			}
		})
	}
}

// TestScriptRejectsBadSettings checks the script's input validation.
func TestScriptRejectsBadSettings(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"bad port", []string{"ESN_PROSODY_PORT=70000"}, "not a port number"},
		{"bad domain", []string{"ESN_DOMAIN=Bad Domain"}, "not a lowercase DNS name"},
		{"bad user", []string{"ESN_PROSODY_PORT=auto", "ESN_TEST_USERS=alice Bob"}, "must be lowercase"},
		{"duplicate user", []string{"ESN_PROSODY_PORT=auto", "ESN_TEST_USERS=alice alice"}, "listed twice"},
		{"same ports", []string{"ESN_PROSODY_PORT=15222", "ESN_PROSODY_TLS_PORT=15222"}, "both 15222"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := script(t, tt.env, "start", t.TempDir())
			if code == 0 || !strings.Contains(errs, tt.want) {
				t.Errorf("exit %d, stderr %q; want failure mentioning %q", code, errs, tt.want)
			}
		})
	}
}
