package transport

import (
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

	"github.com/esn-project/esn/pkg/xmltree"
	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"
)

// Stream-level namespaces (RFC 6120 §5, §6).
const (
	nsStartTLS = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL     = "urn:ietf:params:xml:ns:xmpp-sasl"
)

// maxSASLPayload bounds one base64 SASL payload from the server.
const maxSASLPayload = 64 << 10

// candidates returns the "host:port" addresses to try, in order.
//
// With Config.Server set, that address alone. Otherwise the SRV records of
// RFC 6120 §3.2.1 (_xmpp-client._tcp) or, with DirectTLS, of XEP-0368
// (_xmpps-client._tcp), falling back to the domain itself on port 5222 or
// 5223 when there are none (RFC 6120 §3.2.2).
func candidates(ctx context.Context, cfg *Config) ([]string, error) {
	if cfg.Server != "" {
		if _, _, err := net.SplitHostPort(cfg.Server); err != nil {
			return nil, fmt.Errorf("transport: server address %q is not host:port: %w", cfg.Server, err)
		}
		return []string{cfg.Server}, nil
	}
	domain := cfg.JID.Domainpart()
	service, port := "xmpp-client", "5222"
	if cfg.DirectTLS {
		service, port = "xmpps-client", "5223"
	}
	var r net.Resolver
	_, srvs, err := r.LookupSRV(ctx, service, "tcp", domain)
	if err == nil && len(srvs) == 1 && srvs[0].Target == "." {
		// RFC 2782: the service is decidedly not available at this domain.
		return nil, &ConnectError{Addr: domain, Err: fmt.Errorf("the SRV record _%s._tcp.%s says the service is not offered", service, domain)}
	}
	if err != nil || len(srvs) == 0 {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, &ConnectError{Addr: domain, Err: ctxErr}
		}
		return []string{net.JoinHostPort(domain, port)}, nil
	}
	addrs := make([]string, 0, len(srvs))
	for _, s := range srvs {
		addrs = append(addrs, net.JoinHostPort(strings.TrimSuffix(s.Target, "."), strconv.Itoa(int(s.Port))))
	}
	return addrs, nil
}

// connect opens a TCP connection to the first address that accepts.
func connect(ctx context.Context, addrs []string) (net.Conn, error) {
	var d net.Dialer
	var errs []error
	for _, a := range addrs {
		c, err := d.DialContext(ctx, "tcp", a)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	err := errs[len(errs)-1]
	if len(errs) > 1 {
		err = errors.Join(errs...)
	}
	return nil, &ConnectError{Addr: strings.Join(addrs, ", "), Err: err}
}

// isLoopbackAddr reports whether a is a loopback IP address.
func isLoopbackAddr(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// literalNonLoopback reports whether hostport names an IP literal that is
// not loopback: such an address is refused before dialing when plaintext is
// asked for. Names are checked after connecting, on the address reached.
func literalNonLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && !ip.IsLoopback()
}

// negotiation carries what the stream features need while Dial runs.
type negotiation struct {
	ctx        context.Context // Dial's context (the features get one that never ends)
	raw        net.Conn        // the TCP connection
	wire       *wire           // the current wire (replaced at STARTTLS)
	ws         *wireState      // shared by the wires
	tlsConfig  *tls.Config
	serverName string
	localpart  string
	password   string
	resource   string   // resource to ask for at bind ("" = server's choice)
	plainLocal bool     // plaintext to loopback: PLAIN allowed without TLS
	offered    []string // SASL mechanisms the server offered
}

func (n *negotiation) tlsErr(err error) error {
	if ctxErr := n.ctx.Err(); ctxErr != nil {
		return fmt.Errorf("transport: TLS handshake with %s: %w", n.serverName, ctxErr)
	}
	return &TLSError{ServerName: n.serverName, Err: err}
}

// handshake runs the TLS client handshake on the raw connection.
func (n *negotiation) handshake(alpn bool) (*tls.Conn, error) {
	cfg := n.tlsConfig.Clone()
	if alpn {
		cfg.NextProtos = []string{"xmpp-client"} // XEP-0368 §3
	}
	tc := tls.Client(n.raw, cfg)
	if err := tc.HandshakeContext(n.ctx); err != nil {
		return nil, n.tlsErr(err)
	}
	return tc, nil
}

// startTLS is the STARTTLS stream feature (RFC 6120 §5.4). It replaces
// mellium's so that the handshake error is typed, the certificate is
// checked against the XMPP domain, and the new wire sits above TLS (so
// traces and the size budget see plaintext XML).
func (n *negotiation) startTLS() xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:       xml.Name{Space: nsStartTLS, Local: "starttls"},
		Prohibited: xmpp.Secure,
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, any, error) {
			// Always treat it as required: we never continue without TLS.
			return true, nil, d.Skip()
		},
		Negotiate: func(ctx context.Context, s *xmpp.Session, _ any) (xmpp.SessionState, io.ReadWriter, error) {
			w := s.TokenWriter()
			start := xml.StartElement{Name: xml.Name{Space: nsStartTLS, Local: "starttls"}}
			err := w.EncodeToken(start)
			if err == nil {
				err = w.EncodeToken(start.End())
			}
			if err == nil {
				err = w.Flush()
			}
			w.Close()
			if err != nil {
				return 0, nil, fmt.Errorf("transport: sending <starttls/>: %w", err)
			}
			r := s.TokenReader()
			defer r.Close()
			d := xml.NewTokenDecoder(r)
			se, err := nextStart(d)
			if err != nil {
				return 0, nil, n.tlsErr(fmt.Errorf("the server does not offer STARTTLS: %w", err))
			}
			if err := d.Skip(); err != nil {
				return 0, nil, err
			}
			switch {
			case se.Name.Space == nsStartTLS && se.Name.Local == "proceed":
			case se.Name.Space == nsStartTLS && se.Name.Local == "failure":
				return 0, nil, n.tlsErr(errors.New("the server refused STARTTLS"))
			default:
				return 0, nil, n.tlsErr(fmt.Errorf("unexpected <%s/> in answer to <starttls/>", se.Name.Local))
			}
			// Anything received after <proceed/> and before the handshake
			// was injected in plaintext (RFC 6120 §5.4.3.3): refuse it.
			if n.wire.buffered() > 0 {
				return 0, nil, n.tlsErr(errors.New("data received between <proceed/> and the TLS handshake"))
			}
			tc, err := n.handshake(false)
			if err != nil {
				return 0, nil, err
			}
			n.wire = newWire(tc, n.ws)
			return xmpp.Secure, n.wire, nil
		},
	}
}

