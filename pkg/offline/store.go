package offline

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/esn-project/esn/pkg/store"
)

// Store keeps Alice's offline secrets and the replay record of her
// long-lived sets in the esn state file (pkg/store), sealed there as
// secrets when the file has a key. It opens the file for each operation,
// so that a long-running esn does not lock out the others. Every method
// runs in one transaction: all or nothing, on disk when it returns
// (XEP-0187 §3.1: the secrets are stored before the options are
// published).
type Store struct {
	open    store.Opener
	account string
}

// NewStore returns a Store for the bare JID account over the state file
// that open opens.
func NewStore(open func() (*store.DB, error), account string) *Store {
	return &Store{open: open, account: strings.ToLower(account)}
}

func (s *Store) setsBucket() string   { return "xep0187/sets/" + s.account }
func (s *Store) replayBucket() string { return "xep0187/replay/" + s.account }

// Save stores the secrets of one publication, all in one transaction.
func (s *Store) Save(sets ...*Secrets) error {
	return s.open.Update(func(tx *store.Tx) error {
		for _, sec := range sets {
			b, err := sec.MarshalPrivate()
			if err != nil {
				return err
			}
			secret := store.NewSecret(b)
			clear(b)
			err = tx.PutSecret(s.setsBucket(), sec.ID, secret)
			secret.Clear()
			if err != nil {
				return fmt.Errorf("offline: storing secrets %s: %w", sec.ID, err)
			}
		}
		return nil
	})
}

func (s *Store) load(tx *store.Tx) ([]*Secrets, error) {
	var ids []string
	if err := tx.ForEach(s.setsBucket(), func(k string, _ []byte) error {
		ids = append(ids, k)
		return nil
	}); err != nil {
		return nil, err
	}
	var out []*Secrets
	for _, id := range ids {
		sec, err := tx.GetSecret(s.setsBucket(), id)
		if err != nil {
			return nil, fmt.Errorf("offline: reading secrets %s: %w", id, err)
		}
		parsed, err := ParseSecrets(sec.Bytes())
		sec.Clear()
		if err != nil {
			return nil, fmt.Errorf("offline: secrets %s: %w", id, err)
		}
		out = append(out, parsed)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// List returns every stored set, oldest first. The caller erases them.
func (s *Store) List() ([]*Secrets, error) {
	var out []*Secrets
	err := s.open.Update(func(tx *store.Tx) error {
		var err error
		out, err = s.load(tx)
		return err
	})
	return out, err
}

// Take returns the stored sets of kind and deletes them, with their replay
// records, in one transaction: at login the subscribers' secrets leave
// persistent storage (XEP-0187 §3.4, O-26) and live on only in memory.
func (s *Store) Take(kind Set) ([]*Secrets, error) {
	var out []*Secrets
	err := s.open.Update(func(tx *store.Tx) error {
		all, err := s.load(tx)
		if err != nil {
			return err
		}
		for _, sec := range all {
			if sec.Set != kind {
				sec.Erase()
				continue
			}
			if err := s.deleteTx(tx, sec.ID); err != nil {
				return err
			}
			out = append(out, sec)
		}
		return nil
	})
	if err != nil {
		for _, sec := range out {
			sec.Erase()
		}
		return nil, err
	}
	return out, nil
}

// Delete removes sets and their replay records.
func (s *Store) Delete(ids ...string) error {
	return s.open.Update(func(tx *store.Tx) error {
		for _, id := range ids {
			if err := s.deleteTx(tx, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteExpired removes the sets that expired before now and returns
// their ids.
func (s *Store) DeleteExpired(now time.Time) ([]string, error) {
	var gone []string
	err := s.open.Update(func(tx *store.Tx) error {
		all, err := s.load(tx)
		if err != nil {
			return err
		}
		for _, sec := range all {
			if sec.Expired(now) {
				if err := s.deleteTx(tx, sec.ID); err != nil {
					return err
				}
				gone = append(gone, sec.ID)
			}
			sec.Erase()
		}
		return nil
	})
	return gone, err
}

func (s *Store) deleteTx(tx *store.Tx, id string) error {
	if err := tx.Delete(s.setsBucket(), id); err != nil {
		return err
	}
	var keys []string
	prefix := id + "/"
	if err := tx.ForEach(s.replayBucket(), func(k string, _ []byte) error {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, k := range keys {
		if err := tx.Delete(s.replayBucket(), k); err != nil {
			return err
		}
	}
	return nil
}

func replayKey(setID string, value []byte) string {
	h := sha256.Sum256(value)
	return setID + "/" + hex.EncodeToString(h[:])
}

// Seen implements ReplayStore.
func (s *Store) Seen(setID string, value []byte) (bool, error) {
	seen := false
	err := s.open.Update(func(tx *store.Tx) error {
		_, err := tx.Get(s.replayBucket(), replayKey(setID, value))
		switch {
		case err == nil:
			seen = true
		case errors.Is(err, store.ErrNotFound):
		default:
			return err
		}
		return nil
	})
	return seen, err
}

// Record implements ReplayStore.
func (s *Store) Record(setID string, values ...[]byte) error {
	return s.open.Update(func(tx *store.Tx) error {
		for _, v := range values {
			if err := tx.Put(s.replayBucket(), replayKey(setID, v), []byte{1}); err != nil {
				return err
			}
		}
		return nil
	})
}

var _ ReplayStore = (*Store)(nil)
