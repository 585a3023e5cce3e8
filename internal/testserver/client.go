package testserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/xmltree"
	"mellium.im/xmpp/jid"
)

// Namespaces the raw client speaks.
const (
	nsClient  = "jabber:client"
	nsStream  = "http://etherx.jabber.org/streams"
	nsTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind    = "urn:ietf:params:xml:ns:xmpp-bind"
	negotiate = 30 * time.Second // default bound on dialling when ctx has no deadline
)

// clientLimits bound what the raw client accepts: above esn's own 1 MiB
// default, so tests can relay oversized stanzas to the code under test.
var clientLimits = xmltree.Limits{MaxBytes: 8 << 20, MaxNodes: 1 << 20, MaxDepth: 64}

// AuthError reports that the server refused the account's credentials.
type AuthError struct {
	JID       jid.JID
	Condition string // the SASL failure condition, e.g. "not-authorized"
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("testserver: authentication of %s failed: %s", e.JID, e.Condition)
}

// DialOptions choose how a [Client] connects.
type DialOptions struct {
	DirectTLS bool   // TLS from the first byte, on Server.DirectTLSAddr
	Plaintext bool   // no TLS at all (the server allows it on loopback)
	Resource  string // "" lets the server choose
	Presence  bool   // send initial presence after binding
}

// Client is a minimal raw XMPP client for tests: it negotiates STARTTLS (or
// direct TLS, or nothing), authenticates with SASL PLAIN, binds a resource,
// and then exchanges raw stanzas. It shares no code with pkg/transport, so
// it can act as an independent peer.
//
// Send may be called from any goroutine; Next, Expect and IQ read the one
// incoming queue and must be called from one goroutine at a time.
type Client struct {
	JID jid.JID // the full JID the server bound

	conn    net.Conn
	wmu     sync.Mutex
	in      chan *xmltree.Element
	quit    chan struct{}
	readErr error // set before in is closed
	backlog []*xmltree.Element
	ids     atomic.Uint64
	once    sync.Once
}