// mechanisms returns the SASL mechanisms we will use, strongest first.
// SCRAM-SHA-1-PLUS needs TLS (channel binding, RFC 5802 §6); PLAIN is only
// sent over TLS or plaintext to a loopback address (RFC 6120 §6.4.7 with
// RFC 4616 §6).
func (n *negotiation) mechanisms(tlsActive bool) []sasl.Mechanism {
	var ms []sasl.Mechanism
	if tlsActive {
		ms = append(ms, sasl.ScramSha1Plus)
	}
	ms = append(ms, sasl.ScramSha1)
	if tlsActive || n.plainLocal {
		ms = append(ms, sasl.Plain)
	}
	return ms
}

// sasl is the SASL stream feature (RFC 6120 §6). It replaces mellium's so
// that failures are typed (*AuthError with the offered mechanisms and the
// failure condition) and the server's final SCRAM message is verified.
func (n *negotiation) sasl() xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:       xml.Name{Space: nsSASL, Local: "mechanisms"},
		Necessary:  xmpp.Secure,
		Prohibited: xmpp.Authn,
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, any, error) {
			var parsed struct {
				List []string `xml:"urn:ietf:params:xml:ns:xmpp-sasl mechanism"`
			}
			err := d.DecodeElement(&parsed, start)
			n.offered = n.offered[:0]
			for _, m := range parsed.List {
				n.offered = append(n.offered, strings.TrimSpace(m))
			}
			return true, n.offered, err
		},
		Negotiate: func(ctx context.Context, s *xmpp.Session, _ any) (xmpp.SessionState, io.ReadWriter, error) {
			if err := n.authenticate(ctx, s); err != nil {
				return 0, nil, err
			}
			// A stream restart follows on the same connection (RFC 6120 §6.4.6).
			return xmpp.Authn, s.Conn(), nil
		},
	}
}

func (n *negotiation) authError(cond, text string, err error) *AuthError {
	return &AuthError{Mechanisms: append([]string(nil), n.offered...), Condition: cond, Text: text, Err: err}
}

