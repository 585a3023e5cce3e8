// Package transport is esn's XMPP client connection: the only package that
// talks to mellium.im/xmpp. Everything above it sees stanzas as
// *xmltree.Element, parsed once and within size bounds.
//
// Most callers need [Dial], then [Conn.Send], [Conn.SendIQ] and the
// handler registrations [Conn.OnMessage], [Conn.OnPresence] and
// [Conn.OnIQ] (best called from Config.Setup, which runs before any
// stanza is dispatched and before initial presence, so that handlers also
// see offline messages), and finally [Conn.Close]. [Conn.SendRaw] writes a
// stanza that is already serialized (pkg/crypt's encrypted stanzas) as it
// is. The contract is written down in docs/design/transport.md.
//
// # What it implements
//
//   - Connection: SRV lookup and fallback ([RFC 6120] §3.2), or a fixed
//     host:port; STARTTLS ([RFC 6120] §5) with certificate verification
//     against the account's domain by default ([RFC 7590] §3); direct TLS
//     ([XEP-0368]); plaintext only to a loopback address, for tests.
//   - Authentication: SASL ([RFC 6120] §6) with SCRAM-SHA-1-PLUS,
//     SCRAM-SHA-1 ([RFC 5802]) and PLAIN ([RFC 4616], only over TLS or
//     loopback), preferred in that order. The SCRAM server signature is
//     verified. (Debian 12's Prosody offers no -PLUS mechanism, so channel
//     binding is exercised only when a server offers it.)
//   - Resource binding with the requested resource ([RFC 6120] §7), by this
//     package rather than mellium's BindResource, which loses the resource
//     when the server's stream header carries a bare JID.
//   - Optional initial presence ([RFC 6121] §4.2).
//   - IQ request/response with per-call deadlines; a reply is accepted only
//     from the entity the request was sent to ([RFC 6120] §8.2.3);
//     unhandled requests get service-unavailable ([RFC 6120] §8.4).
//   - Service discovery: asking ([Conn.DiscoInfo]) and answering disco#info
//     with Config.Features ([XEP-0030] §3.1).
//   - Presence tracking for [Conn.AvailableResources] ([RFC 6121] §4).
//   - PEP ([XEP-0163]) as raw publish-subscribe IQs ([XEP-0060] §6.5, §7.1,
//     §7.2, §8.1, §8.2, §8.4): publish after creating or configuring the
//     node (instead of publish-options), fetch, retract, configure, delete.
//
// # Concurrency
//
// mellium's Session.Serve calls handlers while holding the stream's locks,
// so a handler that sends deadlocks. This package does not use Serve: its
// own read loop owns the input stream, matches IQ replies and answers
// disco#info, and hands messages, presence and IQ requests through a
// bounded queue to a separate dispatch goroutine that runs the handlers.
// Handlers may therefore call Send and SendIQ.
//
// # Bounds and secrets
//
// Every byte read from the stream is counted: a stanza over
// Config.MaxStanzaSize (1 MiB by default) ends the stream with a
// policy-violation stream error ([RFC 6120] §4.9.3.12) and [Conn.Err]
// wraps [ErrStanzaTooLarge]; element depth and count are bounded too. The
// password is used for SASL only; traces (Config.Trace) replace the
// content of the SASL <auth/>, <response/>, <challenge/> and <success/>
// elements with "[redacted]", and no error carries it.
//
// # Errors
//
// Callers branch with errors.As and errors.Is on [*ConnectError] (TCP),
// [*TLSError] (TLS, naming the server name verified), [*AuthError] (SASL,
// listing the mechanisms offered), [*StanzaError] (error replies),
// [ErrPlaintextRefused], [ErrStanzaTooLarge], [ErrClosed], and
// context.DeadlineExceeded, which is wrapped, never replaced.
//
// # References
//
//   - [RFC 6120]: XMPP Core
//   - [RFC 6121]: XMPP Instant Messaging and Presence
//   - [RFC 7590]: Use of TLS in XMPP
//   - [RFC 5802]: SCRAM
//   - [RFC 4616]: The PLAIN SASL mechanism
//   - [XEP-0030]: Service Discovery, version 2.5.0
//   - [XEP-0060]: Publish-Subscribe, version 1.30.0
//   - [XEP-0163]: Personal Eventing Protocol, version 1.2.2
//   - [XEP-0368]: SRV records for XMPP over TLS
//
// [RFC 6120]: https://www.rfc-editor.org/rfc/rfc6120
// [RFC 6121]: https://www.rfc-editor.org/rfc/rfc6121
// [RFC 7590]: https://www.rfc-editor.org/rfc/rfc7590
// [RFC 5802]: https://www.rfc-editor.org/rfc/rfc5802
// [RFC 4616]: https://www.rfc-editor.org/rfc/rfc4616
// [XEP-0030]: https://xmpp.org/extensions/xep-0030.html
// [XEP-0060]: https://xmpp.org/extensions/xep-0060.html
// [XEP-0163]: https://xmpp.org/extensions/xep-0163.html
// [XEP-0368]: https://xmpp.org/extensions/xep-0368.html
package transport
