// Package esnstore keeps the retained secrets of XEP-0116 §4.7 and §4.8 in
// pkg/store: it implements [esn.RetainedSecrets] over a state file, and
// lists and confirms the secret chains for `esn sessions` and
// `esn sas confirm`.
//
// It lives apart from pkg/store so that pkg/store does not import pkg/esn.
//
// # Opening the file per operation
//
// bbolt locks the state file for the process that opened it. A long-running
// `esn receive` that held the file open would lock out `esn sessions` and
// `esn sas confirm` in another terminal, and a second esn on the same state
// directory. [Secrets] therefore opens the file for each operation (a few
// per negotiation) and closes it at once; operations of one process are
// serialized, and other processes wait up to the store's lock timeout.
// Every write is one fsynced bbolt transaction, so a retained secret is on
// disk before the negotiation step that depends on it is sent (digest D-13).
package esnstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/store"
)

// Opener opens the state file; the caller closes it.
type Opener = store.Opener

// Secrets implements [esn.RetainedSecrets] over pkg/store. It is safe for
// concurrent use.
type Secrets struct {
	open Opener
	// MaxAge expires retained secrets not updated for that long; zero keeps
	// them forever. Expired entries are deleted when next listed.
	MaxAge time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	mu sync.Mutex // one open file per process at a time (bbolt's flock)
}

var _ esn.RetainedSecrets = (*Secrets)(nil)

// New returns Secrets that open the state file with open for every
// operation.
func New(open Opener) *Secrets { return &Secrets{open: open} }