func (n *negotiation) authenticate(ctx context.Context, s *xmpp.Session) error {
	cs := s.ConnectionState()
	tlsActive := cs.Version != 0
	var mech sasl.Mechanism
	var ours []string
pick:
	for _, m := range n.mechanisms(tlsActive) {
		ours = append(ours, m.Name)
		for _, o := range n.offered {
			if o == m.Name {
				mech = m
				break pick
			}
		}
	}
	if mech.Name == "" {
		return n.authError("", "", fmt.Errorf("no SASL mechanism in common (we support %s here)", strings.Join(ours, ", ")))
	}
	opts := []sasl.Option{
		sasl.Credentials(func() ([]byte, []byte, []byte) {
			return []byte(n.localpart), []byte(n.password), nil
		}),
		sasl.RemoteMechanisms(n.offered...),
	}
	if tlsActive {
		opts = append(opts, sasl.TLSState(cs))
	}
	client := sasl.NewClient(mech, opts...)
	more, resp, err := client.Step(nil)
	if err != nil {
		return n.authError("", "", fmt.Errorf("%s: %w", mech.Name, err))
	}
	if err := writeSASL(s, "auth", mech.Name, resp); err != nil {
		return err
	}

	r := s.TokenReader()
	defer r.Close()
	d := xml.NewTokenDecoder(r)
	for {
		if err := n.ctx.Err(); err != nil {
			return err
		}
		se, err := nextStart(d)
		if err != nil {
			return fmt.Errorf("transport: reading the SASL exchange: %w", err)
		}
		if se.Name.Space != nsSASL {
			return fmt.Errorf("transport: unexpected <%s xmlns=%q/> during SASL", se.Name.Local, se.Name.Space)
		}
		switch se.Name.Local {
		case "failure":
			cond, text, err := decodeSASLFailure(d, se)
			if err != nil {
				return err
			}
			return n.authError(cond, text, nil)
		case "challenge", "success":
			data, err := decodeSASLPayload(d, se)
			if err != nil {
				return err
			}
			success := se.Name.Local == "success"
			if success && !more {
				if len(data) > 0 {
					return n.authError("", "", errors.New("the server sent unexpected data with <success/>"))
				}
				return nil
			}
			if !more {
				return n.authError("", "", errors.New("the server sent a challenge after the exchange ended"))
			}
			more, resp, err = client.Step(data)
			if err != nil {
				// For SCRAM this includes a server signature that does not
				// verify (RFC 5802 §5.1 "v="): the server is not who we
				// think, or channel binding did not match.
				if !success {
					writeSASL(s, "abort", "", nil) //nolint:errcheck // we fail anyway
				}
				return n.authError("", "", fmt.Errorf("%s: %w", mech.Name, err))
			}
			if success {
				if more {
					return n.authError("", "", errors.New("the server declared success before the exchange ended"))
				}
				return nil
			}
			if err := writeSASL(s, "response", "", resp); err != nil {
				return err
			}
		default:
			return fmt.Errorf("transport: unexpected <%s/> during SASL", se.Name.Local)
		}
	}
}

// writeSASL writes <auth/>, <response/> or <abort/> with a base64 payload
// (RFC 6120 §6.4.2: an empty initial response is "=").
func writeSASL(s *xmpp.Session, local, mech string, payload []byte) error {
	w := s.TokenWriter()
	defer w.Close()
	start := xml.StartElement{Name: xml.Name{Space: nsSASL, Local: local}}
	if mech != "" {
		start.Attr = []xml.Attr{attr("mechanism", mech)}
	}
	err := w.EncodeToken(start)
	if err == nil && local != "abort" {
		enc := "="
		if len(payload) > 0 {
			enc = base64.StdEncoding.EncodeToString(payload)
		}
		err = w.EncodeToken(xml.CharData(enc))
	}
	if err == nil {
		err = w.EncodeToken(start.End())
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		return fmt.Errorf("transport: sending SASL <%s/>: %w", local, err)
	}
	return nil
}

func decodeSASLPayload(d *xml.Decoder, start xml.StartElement) ([]byte, error) {
	var v struct {
		Data string `xml:",chardata"`
	}
	if err := d.DecodeElement(&v, &start); err != nil {
		return nil, fmt.Errorf("transport: decoding SASL <%s/>: %w", start.Name.Local, err)
	}
	data := strings.TrimSpace(v.Data)
	if data == "" || data == "=" {
		return nil, nil
	}
	if len(data) > maxSASLPayload {
		return nil, fmt.Errorf("transport: SASL <%s/> payload over %d bytes", start.Name.Local, maxSASLPayload)
	}
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, fmt.Errorf("transport: SASL <%s/> payload is not base64: %w", start.Name.Local, err)
	}
	return b, nil
}

