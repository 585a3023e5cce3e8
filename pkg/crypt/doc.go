// Package crypt implements XEP-0200: Stanza Encryption, version 0.2
// (2007-05-30), and the cryptographic primitives of XEP-0116: Encrypted
// Session Negotiation, version 0.16, and XEP-0217: Simplified Encrypted
// Session Negotiation, version 0.1, whose design XEP-0188 explains.
//
// All of these specifications are Deferred: the XSF never advanced them, no
// permanent namespaces were issued, and they contain ambiguities. Where the
// text is unclear this package follows the decisions D-1 to D-26 of the
// project's ESessions digest (esession-core.md), cited by number. Talking
// to another implementation works only if both read the specifications the
// same way to the byte, so every encoding here is pinned by known-answer
// tests.
//
// The package has no network code. It works on *xmltree.Element values, as
// the transport parses them, and on bytes.
//
// # Stanza encryption
//
// After a negotiation, [NewStream] sets up a [Stream] from the session keys.
// [Stream.AppendSeal] (or [Stream.Seal]) encrypts the content of an outgoing
// stanza into a <c xmlns='http://www.xmpp.org/extensions/xep-0200.html#ns'/>
// element, leaving <thread/>, <error/>, <amp/> and server hints in the
// clear; [Stream.Open] (or [Stream.OpenStanza]) authenticates and decrypts
// a received one, checking the MAC in constant time before decrypting.
// Re-keying ([Stream.Rekey], <key/>, <new/>, <old/>) and the 2^32-block key
// budget are handled inside the stream. Every error from Open means the
// session must be terminated; every authentication failure is [ErrMAC].
//
// # Primitives for the negotiation
//
// The negotiation (package esn) does no hashing of key material itself. It
// uses from here: the MODP groups ([GroupByID], [ParseGroup]) and
// Diffie-Hellman key pairs ([Group.GenerateKey], [PrivateKey], with short or
// full exponents, and a background [KeyPool]); the hash commitment
// [HashCommitment]; K from [Suite.SharedKey], the session keys from
// [Suite.SessionKeys] (one [Suite.KDF] driven by [Label] values),
// [Suite.FinalKey] and the retained-secret helpers; the identity proofs
// [Suite.MacA], [Suite.MacB] and the identity encryption
// [Suite.EncryptIdentity] / [Suite.DecryptIdentity], whose 128-bit
// [Counter] runs on into the stanza traffic; the form normalization
// [Suite.NormalizeContent]; and the short authentication string [Suite.SAS].
//
// A [Suite] holds every algorithm choice and encoding detail. [XEPSuite]
// returns the default profile; a compatibility profile is another Suite
// value, not different code: [GajimSuite] reproduces Gajim 0.11.4–1.0.3
// (AES-256 keys under the name aes128-ctr, CTR from counter + 1, MACs over
// the 16-octet counter, space padding, its own form c14n, unpadded SAS).
//
// # Keys
//
// Secret material is held in [Key] and [PrivateKey] values, which print as
// "crypt.Key(REDACTED)" under every fmt verb and in slog. Erase and Close
// clear them; this is best effort in Go (hash and cipher states keep
// derived copies, and math/big may leave copies of exponents). The modular
// exponentiation of math/big is not constant time.
//
// # References
//
//   - [XEP-0200]: Stanza Encryption, 0.2
//   - [XEP-0116]: Encrypted Session Negotiation, 0.16
//   - [XEP-0217]: Simplified Encrypted Session Negotiation, 0.1
//   - [XEP-0188]: Cryptographic Design of Encrypted Sessions, 0.6
//   - [RFC 2104]: HMAC
//   - [RFC 2409] §6 and [RFC 3526]: the MODP groups
//   - [RFC 4648] §4: Base64
//   - [NIST SP 800-38A]: counter mode
//
// [XEP-0200]: https://xmpp.org/extensions/xep-0200.html
// [XEP-0116]: https://xmpp.org/extensions/xep-0116.html
// [XEP-0217]: https://xmpp.org/extensions/xep-0217.html
// [XEP-0188]: https://xmpp.org/extensions/xep-0188.html
// [RFC 2104]: https://www.rfc-editor.org/rfc/rfc2104
// [RFC 2409]: https://www.rfc-editor.org/rfc/rfc2409
// [RFC 3526]: https://www.rfc-editor.org/rfc/rfc3526
// [RFC 4648]: https://www.rfc-editor.org/rfc/rfc4648
// [NIST SP 800-38A]: https://csrc.nist.gov/pubs/sp/800/38/a/final
package crypt