func (s *Secrets) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// update runs fn in a write transaction of a freshly opened file.
func (s *Secrets) update(fn func(*store.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open.Update(fn)
}

func (s *Secrets) view(fn func(*store.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open.View(fn)
}

// Retained implements [esn.RetainedSecrets]: the non-expired entries filed
// under peer, most recently updated first. Expired entries are deleted.
func (s *Secrets) Retained(account, peer string) ([]esn.RetainedSecret, error) {
	var out []esn.RetainedSecret
	err := s.update(func(tx *store.Tx) error {
		out = out[:0]
		if s.MaxAge > 0 {
			if _, err := tx.DeleteRetainedBefore(account, s.now().Add(-s.MaxAge)); err != nil {
				return err
			}
		}
		list, err := tx.Retained(account, peer)
		if err != nil {
			return err
		}
		for _, rs := range list {
			out = append(out, esn.RetainedSecret{ID: rs.ID, Secret: slices.Clone(rs.Secret.Bytes()),
				Updated: rs.Updated, Verified: rs.Verified})
			rs.Secret.Clear()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("esnstore: reading retained secrets: %w", err)
	}
	slices.SortStableFunc(out, func(a, b esn.RetainedSecret) int { return b.Updated.Compare(a.Updated) })
	return out, nil
}

// AddRetained implements [esn.RetainedSecrets].
func (s *Secrets) AddRetained(account, peer string, secret []byte) error {
	err := s.update(func(tx *store.Tx) error {
		sec := store.NewSecret(secret)
		defer sec.Clear()
		rs, err := tx.AddRetained(account, peer, sec, false)
		rs.Secret.Clear()
		return err
	})
	if err != nil {
		return fmt.Errorf("esnstore: storing a retained secret: %w", err)
	}
	return nil
}

// ReplaceRetained implements [esn.RetainedSecrets]. An entry that vanished
// meanwhile (deleted by expiry or by hand) starts a new, unverified chain.
func (s *Secrets) ReplaceRetained(account string, id uint64, secret []byte, peer string) error {
	err := s.update(func(tx *store.Tx) error {
		sec := store.NewSecret(secret)
		defer sec.Clear()
		rs, err := tx.ReplaceRetained(account, id, sec, peer)
		if errors.Is(err, store.ErrNotFound) {
			rs, err = tx.AddRetained(account, peer, sec, false)
		}
		rs.Secret.Clear()
		return err
	})
	if err != nil {
		return fmt.Errorf("esnstore: replacing a retained secret: %w", err)
	}
	return nil
}

// Chain describes one retained-secret entry for display (never its
// secret).
type Chain struct {
	ID       uint64    `json:"id"`
	Peers    []string  `json:"peers"`
	Verified bool      `json:"verified"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	// LastSAS is the SAS of the most recent session with one of Peers that
	// esn recorded (see [Secrets.RecordSAS]), if any.
	LastSAS *SASRecord `json:"last_sas,omitempty"`
}

// Chains returns every retained-secret entry of account, optionally only
// those filed under peer (a bare JID), most recently updated first.
func (s *Secrets) Chains(account, peer string) ([]Chain, error) {
	var out []Chain
	err := s.view(func(tx *store.Tx) error {
		list, err := tx.AllRetained(account)
		if err != nil {
			return err
		}
		for _, rs := range list {
			rs.Secret.Clear()
			if peer != "" && !slices.Contains(rs.Peers, peer) {
				continue
			}
			c := Chain{ID: rs.ID, Peers: rs.Peers, Verified: rs.Verified, Created: rs.Created, Updated: rs.Updated}
			for _, p := range rs.Peers {
				if r, err := getSAS(tx, account, p); err == nil && (c.LastSAS == nil || r.Time.After(c.LastSAS.Time)) {
					c.LastSAS = &r
				}
			}
			out = append(out, c)
		}
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("esnstore: listing retained secrets: %w", err)
	}
	slices.SortStableFunc(out, func(a, b Chain) int { return b.Updated.Compare(a.Updated) })
	return out, nil
}

// ErrNoChain is returned by Confirm when no retained secret is filed under
// the peer.
var ErrNoChain = errors.New("esnstore: no retained secret shared with this peer")

// ErrSASMismatch is returned by Confirm when the SAS the user typed is not
// the one of the last session.
var ErrSASMismatch = errors.New("esnstore: SAS does not match the last session's")

// Confirm marks the current chain with peer (the entry filed under peer
// that was updated last, i.e. the one the latest session produced)
// verified, after the user compared the SAS out of band. When sas is not
// empty it must equal the SAS recorded for the last session with peer.
func (s *Secrets) Confirm(account, peer, sas string) (Chain, error) {
	var c Chain
	err := s.update(func(tx *store.Tx) error {
		list, err := tx.Retained(account, peer)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if len(list) == 0 {
			return ErrNoChain
		}
		cur := list[0]
		for _, rs := range list {
			rs.Secret.Clear()
			if rs.Updated.After(cur.Updated) || rs.Updated.Equal(cur.Updated) && rs.ID > cur.ID {
				cur = rs
			}
		}
		if sas != "" {
			r, err := getSAS(tx, account, peer)
			if err != nil {
				return fmt.Errorf("%w: no SAS was recorded for %s", ErrSASMismatch, peer)
			}
			if r.SAS != sas {
				return ErrSASMismatch
			}
		}
		if err := tx.SetRetainedVerified(account, cur.ID, true); err != nil {
			return err
		}
		if r, err := getSAS(tx, account, peer); err == nil {
			r.Verified = true
			if err := putSAS(tx, account, peer, r); err != nil {
				return err
			}
			c.LastSAS = &r
		}
		c.ID, c.Peers, c.Verified, c.Created, c.Updated = cur.ID, cur.Peers, true, cur.Created, cur.Updated
		return nil
	})
	if err != nil {
		return Chain{}, err
	}
	return c, nil
}

// SASRecord is what esn remembers of the last session with a peer, so that
// `esn sessions` can show its SAS and `esn sas confirm` can check it.
type SASRecord struct {
	SAS      string    `json:"sas"`
	Thread   string    `json:"thread"`
	Peer     string    `json:"peer"` // full JID the session was bound to
	Time     time.Time `json:"time"`
	Verified bool      `json:"verified"`
}

const bucketSAS = "esn-sas"

func sasKey(account, peer string) string { return account + "\x00" + peer }

func getSAS(tx *store.Tx, account, peer string) (SASRecord, error) {
	var r SASRecord
	b, err := tx.Get(bucketSAS, sasKey(account, peer))
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("esnstore: SAS record: %w", err)
	}
	return r, nil
}

func putSAS(tx *store.Tx, account, peer string, r SASRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Put(bucketSAS, sasKey(account, peer), b)
}

// RecordSAS remembers the SAS of a session just negotiated with peerBare.
func (s *Secrets) RecordSAS(account, peerBare string, r SASRecord) error {
	if err := s.update(func(tx *store.Tx) error { return putSAS(tx, account, peerBare, r) }); err != nil {
		return fmt.Errorf("esnstore: recording the SAS: %w", err)
	}
	return nil
}
