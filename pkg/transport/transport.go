package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/esn-project/esn/pkg/xmltree"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxStanzaSize = 1 << 20
	DefaultQueueSize     = 1024
)

// closeTimeout bounds each step of Close and the replies the transport
// sends on its own.
const closeTimeout = 5 * time.Second

// Bounds on presence tracking, which the network could otherwise grow.
const (
	maxTrackedContacts  = 10000
	maxTrackedResources = 64
)

// Identity is a service discovery identity (XEP-0030 §3.1).
type Identity struct{ Category, Type, Name string }

// Config describes one client connection.
type Config struct {
	// JID is the account, bare or full; its domain picks the server and is
	// the name the server's certificate must carry.
	JID jid.JID
	// Password is used for SASL only: never logged, traced or put in errors,
	// and not kept in the Conn.
	Password string
	// Resource is the resource to ask for at bind; "" lets the server
	// choose (RFC 6120 §7.6).
	Resource string
	// Server is "host:port" to connect to instead of looking up SRV records
	// (_xmpp-client, or _xmpps-client with DirectTLS) and falling back to
	// the domain on port 5222 (5223 with DirectTLS).
	Server string
	// RootCAs verifies the server certificate; nil uses the system roots.
	RootCAs *x509.CertPool
	// TLSSkipVerify disables certificate verification. Tests only.
	TLSSkipVerify bool
	// DirectTLS starts TLS on the first byte (XEP-0368) instead of
	// STARTTLS (RFC 6120 §5).
	DirectTLS bool
	// AllowPlaintext skips TLS entirely. Dial refuses it (ErrPlaintextRefused)
	// unless the address connected to is a loopback address.
	AllowPlaintext bool
	// MaxStanzaSize bounds one incoming stanza in bytes as read from the
	// stream (default DefaultMaxStanzaSize). A larger stanza ends the stream
	// with a policy-violation stream error, and Err then wraps
	// ErrStanzaTooLarge.
	MaxStanzaSize int64
	// Trace, when set, receives one "SEND: <xml>" or "RECV: <xml>" line per
	// stanza (raw chunks during stream negotiation), with the content of the
	// SASL elements <auth/>, <response/>, <challenge/> and <success/>
	// replaced by "[redacted]".
	Trace io.Writer
	// Presence sends initial presence (priority 0) after bind, and
	// unavailable presence at Close. Servers deliver offline messages only
	// after initial presence.
	Presence bool
	// Features are the disco#info features we answer with, besides
	// http://jabber.org/protocol/disco#info itself (XEP-0030 §3.1).
	Features []string
	// Identity is the disco identity we answer with; the zero value means
	// {Category: "client", Type: "bot", Name: "esn"}.
	Identity Identity
	// QueueSize bounds the incoming stanzas waiting for the dispatch
	// goroutine (default DefaultQueueSize).
	QueueSize int
	// Setup, when set, is called once the resource is bound and before
	// initial presence is sent or any incoming stanza is handed to a
	// handler. Handlers registered there see every stanza, including the
	// offline messages the server sends in answer to initial presence.
	// Setup may call SendIQ.
	Setup func(*Conn)
}

