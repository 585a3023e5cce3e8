// Package transcript explains and re-checks ESession negotiations after the
// fact, from the stanzas alone or with the session secrets of a key log.
//
// A [Transcript] consumes the message stanzas of one or more stanza
// sessions in the order they were sent or received ([Transcript.Add]) and
// returns, for each, a [Step]: which message of XEP-0155 / XEP-0116 it is
// and the values derived at that point. Without secrets it derives and
// checks what is public: the chosen parameters against the offer (XEP-0116
// §4.5), echoed nonces, the range of the Diffie-Hellman values (§4.5,
// §4.7), the hash commitment of the 4-message variant (SHA-256 of e against
// He, §4.7 step 1), the counters C_A and C_B = C_A XOR 2^(n-1) (§5.2) and
// the SAS (§6). This is what `esn --trace` prints after each negotiation
// stanza. It never handles private Diffie-Hellman values.
//
// With a [KeyLog] (the `--keylog` file, format in docs/usage.md), it also
// recomputes everything that depends on the shared secrets, as
// `esn decode` does: from K the provisory keys, M_A (the identity MAC) and
// mac_A of message 3 (XEP-0116 §4.6); from K_final the final keys, M_B and
// mac_B of message 4 (§4.7), and then decrypts every XEP-0200 stanza of
// the session (XEP-0200 §8). [Transcript.FirstFailure] names the first
// value that did not verify.
//
// [ReadCapture] reads the stanzas from `esn --trace` output ("SEND: <xml>"
// and "RECV: <xml>" lines, other lines ignored) or from any file of XML
// stanzas in order.
//
// Across XEP-0200 §9 re-keys it follows each sender's keys with the logged
// re-key secrets (ESN_REKEY_I_n, ESN_REKEY_R_n): after a stanza carrying
// <key/> the sender's initiator keys, after a <new/> its acceptor keys (or
// its unchanged keys when its own re-key was outstanding), and flags a
// logged secret whose keys do not verify. Without the secret the rest of
// that direction is reported as not checked, not as a failure.
//
// # References
//
//   - [XEP-0116] Encrypted Session Negotiation 0.16
//   - [XEP-0217] Simplified Encrypted Session Negotiation 0.1
//   - [XEP-0200] Stanza Encryption 0.2
//   - [XEP-0155] Stanza Session Negotiation 1.2
//
// [XEP-0116]: https://xmpp.org/extensions/xep-0116.html
// [XEP-0217]: https://xmpp.org/extensions/xep-0217.html
// [XEP-0200]: https://xmpp.org/extensions/xep-0200.html
// [XEP-0155]: https://xmpp.org/extensions/xep-0155.html
package transcript
