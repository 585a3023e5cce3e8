// Package store keeps esn's persistent state in one bbolt file: the
// retained secrets of XEP-0116 §4.7 (ESession Accept (Bob)) and §4.8 (Final
// Steps (Alice)), the library of trusted public keys of XEP-0116 §7.4 (Key
// Associations) and XEP-0189 §11 (Security Considerations), and named
// buckets of opaque values that other packages (the XEP-0187 offline
// secrets, the outbox) build on.
//
// # Files and durability
//
// [Open] creates the file with mode 0600 and its directory with mode 0700,
// and refuses an existing file that group or others can access, or a
// directory they can write (a [*PermissionError] naming the chmod that
// fixes it). Every write runs in one bbolt transaction, so it is
// all-or-nothing, and each commit is fsynced before it returns: state that a protocol step depends on is on
// disk before the step is sent. bbolt takes an exclusive lock on the file;
// a second process waits at most [Options.LockTimeout] and then gets
// [ErrLocked].
//
// # Secrets at rest
//
// XEP-0116 §4.7 and §4.8 say retained secrets MUST be stored securely.
// Values of type [Secret] are sealed with XChaCha20-Poly1305 when
// [Options.Key] is set, the bucket, account and record name serving as
// additional data so that a sealed value cannot be moved to another record. Without a key they rely
// on the file mode alone, as SSH private keys without a passphrase do. A
// sealed value read without the key fails with [ErrSealed], and with the
// wrong key with [ErrUnseal].
//
// [Secret] never prints its bytes through fmt or log/slog.
//
// # Retained secrets
//
// The model is decision D-16 of the esn digest (esession-core.md §6.7):
// each local account keeps, per peer bare JID, a list of entries
// {secret, created, updated, verified}. [Tx.AddRetained] appends an entry
// for a peer with no shared retained secret; [Tx.ReplaceRetained] replaces
// the secret of the entry that matched (keeping its verified flag, which
// says whether the chain was ever confirmed by a SAS comparison) and may
// index it under one more peer JID. Expiry is the caller's policy:
// [Tx.DeleteRetainedBefore] removes entries not updated since a time.
//
// # Trusted keys
//
// [TrustedKey] records a public key by fingerprint with the bare JIDs
// associated with it, whether the user verified it, and a petname, as
// XEP-0116 §7.4 (Key Associations) requires; [Tx.KeysForJID] finds the
// keys a JID has presented before so that the caller can alert on a
// different key.
//
// # Concurrency
//
// A [DB] is safe for concurrent use by multiple goroutines; bbolt allows
// one writer and many readers at a time. A [Tx] must not be used outside
// the function it was passed to.
//
// # References
//
//   - [XEP-0116]: Encrypted Session Negotiation, version 0.16 (2007-05-30).
//   - [XEP-0189]: Public Key Publishing, version 0.14.
//   - [bbolt]: the embedded key/value store.
//
// [XEP-0116]: https://xmpp.org/extensions/xep-0116.html
// [XEP-0189]: https://xmpp.org/extensions/xep-0189.html
// [bbolt]: https://pkg.go.dev/go.etcd.io/bbolt
package store