// Conn is a negotiated client-to-server XMPP stream.
//
// A read loop parses each incoming stanza, within the size bound, into an
// *xmltree.Element. IQ replies are matched to SendIQ calls there; disco#info
// requests are answered there. Messages, presence and other IQ requests go
// through a bounded queue to one dispatch goroutine that calls the
// handlers, so a handler may call Send and SendIQ. While the queue is full,
// the read loop waits (messages, presence) or answers IQ requests with a
// resource-constraint error (RFC 6120 §8.3.3.18).
//
// Conn methods are safe for concurrent use.
type Conn struct {
	sess     *xmpp.Session
	raw      net.Conn
	ws       *wireState
	tr       *tracer
	local    jid.JID
	maxSize  int64
	limits   xmltree.Limits
	presence bool
	disco    *xmltree.Element // our disco#info <query/>

	mu        sync.Mutex
	pending   map[string]*pendingIQ
	resources map[string]map[string]jid.JID // bare -> full -> full
	pepConfig map[string]string             // node -> NodeConfig key already applied

	hmu        sync.RWMutex
	onMessage  []func(*xmltree.Element)
	onPresence []func(*xmltree.Element)
	onIQ       []func(*xmltree.Element) bool

	queue     chan *xmltree.Element
	done      chan struct{} // closed when the read loop has ended
	closing   chan struct{} // closed when Close starts
	stop      chan struct{} // closed to end the dispatch goroutine
	err       error         // why the stream ended; written before done is closed
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// Dial connects, secures and authenticates the stream, binds a resource and
// starts the read loop (RFC 6120 §3-§7).
//
// Errors: *ConnectError when no TCP connection could be made;
// *TLSError when TLS (direct or STARTTLS) fails, naming the server name
// verified; *AuthError when SASL fails, listing the mechanisms the server
// offered; ErrPlaintextRefused for plaintext to a non-loopback address; an
// error wrapping ctx.Err() when ctx ends first.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	domain := cfg.JID.Domainpart()
	if domain == "" || cfg.JID.Localpart() == "" {
		return nil, fmt.Errorf("transport: account %q must be user@domain", cfg.JID.String())
	}
	if cfg.AllowPlaintext && cfg.DirectTLS {
		return nil, fmt.Errorf("%w; it cannot be combined with direct TLS", ErrPlaintextRefused)
	}
	if cfg.MaxStanzaSize <= 0 {
		cfg.MaxStanzaSize = DefaultMaxStanzaSize
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.Identity == (Identity{}) {
		cfg.Identity = Identity{Category: "client", Type: "bot", Name: "esn"}
	}
	origin := cfg.JID.Bare()
	if cfg.Resource != "" {
		var err error
		if origin, err = origin.WithResource(cfg.Resource); err != nil {
			return nil, fmt.Errorf("transport: invalid resource %q: %w", cfg.Resource, err)
		}
	}

	addrs, err := candidates(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	if cfg.AllowPlaintext {
		for _, a := range addrs {
			if literalNonLoopback(a) {
				return nil, fmt.Errorf("%w (%s)", ErrPlaintextRefused, a)
			}
		}
	}
	raw, err := connect(ctx, addrs)
	if err != nil {
		return nil, err
	}
	addr := raw.RemoteAddr().String()
	if cfg.AllowPlaintext && !isLoopbackAddr(raw.RemoteAddr()) {
		raw.Close()
		return nil, fmt.Errorf("%w (%s)", ErrPlaintextRefused, addr)
	}

	tr := newTracer(cfg.Trace)
	ws := newWireState(tr)
	n := &negotiation{
		ctx: ctx,
		raw: raw,
		ws:  ws,
		tlsConfig: &tls.Config{
			ServerName:         domain,
			RootCAs:            cfg.RootCAs,
			InsecureSkipVerify: cfg.TLSSkipVerify, //nolint:gosec // explicit, warned about by the CLI
			MinVersion:         tls.VersionTLS12,
		},
		serverName: domain,
		localpart:  cfg.JID.Localpart(),
		password:   cfg.Password,
		resource:   cfg.Resource,
		plainLocal: cfg.AllowPlaintext,
	}
	var (
		state    xmpp.SessionState
		features []xmpp.StreamFeature
	)
	switch {
	case cfg.DirectTLS:
		tc, err := n.handshake(true)
		if err != nil {
			raw.Close()
			return nil, err
		}
		n.wire = newWire(tc, ws)
		state = xmpp.Secure
	case cfg.AllowPlaintext:
		// mellium authenticates only on a Secure session; plaintext is
		// allowed here only to loopback (checked above).
		n.wire = newWire(raw, ws)
		state = xmpp.Secure
	default:
		n.wire = newWire(raw, ws)
		features = append(features, n.startTLS())
	}
	features = append(features, n.sasl(), n.bind())
	// mellium's own deadline handling resets the deadline right after
	// setting it, which does not reliably interrupt a blocked read (and
	// could undo ours): it gets a context that never ends, and the end of
	// ctx ends the negotiation through the connection's deadline.
	fired := make(chan struct{})
	stopWatch := context.AfterFunc(ctx, func() {
		raw.SetDeadline(time.Unix(1, 0))
		close(fired)
	})
	sess, err := xmpp.NewSession(context.WithoutCancel(ctx), origin.Domain(), origin, n.wire, state,
		xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
			return xmpp.StreamConfig{Features: features}
		}))
	n.password = ""
	if !stopWatch() && err == nil {
		<-fired
		err = ctx.Err()
	}
	if err != nil {
		raw.Close()
		return nil, classifyNegotiationError(ctx, addr, err)
	}

	c := &Conn{
		sess:      sess,
		raw:       raw,
		ws:        ws,
		tr:        tr,
		local:     sess.LocalAddr(),
		maxSize:   cfg.MaxStanzaSize,
		presence:  cfg.Presence,
		disco:     discoInfoQuery(cfg.Identity, cfg.Features),
		pending:   make(map[string]*pendingIQ),
		resources: make(map[string]map[string]jid.JID),
		pepConfig: make(map[string]string),
		queue:     make(chan *xmltree.Element, cfg.QueueSize),
		done:      make(chan struct{}),
		closing:   make(chan struct{}),
		stop:      make(chan struct{}),
	}
	c.limits = xmltree.Limits{
		MaxBytes: cfg.MaxStanzaSize,
		MaxNodes: max(xmltree.DefaultMaxNodes, int(cfg.MaxStanzaSize/32)),
	}
	ws.raw.Store(false) // from now on, trace parsed stanzas
	c.wg.Add(1)
	go c.readLoop()
	if cfg.Setup != nil {
		cfg.Setup(c)
	}
	c.wg.Add(1)
	go c.dispatch()
	if cfg.Presence {
		p := xmltree.New(nsClient, "presence")
		p.AddChild(xmltree.New(nsClient, "priority").AddText("0"))
		if err := c.Send(ctx, p); err != nil {
			c.Close()
			return nil, fmt.Errorf("transport: sending initial presence: %w", err)
		}
	}
	return c, nil
}

