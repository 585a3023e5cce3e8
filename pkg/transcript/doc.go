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
// mac_B of message 4 (§4.7) (or, for public keys, the signatures over
// mac_A and mac_B: see below), and then decrypts every XEP-0200 stanza of
// the session (XEP-0200 §8). [Transcript.FirstFailure] names the first
// value that did not verify.
//
// # Public keys
//
// Public-key negotiations are followed too (XEP-0116 §4.3-§4.7, digest §5,
// §6.6): the 3-message SIGMA-I variant, whose request carries one e per
// offered group (dhkeys) and whose response carries Bob's identity proof
// under the keys derived from K (which the key log holds as ESN_K; there
// is no K_final), and the 4-message variant with signed identities. For a
// party that identified with init_pubkey or resp_pubkey "key" the identity
// proof holds its whole <KeyValue/>; for "hash" only its fingerprint, and
// the key must be given with [Transcript.AddKeys]. Each proof is checked in
// the order a negotiation does: the identity MAC M_X, then the signature
// (rsa-sha256 over mac_X, recomputed from the captured forms and the
// key), so a flipped bit in an identity fails M_X and a changed signature,
// another key or a form changed in transit fails sign_X. The signing key
// is named by [KeyFingerprint]. Without its key a "hash" signature is
// reported as not checked, not as a failure.
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
//   - [XML-DSig] XML Signature Syntax and Processing (rsa-sha256, KeyValue)
//
// [XEP-0116]: https://xmpp.org/extensions/xep-0116.html
// [XEP-0217]: https://xmpp.org/extensions/xep-0217.html
// [XEP-0200]: https://xmpp.org/extensions/xep-0200.html
// [XEP-0155]: https://xmpp.org/extensions/xep-0155.html
// [XML-DSig]: https://www.w3.org/TR/xmldsig-core1/
package transcript
