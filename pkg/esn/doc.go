// Package esn implements XMPP Encrypted Sessions as a sans-I/O protocol core:
// XEP-0201 thread ids, the XEP-0155 stanza session state machine, and the
// 4-message (SIGMA-R with hash commitment) negotiation of XEP-0116 version
// 0.16 and its simplified profile XEP-0217 version 0.1 (both 2007-05-30),
// followed by XEP-0200 stanza encryption, re-keying and termination.
// [ProfileGajim] reproduces instead the deviations of Gajim 0.11.4–1.0.3,
// the only client that shipped ESessions (gajim.go, crypt.GajimSuite).
//
// All of these XEPs except XEP-0201 and XEP-0155 are Deferred: they were
// never finished, and their namespaces are the provisional ones from the
// XSF's web site. Where the texts are ambiguous this package follows the
// decisions D-1..D-26 of the project's implementation digest; docs/protocol.md
// lists them.
//
// # Using the package
//
// A [Manager] holds every session of one local account. It performs no I/O:
// the caller feeds it each incoming message stanza with [Manager.Receive]
// and sends the stanzas it returns, and it reports what happened as
// [Event] values ([NegotiatedEvent], [MessageEvent], [TerminatedEvent],
// [RekeyedEvent], [WarningEvent]).
//
//	m, _ := esn.NewManager(esn.Config{Local: "alice@example.org/pda", Secrets: store})
//	thread, out, _ := m.Initiate("bob@example.com", esn.InitiateOptions{})
//	send(out...)
//	for st := range incoming {
//		res, err := m.Receive(st)
//		send(res.Send...)
//		for _, ev := range res.Events { ... }
//	}
//
// Once [NegotiatedEvent] has been reported, [Manager.Encrypt] turns plaintext
// children (a <body/>, chat states) into an encrypted message stanza, and
// [Manager.Terminate] ends the session with the encrypted terminate form of
// XEP-0116 §10. Timeouts are driven by the caller through [Manager.Tick], so
// tests control time.
//
// A [Session] is the state machine of one thread, in the style of
// golang.org/x/crypto/otr.Conversation: [Session.Receive] returns the
// stanzas to send and the events, and never blocks.
//
// # Forms
//
// Negotiation forms are built by this package ([Form]) and serialized
// byte-exactly; received forms keep the exact parsed element so that the
// XEP-0116 §"XML Normalization" ([NormContent]) is computed over the form as
// received (D-4, D-5). [ParseForm] is strict and bounded.
//
// # Retained secrets
//
// The retained-secret chain of XEP-0116 §5.4.3 and §5.4.4 is kept through the
// [RetainedSecrets] interface, implemented by pkg/store (and by
// [MemorySecrets] for tests and short-lived programs). New secrets are
// written before the protocol step that depends on them: the responder
// before M4 is sent, the initiator after M4 verified (D-13).
//
// # Public keys
//
// With a [KeyRing] in Config.Keys and Preferences.Auth set to [AuthKey] or
// [AuthAuto], sessions are authenticated with RSA keys (XEP-0116 §4.2
// sign_algs rsa-sha256, init_pubkey and resp_pubkey key or hash; identity
// proofs of §5.5.2 signed over mac_X): the 3-message SIGMA-I negotiation
// when the initiator already trusts the responder's key (dhkeys in the
// request, no SAS), the 4-message one with signed identities otherwise.
// The KeyRing supplies our signing key and decides on the peer's
// ([ErrUntrustedKey]); [NegotiatedEvent.PeerKey] reports the verified key.
// A feature-not-implemented answer to a 3-message request is never
// followed by an automatic 4-message retry (digest §8.5).
//
// # Simultaneous initiation
//
// When a request arrives from a peer to whom our own request is still
// pending, the two thread ids are compared as byte strings and the request
// with the lower thread id survives (digest §2.11). Both sides apply the
// same rule, so exactly one negotiation completes.
//
// # References
//
//   - [XEP-0116] Encrypted Session Negotiation 0.16
//   - [XEP-0217] Simplified Encrypted Session Negotiation 0.1
//   - [XEP-0200] Stanza Encryption 0.2
//   - [XEP-0155] Stanza Session Negotiation 1.2
//   - [XEP-0201] Best Practices for Message Threads 1.0
//   - [XEP-0004] Data Forms
//
// [XEP-0116]: https://xmpp.org/extensions/xep-0116.html
// [XEP-0217]: https://xmpp.org/extensions/xep-0217.html
// [XEP-0200]: https://xmpp.org/extensions/xep-0200.html
// [XEP-0155]: https://xmpp.org/extensions/xep-0155.html
// [XEP-0201]: https://xmpp.org/extensions/xep-0201.html
// [XEP-0004]: https://xmpp.org/extensions/xep-0004.html
package esn