// LocalJID returns our full JID, as bound by the server.
func (c *Conn) LocalJID() jid.JID { return c.local }

// Send sends a stanza (<message/>, <presence/> or <iq/>, in the jabber:client
// namespace or none). A stanza without an id gets a random one; st itself is
// not modified. If ctx ends while the stanza is being written, the stream
// may be unusable afterwards (a TLS write cannot be resumed).
func (c *Conn) Send(ctx context.Context, st *xmltree.Element) error {
	if st == nil {
		return errors.New("transport: Send of a nil stanza")
	}
	switch st.Name.Local {
	case "message", "presence", "iq":
	default:
		return fmt.Errorf("transport: Send: <%s/> is not a stanza", st.Name.Local)
	}
	if st.Name.Space != "" && st.Name.Space != nsClient {
		return fmt.Errorf("transport: Send: stanza in namespace %q, want %q", st.Name.Space, nsClient)
	}
	out := shallowCopy(st)
	out.Name.Space = nsClient
	if out.Attribute("id") == "" {
		out.SetAttr("id", newID())
	}
	return c.write(ctx, st.Name.Local, func(w tokenWriter) error {
		c.tr.element("SEND", out)
		return copyTokens(w, elementTokens(out, ""))
	})
}

// SendRaw writes one stanza that the caller has already serialized, byte for
// byte: nothing is parsed, checked or added (not even an id). It is the
// path for stanzas produced as bytes, such as pkg/crypt's encrypted
// stanzas, which would otherwise be parsed only to be serialized again.
//
// The caller guarantees that stanza is exactly one well-formed <message/>,
// <presence/> or <iq/> element, in the jabber:client namespace (declared
// or inherited from the stream), in UTF-8 with only XML 1.0 characters,
// without an XML declaration, DTD or anything else around it. A malformed
// stanza makes the server end the stream. SendRaw only checks that stanza
// starts with the start tag of one of the three stanzas and ends with '>'.
//
// Otherwise it behaves as Send: it is traced, and ordered with the other
// writes of the stream (it holds the same output lock).
func (c *Conn) SendRaw(ctx context.Context, stanza []byte) error {
	name := rawStanzaName(stanza)
	if name == "" {
		return errors.New("transport: SendRaw: not a serialized <message/>, <presence/> or <iq/>")
	}
	return c.write(ctx, name, func(tokenWriter) error {
		c.tr.line("SEND", stanza)
		_, err := c.sess.Conn().Write(stanza)
		return err
	})
}

