package transport

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Callers test for them with errors.Is.
var (
	// ErrPlaintextRefused is returned by Dial when Config.AllowPlaintext is
	// set but the server address is not a loopback address (or when plaintext
	// is combined with DirectTLS). See RFC 7590 §3.
	ErrPlaintextRefused = errors.New("transport: plaintext connection refused: allowed only to a loopback address")

	// ErrStanzaTooLarge ends the stream when an incoming stanza exceeds
	// Config.MaxStanzaSize. Conn.Err wraps it.
	ErrStanzaTooLarge = errors.New("transport: incoming stanza exceeds the size limit")

	// ErrClosed is returned by methods called after the stream ended, and by
	// waits (SendIQ) cut short by the end of the stream. When the stream ended
	// for a reason other than Close, the error also wraps that reason.
	ErrClosed = errors.New("transport: connection closed")
)

// ConnectError reports that no TCP connection could be made. Addr is the
// "host:port" (or, after an SRV lookup, every "host:port" tried, separated by
// ", ") that refused or could not be reached.
type ConnectError struct {
	Addr string
	Err  error
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("transport: cannot connect to %s: %v", e.Addr, e.Err)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// TLSError reports a failed TLS handshake, most often a certificate that does
// not verify for ServerName, the XMPP domain the certificate must name (RFC
// 6120 §13.7.2, RFC 7590 §3.2). It also reports a server that refuses or
// does not offer STARTTLS.
type TLSError struct {
	ServerName string
	Err        error
}

func (e *TLSError) Error() string {
	return fmt.Sprintf("transport: TLS verification of server name %q failed: %v", e.ServerName, e.Err)
}

func (e *TLSError) Unwrap() error { return e.Err }

// AuthError reports failed SASL authentication (RFC 6120 §6.5). Mechanisms
// lists what the server offered. Condition is the SASL failure condition
// (RFC 6120 §6.5, e.g. "not-authorized"), or "" when no offered mechanism
// was acceptable to us (then Err says why). Text is the server's
// human-readable text, if any. No field ever holds the password.
type AuthError struct {
	Mechanisms []string
	Condition  string
	Text       string
	Err        error
}

func (e *AuthError) Error() string {
	var b strings.Builder
	b.WriteString("transport: authentication failed")
	switch {
	case e.Condition != "":
		fmt.Fprintf(&b, " (%s)", e.Condition)
		if e.Text != "" {
			fmt.Fprintf(&b, ": %q", e.Text)
		}
	case e.Err != nil:
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if len(e.Mechanisms) == 0 {
		b.WriteString("; the server offered no SASL mechanism")
	} else {
		fmt.Fprintf(&b, "; the server offered SASL mechanisms %s", strings.Join(e.Mechanisms, ", "))
	}
	return b.String()
}

func (e *AuthError) Unwrap() error { return e.Err }

// StanzaError is an error reply to a stanza (RFC 6120 §8.3). Type is one of
// auth, cancel, continue, modify, wait; Condition is the defined condition
// of RFC 6120 §8.3.3 (e.g. "service-unavailable", "item-not-found"); Text is
// the optional human-readable text; By is the 'by' attribute, if any.
type StanzaError struct {
	Type      string
	Condition string
	Text      string
	By        string
}

func (e *StanzaError) Error() string {
	s := "transport: stanza error: " + e.Condition
	if e.Type != "" {
		s += " (" + e.Type + ")"
	}
	if e.Text != "" {
		s += fmt.Sprintf(": %q", e.Text)
	}
	return s
}

// Is reports whether target is a *StanzaError whose non-empty fields all
// match e, so that errors.Is(err, &StanzaError{Condition: "item-not-found"})
// matches any error reply with that condition.
func (e *StanzaError) Is(target error) bool {
	t, ok := target.(*StanzaError)
	if !ok {
		return false
	}
	return (t.Type == "" || t.Type == e.Type) &&
		(t.Condition == "" || t.Condition == e.Condition) &&
		(t.Text == "" || t.Text == e.Text) &&
		(t.By == "" || t.By == e.By)
}
