// Package archive implements XEP-0136: Message Archiving, version 1.3.1
// (2021-03-04), client side, with the manual-archiving encryption of
// XEP-0241: Encryption of Archived Messages, version 0.1 (2008-04-30).
//
// XEP-0136 is Deprecated and XEP-0241 Deferred: no maintained server
// implements either (esn's tests run against the Prosody module in
// scripts/prosody/plugins/mod_esn_archive136.lua). esn uses them for one
// purpose: keeping decrypted ESession messages on the user's server,
// encrypted under the user's own long-term keys, because the session keys
// that protected them in transit are destroyed by design (XEP-0136 §5.1,
// digest §6.9). Where the texts are ambiguous, the package follows the
// project's digest (sessions-keys-offline-archive.md §6, §7.8 and §8.6);
// docs/archive.md lists the decisions.
//
// # Requests
//
// [Client] sends the requests of XEP-0136 over any [IQSender] (pkg/transport's
// Conn is one): preferences (§2, §6: [Client.Prefs], [Client.SetPrefs],
// [Client.SetAuto], [Client.RemoveItems], [Client.RemoveSessions];
// pushes with [ParsePush]), manual archiving (§5: [Client.Save],
// [Client.Upload] in chunks), management (§7: [Client.List],
// [Client.Retrieve] with XEP-0059 paging, [Client.Remove]) and
// replication (§8: [Client.Modified]). Every reply is parsed strictly and
// within bounds; a malformed one is an error wrapping [ErrMalformed].
//
// # Collections
//
// A [Collection] is a <chat/> element (§4): the messages exchanged with
// one JID, identified by (with, start), with an optional thread and
// subject. Its [Entry] values are the <to/>, <from/> and <note/>
// children, with absolute times computed from 'utc' and 'secs'.
//
// # Encryption (XEP-0241 §2)
//
// [NewSealer] generates a random collection key, wraps it for each of the
// user's own public keys ([Recipient], one <EncryptedKey/> each, the key
// named by its XEP-0189 fingerprint, see [KeyName]) and [Sealer.Seal]
// encrypts the joined <to/>/<from/>/<note/> sequence into an
// <EncryptedData/>. [Decrypt] reverses it with the private key
// ([Identity]). esn writes AES-256-GCM (XML Encryption 1.1) and RSA-OAEP
// with SHA-256 instead of XEP-0241's example aes128-cbc and rsa-1_5:
// both are authenticated or padding-oracle-free, and both are in the Go
// standard library. It reads the example algorithms only when
// DecryptOptions.AllowLegacy is set. The 'subject' of a collection is
// never encrypted (XEP-0241 §8); callers must warn before setting it.
//
// # Off the record
//
// A session that negotiated logging=mustnot (otr=true) must not be
// archived by any method, not even encrypted (XEP-0136 §3.2, XEP-0200
// §11.2). [Collector] groups messages into collections and refuses those
// with a [*LoggingError]; [ReadEvents] reads esn's --json event lines and
// keeps each message's logging mode.
//
// # References
//
//   - [XEP-0136] Message Archiving 1.3.1
//   - [XEP-0241] Encryption of Archived Messages 0.1
//   - [XEP-0059] Result Set Management
//   - [XEP-0189] Public Key Publishing 0.14 (key names)
//   - [XMLENC] XML Encryption Syntax and Processing 1.0
//   - [XMLENC11] XML Encryption Syntax and Processing Version 1.1 (§5.2.4 AES-GCM, §5.5.2 RSA-OAEP)
//   - [RFC 8017] PKCS #1 v2.2 (RSAES-OAEP)
//
// [XEP-0136]: https://xmpp.org/extensions/xep-0136.html
// [XEP-0241]: https://xmpp.org/extensions/xep-0241.html
// [XEP-0059]: https://xmpp.org/extensions/xep-0059.html
// [XEP-0189]: https://xmpp.org/extensions/xep-0189.html
// [XMLENC]: https://www.w3.org/TR/xmlenc-core/
// [XMLENC11]: https://www.w3.org/TR/xmlenc-core1/
// [RFC 8017]: https://www.rfc-editor.org/rfc/rfc8017
package archive
