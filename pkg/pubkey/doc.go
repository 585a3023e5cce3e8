// Package pubkey implements XEP-0189: Public Key Publishing, version 0.14,
// for RSA keys, and the key management esn builds on it: generating keys,
// moving them to and from OpenSSL, keeping private keys at rest, and the
// checks a client must make before it relies on a published key.
//
// XEP-0189 is Deferred: it was never finished, its examples contradict its
// schema in places, and its example fingerprint cannot be reproduced. Where
// the text is ambiguous this package follows the project's digest
// (sessions-keys-offline-archive.md §3 and §8.3); docs/keys.md lists the
// choices.
//
// # Payloads
//
// [PublicKey] is the <pubkey xmlns='urn:xmpp:pubkey:2'/> payload of
// XEP-0189 §2 (begin, end, jid, rsakey); [ParsePublicKey] is strict and
// bounded, and also reads the older <key/> (base64 DER SubjectPublicKeyInfo)
// body the spec's direct-request examples use. [Revocation] is the
// <revocation xmlns='urn:xmpp:revoke:2'/> payload of XEP-0189 §2.2 (the
// prose calls it <revoke/>, which is accepted on input).
//
// # Fingerprints
//
// [PublicKey.Fingerprint] is the print of XEP-0189 §2:
//
//	print = Base64(SHA-256(UTF-8(begin + end + jid + str(modulus) + str(exponent))))
//
// over the exact character data of begin, end and jid and the decimal
// strings of the modulus and exponent (digest §8 #20: the spec's example
// value is wrong; the formula is what counts). [Fingerprint.String] shows it
// as 16 groups of 4 hex digits, to read aloud and compare; [ParseFingerprint]
// accepts that form, plain hex, and the Base64 of the payload.
//
// # Signatures
//
// Revocations are signed with RSASSA-PKCS1-v1_5 and SHA-256 over the exact
// bytes key | keyprint | revocationprint | revocationtime (XEP-0189 §2.2,
// digest §8 #23), Base64-encoded. [Sign] and [Verify] are that scheme, the
// same as xmldsig rsa-sha256 used by ESession identity proofs (XEP-0116
// §5.5.2).
//
// # Validation
//
// [Validate] makes the checks of digest §3.6 before a fetched key is
// shown or trusted: the print matches, the key is within its validity
// period, the <jid/> equals the JID it was fetched from, the modulus has at
// least [MinBits] bits, and no verified revocation names it.
//
// # Keys at rest
//
// [Keystore] keeps the account's own keys under the state directory, one
// file per key with mode 0600 in a directory with mode 0700, and refuses to
// read a file that group or others may access ([PermissionError]). A
// private key may be encrypted under a passphrase with scrypt (RFC 7914) and
// XChaCha20-Poly1305 ([SealPrivateKey]); [MarshalPrivateKeyPEM] and
// [ParsePrivateKeyPEM] read and write the PKCS#1 and PKCS#8 PEM files the
// openssl command uses.
//
// # References
//
//   - [XEP-0189] Public Key Publishing 0.14
//   - [XEP-0116] Encrypted Session Negotiation 0.16 (§7.4 Key Associations)
//   - [XEP-0222] Persistent Storage of Public Data via PubSub
//   - [RFC 8017] PKCS #1 v2.2 (RSASSA-PKCS1-v1_5)
//   - [RFC 5208] PKCS #8
//   - [RFC 7914] The scrypt Password-Based Key Derivation Function
//
// [XEP-0189]: https://xmpp.org/extensions/xep-0189.html
// [XEP-0116]: https://xmpp.org/extensions/xep-0116.html
// [XEP-0222]: https://xmpp.org/extensions/xep-0222.html
// [RFC 8017]: https://www.rfc-editor.org/rfc/rfc8017
// [RFC 5208]: https://www.rfc-editor.org/rfc/rfc5208
// [RFC 7914]: https://www.rfc-editor.org/rfc/rfc7914
package pubkey