// Login dials like [Dial] and fails t on error; the client is closed when t
// ends.
func Login(t testing.TB, srv Server, acct Account, opts DialOptions) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), negotiate)
	defer cancel()
	c, err := Dial(ctx, srv, acct, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Dial connects acct to srv.
func Dial(ctx context.Context, srv Server, acct Account, opts DialOptions) (*Client, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, negotiate)
		defer cancel()
	}
	addr := srv.Addr
	if opts.DirectTLS {
		addr = srv.DirectTLSAddr
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("testserver: dial %s: %w", addr, err)
	}
	c, err := negotiateStream(ctx, conn, srv, acct, opts)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func negotiateStream(ctx context.Context, conn net.Conn, srv Server, acct Account, opts DialOptions) (*Client, error) {
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	var tlsCfg *tls.Config
	if !opts.Plaintext {
		var err error
		if tlsCfg, err = srv.TLSConfig(); err != nil {
			return nil, err
		}
	}
	if opts.DirectTLS {
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("testserver: direct TLS with %s: %w", srv.DirectTLSAddr, err)
		}
		conn = tc
	}
	dec, features, err := openStream(conn, srv.Domain)
	if err != nil {
		return nil, err
	}
	if !opts.Plaintext && !opts.DirectTLS {
		if features.Child(nsTLS, "starttls") == nil {
			return nil, errors.New("testserver: server does not offer STARTTLS")
		}
		if _, err := io.WriteString(conn, "<starttls xmlns='"+nsTLS+"'/>"); err != nil {
			return nil, fmt.Errorf("testserver: %w", err)
		}
		el, err := nextElement(dec)
		if err != nil {
			return nil, err
		}
		if el.Name.Local != "proceed" {
			return nil, fmt.Errorf("testserver: STARTTLS refused: %s", el)
		}
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("testserver: STARTTLS with %s: %w", srv.Addr, err)
		}
		conn = tc
		if dec, features, err = openStream(conn, srv.Domain); err != nil {
			return nil, err
		}
	}

	// SASL PLAIN (RFC 4616): authzid NUL authcid NUL password.
	if !offers(features, "PLAIN") {
		return nil, fmt.Errorf("testserver: server does not offer SASL PLAIN: %s", features)
	}
	creds := base64.StdEncoding.EncodeToString([]byte("\x00" + acct.JID.Localpart() + "\x00" + acct.Password))
	if _, err := io.WriteString(conn, "<auth xmlns='"+nsSASL+"' mechanism='PLAIN'>"+creds+"</auth>"); err != nil {
		return nil, fmt.Errorf("testserver: %w", err)
	}
	el, err := nextElement(dec)
	if err != nil {
		return nil, err
	}
	switch el.Name.Local {
	case "success":
	case "failure":
		cond := "unknown"
		if ch := el.Children(); len(ch) > 0 {
			cond = ch[0].Name.Local
		}
		return nil, &AuthError{JID: acct.JID, Condition: cond}
	default:
		return nil, fmt.Errorf("testserver: unexpected answer to SASL: <%s>", el.Name.Local)
	}
	if dec, _, err = openStream(conn, srv.Domain); err != nil {
		return nil, err
	}

	var res string
	if opts.Resource != "" {
		res = "<resource>" + escape(opts.Resource) + "</resource>"
	}
	if _, err := io.WriteString(conn, "<iq type='set' id='bind-1'><bind xmlns='"+nsBind+"'>"+res+"</bind></iq>"); err != nil {
		return nil, fmt.Errorf("testserver: %w", err)
	}
	el, err = nextElement(dec)
	if err != nil {
		return nil, err
	}
	b := el.Child(nsBind, "bind")
	if el.Attribute("type") != "result" || b == nil {
		return nil, fmt.Errorf("testserver: resource binding failed: %s", el)
	}
	bound, err := jid.Parse(b.ChildText(nsBind, "jid"))
	if err != nil {
		return nil, fmt.Errorf("testserver: server bound an invalid JID: %w", err)
	}
	conn.SetDeadline(time.Time{})

	c := &Client{
		JID:  bound,
		conn: conn,
		in:   make(chan *xmltree.Element, 64),
		quit: make(chan struct{}),
	}
	go c.read(dec)
	if opts.Presence {
		if err := c.Send(ctx, "<presence/>"); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// openStream sends a stream header and reads the server's header and
// features.
func openStream(conn net.Conn, domain string) (*xml.Decoder, *xmltree.Element, error) {
	hdr := "<?xml version='1.0'?><stream:stream to='" + escape(domain) +
		"' version='1.0' xmlns='" + nsClient + "' xmlns:stream='" + nsStream + "'>"
	if _, err := io.WriteString(conn, hdr); err != nil {
		return nil, nil, fmt.Errorf("testserver: %w", err)
	}
	dec := xml.NewDecoder(conn)
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("testserver: reading stream header: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Space != nsStream || se.Name.Local != "stream" {
				return nil, nil, fmt.Errorf("testserver: want a stream header, got <%s>", se.Name.Local)
			}
			break
		}
	}
	features, err := nextElement(dec)
	if err != nil {
		return nil, nil, err
	}
	if features.Name.Space != nsStream || features.Name.Local != "features" {
		return nil, nil, fmt.Errorf("testserver: want stream features, got %s", features)
	}
	return dec, features, nil
}

// nextElement reads the next top-level element of a stream.
func nextElement(dec *xml.Decoder) (*xmltree.Element, error) {
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("testserver: reading stream: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			el, err := xmltree.Decode(dec, t.Copy(), clientLimits)
			if err != nil {
				return nil, fmt.Errorf("testserver: %w", err)
			}
			if t.Name.Space == nsStream && t.Name.Local == "error" {
				return nil, fmt.Errorf("testserver: stream error: %s", el)
			}
			return el, nil
		case xml.EndElement:
			return nil, fmt.Errorf("testserver: server closed the stream: %w", io.EOF)
		}
	}
}

