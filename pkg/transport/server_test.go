package transport

// An in-process XMPP server for unit tests: mellium's own receiving session
// (real stream negotiation, real SASL PLAIN, optional real STARTTLS, real
// resource binding) on a loopback TCP listener. After negotiation the test
// drives the stream by hand: it reads our stanzas as parsed elements and
// writes raw XML, so it can misbehave (spoofed replies, huge stanzas).

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/xml"
	"errors"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/xmltree"
	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

const (
	testUser     = "alice"
	testDomain   = "localhost"
	testPassword = "s3cret-Pa55-word"
)

type testServer struct {
	t     testing.TB
	ln    net.Listener
	peers chan *testPeer
}

// serverOptions select what the server offers.
type serverOptions struct {
	tls *tls.Config // non-nil: offer (and require) STARTTLS with this config
}

func startServer(t testing.TB, opts serverOptions) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &testServer{t: t, ln: ln, peers: make(chan *testPeer, 4)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go srv.serve(c, opts)
		}
	}()
	return srv
}

func (srv *testServer) addr() string { return srv.ln.Addr().String() }

func (srv *testServer) serve(c net.Conn, opts serverOptions) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	perm := func(n *sasl.Negotiator) bool {
		user, pass, _ := n.Credentials()
		return string(user) == testUser && string(pass) == testPassword
	}
	var features []xmpp.StreamFeature
	state := xmpp.Secure
	if opts.tls != nil {
		features = append(features, xmpp.StartTLS(opts.tls))
		state = 0
	}
	features = append(features, xmpp.SASLServer(perm, sasl.Plain), xmpp.BindResource())
	s, err := xmpp.ReceiveSession(ctx, c, state, xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
		return xmpp.StreamConfig{Features: features}
	}))
	if err != nil {
		c.Close()
		return
	}
	p := &testPeer{s: s, in: make(chan *xmltree.Element, 64), closed: make(chan struct{})}
	go p.read()
	srv.t.Cleanup(func() { s.Conn().Close() })
	srv.peers <- p
}

// accept returns the next negotiated client session.
func (srv *testServer) accept() *testPeer {
	srv.t.Helper()
	select {
	case p := <-srv.peers:
		return p
	case <-time.After(10 * time.Second):
		srv.t.Fatal("no client session negotiated")
		return nil
	}
}

type testPeer struct {
	s      *xmpp.Session
	in     chan *xmltree.Element
	closed chan struct{} // closed when our client ended its stream
	err    error         // why reading ended
}

func (p *testPeer) read() {
	r := p.s.TokenReader()
	defer r.Close()
	defer close(p.in)
	for {
		tok, err := r.Token()
		if err != nil {
			p.err = err
			if errors.Is(err, io.EOF) {
				p.s.Close()
			}
			close(p.closed)
			return
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		el, err := xmltree.Decode(r, start.Copy(), xmltree.Limits{})
		if err != nil {
			p.err = err
			close(p.closed)
			return
		}
		p.in <- el
	}
}

// next returns the next stanza the client sent.
func (p *testPeer) next(t testing.TB) *xmltree.Element {
	t.Helper()
	select {
	case el, ok := <-p.in:
		if !ok {
			t.Fatalf("client stream ended: %v", p.err)
		}
		return el
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a stanza from the client")
		return nil
	}
}

// nextIQ skips everything but IQs.
func (p *testPeer) nextIQ(t testing.TB) *xmltree.Element {
	t.Helper()
	for {
		if el := p.next(t); el.Name.Local == "iq" {
			return el
		}
	}
}

// write sends raw XML on the server's stream.
func (p *testPeer) write(t testing.TB, raw string) {
	t.Helper()
	if _, err := p.s.Conn().Write([]byte(raw)); err != nil {
		t.Fatalf("server write: %v", err)
	}
}

// selfSigned returns a certificate for name and a pool trusting it.
func selfSigned(t testing.TB, name string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// plainConfig is a client config for the plaintext loopback server.
func plainConfig(srv *testServer) Config {
	return Config{
		JID:            jid.MustParse(testUser + "@" + testDomain),
		Password:       testPassword,
		Server:         srv.addr(),
		AllowPlaintext: true,
	}
}

// dialPair dials the plaintext server and returns both ends.
func dialPair(t testing.TB, cfg Config) (*Conn, *testPeer) {
	t.Helper()
	srv := startServer(t, serverOptions{})
	if cfg.JID.String() == "" {
		base := plainConfig(srv)
		base.Trace, base.Features, base.Setup, base.MaxStanzaSize, base.Presence, base.QueueSize =
			cfg.Trace, cfg.Features, cfg.Setup, cfg.MaxStanzaSize, cfg.Presence, cfg.QueueSize
		cfg = base
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, srv.accept()
}
