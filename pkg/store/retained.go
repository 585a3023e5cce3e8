package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// RetainedSecret is one entry of the retained-secret list of XEP-0116
// §4.7 (ESession Accept (Bob)) and §4.8 (Final Steps (Alice)), kept as
// decision D-16 describes: the most recent secret shared with one of the
// peer's clients.
type RetainedSecret struct {
	// ID identifies the entry within its account; it never changes.
	ID uint64
	// Peers are the bare JIDs the entry is filed under. The first is the
	// JID of the session that created it; XEP-0116's extended search may
	// add more (D-16).
	Peers []string
	// Secret is the retained secret RS (HASH-sized).
	Secret Secret
	// Created is when the entry was added, Updated when its secret last
	// changed. Expiry policies compare against Updated.
	Created, Updated time.Time
	// Verified says the chain of secrets leading to this one was confirmed
	// by a SAS comparison at least once (XEP-0116 §4.7). It is inherited
	// by every replacement.
	Verified bool
}

type retainedRecord struct {
	Peers    []string  `json:"peers"`
	Secret   []byte    `json:"secret"` // seal() encoding
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	Verified bool      `json:"verified"`
}

func idKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

// retained returns the bucket of account's retained secrets.
func (t *Tx) retained(account string, create bool) (*bolt.Bucket, error) {
	if account == "" {
		return nil, ErrInvalidName
	}
	root := t.tx.Bucket(bucketRetained)
	if root == nil {
		return nil, fmt.Errorf("%w: retained secrets", ErrNotFound)
	}
	return sub(root, account, create)
}

func (t *Tx) decodeRetained(account string, k, v []byte) (RetainedSecret, error) {
	var r retainedRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return RetainedSecret{}, fmt.Errorf("store: retained secret record: %w", err)
	}
	id := binary.BigEndian.Uint64(k)
	b, err := t.db.open(r.Secret, "retained", account, strconv.FormatUint(id, 10))
	if err != nil {
		return RetainedSecret{}, fmt.Errorf("retained secret %d of %s: %w", id, account, err)
	}
	return RetainedSecret{ID: id, Peers: r.Peers, Secret: Secret{b: b}, Created: r.Created, Updated: r.Updated, Verified: r.Verified}, nil
}

func (t *Tx) putRetained(b *bolt.Bucket, account string, rs RetainedSecret) error {
	sealed, err := t.db.seal(rs.Secret.b, "retained", account, strconv.FormatUint(rs.ID, 10))
	if err != nil {
		return err
	}
	v, err := json.Marshal(retainedRecord{Peers: rs.Peers, Secret: sealed, Created: rs.Created, Updated: rs.Updated, Verified: rs.Verified})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := b.Put(idKey(rs.ID), v); err != nil {
		return fmt.Errorf("store: put retained secret: %w", err)
	}
	return nil
}

// walkRetained calls fn for every entry of account in ID order.
func (t *Tx) walkRetained(account string, fn func(RetainedSecret) error) error {
	b, err := t.retained(account, false)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return b.ForEach(func(k, v []byte) error {
		rs, err := t.decodeRetained(account, k, v)
		if err != nil {
			return err
		}
		return fn(rs)
	})
}

// Retained returns account's entries filed under the bare JID peer, in
// the order they were created.
func (t *Tx) Retained(account, peer string) ([]RetainedSecret, error) {
	if peer == "" {
		return nil, ErrInvalidName
	}
	var out []RetainedSecret
	err := t.walkRetained(account, func(rs RetainedSecret) error {
		if slices.Contains(rs.Peers, peer) {
			out = append(out, rs)
		}
		return nil
	})
	return out, err
}

// AllRetained returns every entry of account, for the extended search
// of XEP-0116 §4.7 across other JIDs.
func (t *Tx) AllRetained(account string) ([]RetainedSecret, error) {
	var out []RetainedSecret
	err := t.walkRetained(account, func(rs RetainedSecret) error {
		out = append(out, rs)
		return nil
	})
	return out, err
}

// RetainedByID returns one entry, or an error wrapping ErrNotFound.
func (t *Tx) RetainedByID(account string, id uint64) (RetainedSecret, error) {
	b, err := t.retained(account, false)
	if err != nil {
		return RetainedSecret{}, err
	}
	v := b.Get(idKey(id))
	if v == nil {
		return RetainedSecret{}, fmt.Errorf("%w: retained secret %d of %s", ErrNotFound, id, account)
	}
	return t.decodeRetained(account, idKey(id), v)
}

// AddRetained files a new entry under peer, for a session that found no
// shared retained secret (D-16: verified is normally false).
func (t *Tx) AddRetained(account, peer string, secret Secret, verified bool) (RetainedSecret, error) {
	if peer == "" {
		return RetainedSecret{}, ErrInvalidName
	}
	b, err := t.retained(account, true)
	if err != nil {
		return RetainedSecret{}, err
	}
	id, err := b.NextSequence()
	if err != nil {
		return RetainedSecret{}, fmt.Errorf("store: %w", err)
	}
	now := t.db.now().UTC()
	rs := RetainedSecret{ID: id, Peers: []string{peer}, Secret: NewSecret(secret.b), Created: now, Updated: now, Verified: verified}
	return rs, t.putRetained(b, account, rs)
}

// ReplaceRetained replaces the secret of entry id with secret (RS_new),
// keeping its verified flag, and files it also under peer when peer is
// not empty and not yet listed (D-16, extended search).
func (t *Tx) ReplaceRetained(account string, id uint64, secret Secret, peer string) (RetainedSecret, error) {
	rs, err := t.RetainedByID(account, id)
	if err != nil {
		return RetainedSecret{}, err
	}
	rs.Secret.Clear()
	rs.Secret = NewSecret(secret.b)
	rs.Updated = t.db.now().UTC()
	if peer != "" && !slices.Contains(rs.Peers, peer) {
		rs.Peers = append(rs.Peers, peer)
	}
	b, err := t.retained(account, true)
	if err != nil {
		return RetainedSecret{}, err
	}
	return rs, t.putRetained(b, account, rs)
}

// SetRetainedVerified records whether the chain of entry id has been
// confirmed by a SAS comparison.
func (t *Tx) SetRetainedVerified(account string, id uint64, verified bool) error {
	rs, err := t.RetainedByID(account, id)
	if err != nil {
		return err
	}
	rs.Verified = verified
	b, err := t.retained(account, true)
	if err != nil {
		return err
	}
	return t.putRetained(b, account, rs)
}

// DeleteRetained removes entry id. A missing entry is not an error.
func (t *Tx) DeleteRetained(account string, id uint64) error {
	b, err := t.retained(account, false)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := b.Delete(idKey(id)); err != nil {
		return fmt.Errorf("store: delete retained secret: %w", err)
	}
	return nil
}

// DeleteRetainedBefore removes account's entries whose secret was last
// updated before cutoff and returns how many it removed.
func (t *Tx) DeleteRetainedBefore(account string, cutoff time.Time) (int, error) {
	var ids []uint64
	err := t.walkRetained(account, func(rs RetainedSecret) error {
		if rs.Updated.Before(cutoff) {
			ids = append(ids, rs.ID)
		}
		rs.Secret.Clear()
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		if err := t.DeleteRetained(account, id); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}