// tokenWriter is the part of mellium's output token writer that write
// hands to its callers.
type tokenWriter interface {
	EncodeToken(xml.Token) error
	Flush() error
}

// rawStanzaName returns "message", "presence" or "iq" when b starts with
// that start tag and ends with '>', and "" otherwise.
func rawStanzaName(b []byte) string {
	if len(b) < len("<iq/>") || b[0] != '<' || b[len(b)-1] != '>' {
		return ""
	}
	for _, name := range [...]string{"message", "presence", "iq"} {
		if len(b) > len(name)+1 && string(b[1:1+len(name)]) == name {
			switch b[1+len(name)] {
			case ' ', '\t', '\r', '\n', '>', '/':
				return name
			}
		}
	}
	return ""
}

// write runs fn with the stream's output lock held (mellium's TokenWriter),
// then flushes. The end of ctx interrupts a blocked write through the
// connection's write deadline; the deadline is reset before the lock is
// released, so that it can never cut into the next write. (mellium's own
// Session.Send resets it from a goroutine that may run after the lock is
// released, when the caller cancels ctx right after Send returns: it then
// cuts into the next stanza, and a TLS stream cannot recover from that.)
func (c *Conn) write(ctx context.Context, name string, fn func(tokenWriter) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("transport: sending <%s/>: %w", name, err)
	}
	select {
	case <-c.done:
		return c.closedErr()
	default:
	}
	w := c.sess.TokenWriter()
	stop := func() bool { return true }
	var fired chan struct{}
	if ctx.Done() != nil {
		fired = make(chan struct{})
		stop = context.AfterFunc(ctx, func() {
			c.raw.SetWriteDeadline(time.Unix(1, 0))
			close(fired)
		})
	}
	err := fn(w)
	if err == nil {
		err = w.Flush()
	}
	if !stop() {
		// ctx ended during the write: wait for the deadline to be set,
		// then clear it for the next writer.
		<-fired
		c.raw.SetWriteDeadline(time.Time{})
	}
	if cerr := w.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("transport: sending <%s/>: %w", name, ctxErr)
		}
		select {
		case <-c.done:
			return c.closedErr()
		default:
		}
		return fmt.Errorf("transport: sending <%s/>: %w", name, err)
	}
	return nil
}

// OnMessage registers a handler for incoming <message/> stanzas. Handlers
// run in registration order on the dispatch goroutine, never on the read
// loop, so they may call Send and SendIQ. They must not modify the element
// and must not call Close (use go c.Close()). Register them in
// Config.Setup, or before the traffic they care about.
func (c *Conn) OnMessage(h func(*xmltree.Element)) {
	c.hmu.Lock()
	c.onMessage = append(c.onMessage, h)
	c.hmu.Unlock()
}

// OnPresence registers a handler for incoming <presence/> stanzas, with the
// rules of OnMessage. AvailableResources is already updated when it runs.
func (c *Conn) OnPresence(h func(*xmltree.Element)) {
	c.hmu.Lock()
	c.onPresence = append(c.onPresence, h)
	c.hmu.Unlock()
}

// OnIQ registers a handler for incoming IQ requests (type get or set),
// with the rules of OnMessage. A handler returns true if it handled the
// request (and sent the reply); the next handler is tried otherwise. A
// request no handler takes is answered with service-unavailable (RFC 6120
// §8.4). disco#info requests without a node are answered by the Conn itself
// from Config.Features and never reach handlers.
func (c *Conn) OnIQ(h func(*xmltree.Element) bool) {
	c.hmu.Lock()
	c.onIQ = append(c.onIQ, h)
	c.hmu.Unlock()
}

