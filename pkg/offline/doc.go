// Package offline implements XEP-0187: Offline Encrypted Sessions, version
// 0.5 (2007-05-30), over the XEP-0116 3-message (SIGMA-I) key exchange and
// XEP-0200 stanza encryption of packages esn and crypt, and the client side
// of XEP-0160: Best Practices for Handling Offline Messages, version 1.0.1.
//
// XEP-0187 is Deferred and lags behind XEP-0116 0.16: it still names the
// logging field "otr" and the key field "pubkey", links to signature
// sections that no longer exist, and asks to "stop publishing" with an
// empty item that real servers reject. Where it is unclear this package
// follows the project's digest (sessions-keys-offline-archive.md §4 and
// §8.4, decisions cited as "#N"); docs/offline.md lists them.
//
// Like package esn, the package is sans-I/O: it builds and checks stanzas
// and forms, and never talks to the network. cmd/esn fetches and publishes
// the PEP items, sends the stanzas and keeps the secrets in pkg/store
// through [Store].
//
// # Alice, before going offline (XEP-0187 §3.1)
//
// [Prepare] draws a fresh ESession ID N_A and one Diffie-Hellman key pair
// per offered MODP group, and builds the ESession request form with its
// 'expires', optional 'match_resource' and the 'signs' signatures of her
// long-term keys over the normalized form content (#31). The returned
// [Secrets] (N_A, the private exponents, the expiry and the offered form)
// MUST be stored before the form is published ([Store.Save] writes every
// set of one publication in one transaction). Two sets exist ([Set]): one
// for presence subscribers (PEP node xep-0187.html#ns, access model
// presence, fresh at every publication, withdrawn at login) and one for
// everybody (node xep-0116.html#ns, access model open, long-lived).
//
// # Bob, while Alice is offline (XEP-0187 §3.2, §3.3, §4)
//
// [ParseOptions] reads a fetched item strictly; [Options.Verify] checks the
// 'signs' against the keys Bob trusts for Alice (or acquires and decides
// on through a [KeyRing], never silently); [Start] refuses expired or
// unsupported options, makes the XEP-0116 responder computations and
// returns a [Session] whose first sealed stanza carries the
// <init xmlns='http://www.xmpp.org/extensions/xep-0116.html#ns-init'/>
// response form with Bob's encrypted identity, and the encrypted content.
// Later stanzas carry only <c/>. [Session.Terminate] ends the session
// (XEP-0187 §5); a one-shot session ends with its first stanza.
//
// # Alice, back online (XEP-0187 §3.4, XEP-0160)
//
// A [Receiver] holds the loaded secrets. [Receiver.Receive] recognises the
// stored <init/> by its 'nonce', rejects replays of d and N_B (§6.1),
// discards everything after the expiry undecrypted (§6.2), completes the
// key exchange with the stored exponent, verifies Bob's identity and key
// (through the [KeyRing]), and decrypts the content of that stanza and of
// the later ones, reporting the server's <delay/> stamp and Bob's
// encrypted SHIM Created header. Failures are silent on the wire, as
// XEP-0187 §3.4 asks: nothing is sent, and the caller is told why.
// Alice never sends content in an offline session; [Receiver.Terminate]
// builds the XEP-0116 termination she must send before talking to Bob
// (#42).
//
// # Deviations
//
// Offline sessions never re-key (#43): both sides run XEP-0200 with
// rekey_freq 4294967295, the value Alice publishes, and a <key/> ends the
// session. AMP (XEP-0079) is emitted for match_resource as #36 corrects
// it, but no common server enforces it, so a misdelivered stanza is
// simply not decryptable.
//
// # References
//
//   - [XEP-0187] Offline Encrypted Sessions 0.5: §3.1 Publishing Offline
//     ESession Options, §3.2 Requesting Offline ESession Options, §3.3
//     Starting an Offline ESession, §3.4 Accepting Offline ESessions, §4
//     Exchanging Stanzas, §5 ESession Termination, §6 Security
//     Considerations (§6.1 Replay Attacks, §6.2 Options Expiry Time, §6.3
//     Identity Protection)
//   - [XEP-0160] Best Practices for Handling Offline Messages 1.0.1
//   - [XEP-0116] Encrypted Session Negotiation 0.16
//   - [XEP-0200] Stanza Encryption 0.2
//   - [XEP-0163] Personal Eventing Protocol, [XEP-0060] Publish-Subscribe
//   - [XEP-0131] Stanza Headers and Internet Metadata (the Created header)
//   - [XEP-0203] Delayed Delivery
//
// [XEP-0187]: https://xmpp.org/extensions/xep-0187.html
// [XEP-0160]: https://xmpp.org/extensions/xep-0160.html
// [XEP-0116]: https://xmpp.org/extensions/xep-0116.html
// [XEP-0200]: https://xmpp.org/extensions/xep-0200.html
// [XEP-0163]: https://xmpp.org/extensions/xep-0163.html
// [XEP-0060]: https://xmpp.org/extensions/xep-0060.html
// [XEP-0131]: https://xmpp.org/extensions/xep-0131.html
// [XEP-0203]: https://xmpp.org/extensions/xep-0203.html
package offline