// decodeSASLFailure reads <failure/> (RFC 6120 §6.5): its condition and
// optional text.
func decodeSASLFailure(d *xml.Decoder, start xml.StartElement) (cond, text string, err error) {
	var v struct {
		Children []struct {
			XMLName xml.Name
			Data    string `xml:",chardata"`
		} `xml:",any"`
	}
	if err := d.DecodeElement(&v, &start); err != nil {
		return "", "", fmt.Errorf("transport: decoding SASL <failure/>: %w", err)
	}
	for _, c := range v.Children {
		if c.XMLName.Local == "text" {
			text = strings.TrimSpace(c.Data)
		} else if cond == "" {
			cond = c.XMLName.Local
		}
	}
	if cond == "" {
		cond = "not-authorized" // RFC 6120 §6.5: a failure without a known condition
	}
	return cond, text, nil
}

// nsBind is the resource binding namespace (RFC 6120 §7).
const nsBind = "urn:ietf:params:xml:ns:xmpp-bind"

// bind is the resource binding stream feature (RFC 6120 §7). It replaces
// mellium's, which asks for the resource of the session's local address:
// that address is overwritten by the 'to' of the server's stream header,
// which carries no resource, so the requested resource was lost.
func (n *negotiation) bind() xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:       xml.Name{Space: nsBind, Local: "bind"},
		Necessary:  xmpp.Authn,
		Prohibited: xmpp.Ready,
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, any, error) {
			return true, nil, d.Skip()
		},
		Negotiate: func(ctx context.Context, s *xmpp.Session, _ any) (xmpp.SessionState, io.ReadWriter, error) {
			id := newID()
			b := xmltree.New(nsBind, "bind")
			if n.resource != "" {
				b.AddChild(xmltree.New(nsBind, "resource").AddText(n.resource))
			}
			req := iq("set", "", b)
			req.SetAttr("id", id)
			w := s.TokenWriter()
			err := copyTokens(w, elementTokens(req, ""))
			if err == nil {
				err = w.Flush()
			}
			w.Close()
			if err != nil {
				return 0, nil, fmt.Errorf("transport: sending the bind request: %w", err)
			}
			r := s.TokenReader()
			defer r.Close()
			start, err := nextStart(xml.NewTokenDecoder(r))
			if err != nil {
				return 0, nil, fmt.Errorf("transport: reading the bind reply: %w", err)
			}
			resp, err := xmltree.Decode(r, start.Copy(), xmltree.Limits{MaxBytes: 64 << 10})
			if err != nil {
				return 0, nil, fmt.Errorf("transport: reading the bind reply: %w", err)
			}
			if resp.Name.Local != "iq" || resp.Attribute("id") != id {
				return 0, nil, fmt.Errorf("transport: unexpected <%s/> in answer to the bind request", resp.Name.Local)
			}
			if resp.Attribute("type") == "error" {
				return 0, nil, fmt.Errorf("transport: binding resource %q: %w", n.resource, parseStanzaError(resp))
			}
			var bound jid.JID
			if rb := resp.Child(nsBind, "bind"); rb != nil {
				bound, err = jid.Parse(strings.TrimSpace(rb.ChildText(nsBind, "jid")))
			}
			if err != nil || bound.Resourcepart() == "" || bound.Localpart() == "" {
				return 0, nil, fmt.Errorf("transport: the server bound no usable JID (%q)", resp.String())
			}
			s.UpdateAddr(bound)
			return xmpp.Ready, nil, nil
		},
	}
}

// copyTokens writes every token of r to w.
func copyTokens(w interface{ EncodeToken(xml.Token) error }, r xml.TokenReader) error {
	for {
		tok, err := r.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := w.EncodeToken(tok); err != nil {
			return err
		}
	}
}

// nextStart returns the next start element, skipping whitespace.
func nextStart(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.CharData:
			if len(strings.TrimSpace(string(t))) != 0 {
				return xml.StartElement{}, errors.New("unexpected character data")
			}
		default:
			return xml.StartElement{}, fmt.Errorf("unexpected %T", tok)
		}
	}
}

// classifyNegotiationError turns what mellium returns from a failed
// negotiation into the errors callers branch on.
func classifyNegotiationError(ctx context.Context, addr string, err error) error {
	var (
		te *TLSError
		ae *AuthError
		ce *ConnectError
	)
	switch {
	case errors.As(err, &te), errors.As(err, &ae), errors.As(err, &ce):
		return err
	case ctx.Err() != nil:
		return fmt.Errorf("transport: negotiating the stream with %s: %w", addr, ctx.Err())
	}
	var se stream.Error
	if errors.As(err, &se) {
		return fmt.Errorf("transport: %s ended the stream during negotiation: %s", addr, se.Err)
	}
	return fmt.Errorf("transport: negotiating the stream with %s: %w", addr, err)
}
