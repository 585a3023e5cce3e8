package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TrustedKey is a peer's public key as remembered by one local account,
// with the associations XEP-0116 §7.4 (Key Associations) requires: the
// JIDs that presented it, whether the user verified it, and a petname.
type TrustedKey struct {
	// Fingerprint names the key; the caller chooses its text form (for
	// ESessions, Base64 of HASH(normalized KeyValue), esession-core.md
	// §6.8). It is the record's key and must not be empty.
	Fingerprint string
	// Key is the public key in the caller's encoding (e.g. the normalized
	// <KeyValue/>). It is public data and stored as is.
	Key []byte
	// JIDs are the bare JIDs associated with the key.
	JIDs []string
	// Verified says the user confirmed the key out of band.
	Verified bool
	// Petname is the user's name for the key, shown before any JID.
	Petname string
	// FirstSeen is set when the key is first stored; LastSeen on every
	// PutKey.
	FirstSeen, LastSeen time.Time
}

type keyRecord struct {
	Key       []byte    `json:"key"`
	JIDs      []string  `json:"jids"`
	Verified  bool      `json:"verified"`
	Petname   string    `json:"petname,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

func (t *Tx) keys(account string, create bool) (*bolt.Bucket, error) {
	if account == "" {
		return nil, ErrInvalidName
	}
	root := t.tx.Bucket(bucketKeys)
	if root == nil {
		return nil, fmt.Errorf("%w: keys", ErrNotFound)
	}
	return sub(root, account, create)
}

func decodeKey(fp, v []byte) (TrustedKey, error) {
	var r keyRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return TrustedKey{}, fmt.Errorf("store: key record %q: %w", fp, err)
	}
	return TrustedKey{Fingerprint: string(fp), Key: r.Key, JIDs: r.JIDs, Verified: r.Verified,
		Petname: r.Petname, FirstSeen: r.FirstSeen, LastSeen: r.LastSeen}, nil
}

// PutKey stores k for account, replacing any record with the same
// fingerprint. FirstSeen is kept from an existing record (or set to now
// for a new one) unless k sets it; LastSeen becomes now.
func (t *Tx) PutKey(account string, k TrustedKey) error {
	if k.Fingerprint == "" {
		return ErrInvalidName
	}
	b, err := t.keys(account, true)
	if err != nil {
		return err
	}
	now := t.db.now().UTC()
	if k.FirstSeen.IsZero() {
		k.FirstSeen = now
		if old := b.Get([]byte(k.Fingerprint)); old != nil {
			if prev, err := decodeKey([]byte(k.Fingerprint), old); err == nil {
				k.FirstSeen = prev.FirstSeen
			}
		}
	}
	v, err := json.Marshal(keyRecord{Key: bytes.Clone(k.Key), JIDs: k.JIDs, Verified: k.Verified,
		Petname: k.Petname, FirstSeen: k.FirstSeen, LastSeen: now})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := b.Put([]byte(k.Fingerprint), v); err != nil {
		return fmt.Errorf("store: put key: %w", err)
	}
	return nil
}

// Key returns account's record for fingerprint, or an error wrapping
// ErrNotFound.
func (t *Tx) Key(account, fingerprint string) (TrustedKey, error) {
	b, err := t.keys(account, false)
	if err != nil {
		return TrustedKey{}, err
	}
	v := b.Get([]byte(fingerprint))
	if v == nil {
		return TrustedKey{}, fmt.Errorf("%w: key %q of %s", ErrNotFound, fingerprint, account)
	}
	return decodeKey([]byte(fingerprint), v)
}

// Keys returns all of account's keys in fingerprint order.
func (t *Tx) Keys(account string) ([]TrustedKey, error) {
	return t.filterKeys(account, func(TrustedKey) bool { return true })
}

// KeysForJID returns account's keys associated with the bare JID jid.
func (t *Tx) KeysForJID(account, jid string) ([]TrustedKey, error) {
	return t.filterKeys(account, func(k TrustedKey) bool { return slices.Contains(k.JIDs, jid) })
}

func (t *Tx) filterKeys(account string, keep func(TrustedKey) bool) ([]TrustedKey, error) {
	b, err := t.keys(account, false)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []TrustedKey
	err = b.ForEach(func(k, v []byte) error {
		tk, err := decodeKey(k, v)
		if err != nil {
			return err
		}
		if keep(tk) {
			out = append(out, tk)
		}
		return nil
	})
	return out, err
}

// DeleteKey forgets a key. A missing key is not an error.
func (t *Tx) DeleteKey(account, fingerprint string) error {
	b, err := t.keys(account, false)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := b.Delete([]byte(fingerprint)); err != nil {
		return fmt.Errorf("store: delete key: %w", err)
	}
	return nil
}