// AvailableResources returns the full JIDs of bare that have sent available
// presence (and not since become unavailable) on this stream, sorted.
func (c *Conn) AvailableResources(bare jid.JID) []jid.JID {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.resources[bare.Bare().String()]
	out := make([]jid.JID, 0, len(m))
	for _, j := range m {
		out = append(out, j)
	}
	sort.Slice(out, func(i, k int) bool { return out[i].String() < out[k].String() })
	return out
}

// Done returns a channel closed when the stream has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the stream ended: nil while it runs and after Close, an
// error wrapping ErrStanzaTooLarge after an oversized stanza, or the read
// error or stream error that ended it.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close sends unavailable presence (if Config.Presence) and the stream's
// closing tag, waits (up to a few seconds) for the server to close its
// side, closes the connection and waits for the read loop and the dispatch
// goroutine to end. Stanzas still queued are dropped. Close must not be
// called from a handler (it would wait for itself); call go c.Close()
// there. Calling Close again does nothing.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closing)
		select {
		case <-c.done:
		default:
			ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
			if c.presence {
				p := xmltree.New(nsClient, "presence", attr("type", "unavailable"))
				c.Send(ctx, p) //nolint:errcheck // best effort while closing
			}
			c.raw.SetWriteDeadline(time.Now().Add(closeTimeout))
			c.tr.line("SEND", []byte("</stream:stream>"))
			c.sess.Close() //nolint:errcheck // the server may already be gone
			select {
			case <-c.done:
			case <-ctx.Done():
			}
			cancel()
		}
		c.raw.Close()
		<-c.done
		close(c.stop)
		c.wg.Wait()
	})
	return nil
}