func offers(features *xmltree.Element, mech string) bool {
	m := features.Child(nsSASL, "mechanisms")
	if m == nil {
		return false
	}
	for _, ch := range m.Children() {
		if ch.Name.Local == "mechanism" && ch.Text() == mech {
			return true
		}
	}
	return false
}

func escape(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return strings.ReplaceAll(b.String(), "'", "&apos;")
}

func (c *Client) read(dec *xml.Decoder) {
	defer close(c.in)
	for {
		el, err := nextElement(dec)
		if err != nil {
			c.readErr = err
			return
		}
		select {
		case c.in <- el:
		case <-c.quit:
			c.readErr = net.ErrClosed
			return
		}
	}
}

// Send writes raw XML (one or more stanzas) to the stream.
func (c *Client) Send(ctx context.Context, rawXML string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	stop := context.AfterFunc(ctx, func() { c.conn.SetWriteDeadline(time.Now()) })
	defer stop()
	if _, err := io.WriteString(c.conn, rawXML); err != nil {
		return fmt.Errorf("testserver: send as %s: %w", c.JID, err)
	}
	return nil
}

// Next returns the next incoming stanza.
func (c *Client) Next(ctx context.Context) (*xmltree.Element, error) {
	if len(c.backlog) > 0 {
		el := c.backlog[0]
		c.backlog = c.backlog[1:]
		return el, nil
	}
	return c.receive(ctx)
}

func (c *Client) receive(ctx context.Context) (*xmltree.Element, error) {
	select {
	case el, ok := <-c.in:
		if !ok {
			return nil, fmt.Errorf("testserver: stream of %s ended: %w", c.JID, c.readErr)
		}
		return el, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("testserver: %s waiting for a stanza: %w", c.JID, ctx.Err())
	}
}

// Expect returns the first incoming stanza for which match is true. Stanzas
// that do not match stay queued for Next and later calls.
func (c *Client) Expect(ctx context.Context, match func(*xmltree.Element) bool) (*xmltree.Element, error) {
	for i, el := range c.backlog {
		if match(el) {
			c.backlog = append(c.backlog[:i:i], c.backlog[i+1:]...)
			return el, nil
		}
	}
	for {
		el, err := c.receive(ctx)
		if err != nil {
			return nil, err
		}
		if match(el) {
			return el, nil
		}
		c.backlog = append(c.backlog, el)
	}
}

// IQ sends an IQ of type typ ("get" or "set") with the raw payload to to
// ("" for the account itself) and returns the result. An error reply is
// returned as an error quoting the stanza.
func (c *Client) IQ(ctx context.Context, typ, to, payload string) (*xmltree.Element, error) {
	id := "tsiq-" + strconv.FormatUint(c.ids.Add(1), 10)
	toAttr := ""
	if to != "" {
		toAttr = " to='" + escape(to) + "'"
	}
	if err := c.Send(ctx, "<iq type='"+escape(typ)+"' id='"+id+"'"+toAttr+">"+payload+"</iq>"); err != nil {
		return nil, err
	}
	el, err := c.Expect(ctx, func(el *xmltree.Element) bool {
		return el.Name.Local == "iq" && el.Attribute("id") == id
	})
	if err != nil {
		return nil, err
	}
	if el.Attribute("type") != "result" {
		return el, fmt.Errorf("testserver: iq %s answered with %s", id, el)
	}
	return el, nil
}

// Close ends the stream and the connection.
func (c *Client) Close() error {
	var err error
	c.once.Do(func() {
		c.wmu.Lock()
		c.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		io.WriteString(c.conn, "</stream:stream>")
		c.wmu.Unlock()
		close(c.quit)
		// Give the server a moment to close its side, then cut.
		timer := time.AfterFunc(2*time.Second, func() { c.conn.Close() })
		for range c.in {
		}
		timer.Stop()
		err = c.conn.Close()
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
	})
	return err
}