func (c *Conn) closedErr() error {
	if c.err != nil {
		return fmt.Errorf("%w: %w", ErrClosed, c.err)
	}
	return ErrClosed
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// readLoop owns mellium's input for the life of the stream.
func (c *Conn) readLoop() {
	defer c.wg.Done()
	r := c.sess.TokenReader()
	err := c.readStanzas(r)
	r.Close()
	c.finish(err)
}

func (c *Conn) readStanzas(r xml.TokenReader) error {
	for {
		c.ws.reset(c.maxSize)
		tok, err := r.Token()
		if err != nil {
			return err
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue // whitespace keepalive (RFC 6120 §4.6.1)
		}
		el, err := xmltree.Decode(r, start.Copy(), c.limits)
		if err != nil {
			return err
		}
		c.tr.element("RECV", el)
		c.handle(el)
	}
}

// finish records why the stream ended and closes our side of it.
func (c *Conn) finish(err error) {
	closing := isClosed(c.closing)
	var se stream.Error
	switch {
	case errors.Is(err, ErrStanzaTooLarge), errors.Is(err, xmltree.ErrTooLarge):
		c.tr.line("RECV", []byte(fmt.Sprintf("[stanza over the %d-byte limit, stream closed]", c.maxSize)))
		c.sendStreamError("policy-violation", "stanza too large")
		if !errors.Is(err, ErrStanzaTooLarge) {
			err = fmt.Errorf("%w: %w", ErrStanzaTooLarge, err)
		}
	case errors.Is(err, io.EOF):
		c.tr.line("RECV", []byte("</stream:stream>"))
		err = errors.New("transport: the server closed the stream")
	case errors.As(err, &se):
		err = fmt.Errorf("transport: the server ended the stream with a stream error: %s", se.Err)
	default:
		err = fmt.Errorf("transport: reading from the server: %w", err)
	}
	if closing && !errors.Is(err, ErrStanzaTooLarge) {
		err = nil
	}
	c.err = err
	close(c.done)
	if !closing {
		// Answer the end of the server's stream with ours (RFC 6120 §4.4).
		c.raw.SetWriteDeadline(time.Now().Add(closeTimeout))
		c.sess.Close() //nolint:errcheck // best effort
	}
	c.raw.Close()
}

// sendStreamError writes a stream error (RFC 6120 §4.9) and closes our
// stream.
func (c *Conn) sendStreamError(condition, text string) {
	const nsStreams = "urn:ietf:params:xml:ns:xmpp-streams"
	c.raw.SetWriteDeadline(time.Now().Add(closeTimeout))
	w := c.sess.TokenWriter()
	start := xml.StartElement{Name: xml.Name{Space: stream.NS, Local: "error"}}
	cond := xml.StartElement{Name: xml.Name{Space: nsStreams, Local: condition}}
	txt := xml.StartElement{Name: xml.Name{Space: nsStreams, Local: "text"}}
	for _, t := range []xml.Token{start, cond, cond.End(), txt, xml.CharData(text), txt.End(), start.End()} {
		if w.EncodeToken(t) != nil {
			break
		}
	}
	w.Flush()
	w.Close()
	c.tr.line("SEND", []byte("<stream:error><"+condition+"/></stream:error>"))
}

// handle runs on the read loop for each incoming stanza.
func (c *Conn) handle(el *xmltree.Element) {
	if el.Name.Space != nsClient {
		return // stream management and other non-stanza elements: not used
	}
	switch el.Name.Local {
	case "iq":
		switch el.Attribute("type") {
		case "result", "error":
			c.deliverReply(el)
		case "get", "set":
			if el.Attribute("id") == "" {
				return // cannot be answered (RFC 6120 §8.1.3)
			}
			if c.answerDisco(el) {
				return
			}
			select {
			case c.queue <- el:
			default:
				c.reply(errorReply(el, "wait", "resource-constraint"))
			}
		}
	case "presence":
		c.trackPresence(el)
		c.enqueue(el)
	case "message":
		c.enqueue(el)
	}
}

func (c *Conn) enqueue(el *xmltree.Element) {
	select {
	case c.queue <- el:
	case <-c.closing:
	}
}

// reply sends a reply the transport generates itself.
func (c *Conn) reply(st *xmltree.Element) {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	c.Send(ctx, st) //nolint:errcheck // a failed reply ends the stream, seen by the read loop
}

// dispatch runs the handlers, one stanza at a time.
func (c *Conn) dispatch() {
	defer c.wg.Done()
	for {
		select {
		case el := <-c.queue:
			c.deliver(el)
		case <-c.stop:
			return
		}
	}
}

func (c *Conn) deliver(el *xmltree.Element) {
	c.hmu.RLock()
	msg, pres, iqs := c.onMessage, c.onPresence, c.onIQ
	c.hmu.RUnlock()
	switch el.Name.Local {
	case "message":
		for _, h := range msg {
			h(el)
		}
	case "presence":
		for _, h := range pres {
			h(el)
		}
	case "iq":
		for _, h := range iqs {
			if h(el) {
				return
			}
		}
		c.reply(errorReply(el, "cancel", "service-unavailable"))
	}
}

// trackPresence updates AvailableResources (RFC 6121 §4.4-§4.5).
func (c *Conn) trackPresence(el *xmltree.Element) {
	from, err := jid.Parse(el.Attribute("from"))
	if err != nil || from.Domainpart() == "" {
		return
	}
	bare := from.Bare().String()
	typ := el.Attribute("type")
	c.mu.Lock()
	defer c.mu.Unlock()
	switch typ {
	case "":
		if from.Resourcepart() == "" {
			return
		}
		m := c.resources[bare]
		if m == nil {
			if len(c.resources) >= maxTrackedContacts {
				return
			}
			m = make(map[string]jid.JID)
			c.resources[bare] = m
		}
		if _, ok := m[from.String()]; ok || len(m) < maxTrackedResources {
			m[from.String()] = from
		}
	case "unavailable", "error":
		if from.Resourcepart() == "" {
			delete(c.resources, bare)
			return
		}
		if m := c.resources[bare]; m != nil {
			delete(m, from.String())
			if len(m) == 0 {
				delete(c.resources, bare)
			}
		}
	}
}
