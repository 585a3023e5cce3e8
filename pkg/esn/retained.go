package esn

import (
	"slices"
	"sync"
	"time"
)

// RetainedSecret is one entry of the retained-secret list kept per (local
// account, peer bare JID) (XEP-0116 §5.4.3, digest D-16).
type RetainedSecret struct {
	// ID identifies the entry within its account.
	ID uint64
	// Secret is RS, HASH-length. Implementations return a copy.
	Secret []byte
	// Updated is when the secret last changed.
	Updated time.Time
	// Verified says the chain leading to this secret was confirmed by a
	// SAS comparison at least once; replacements inherit it.
	Verified bool
}

// RetainedSecrets persists retained secrets. pkg/store implements it on
// disk (encrypted at rest, as XEP-0116 requires); [MemorySecrets] in memory.
// Every write must be atomic and durable when it returns: the negotiation
// sends the message that depends on it only afterwards.
//
// Implementations must be safe for concurrent use.
type RetainedSecrets interface {
	// Retained returns the non-expired entries of account filed under the
	// bare JID peer, most recent first. Expiry is the implementation's
	// policy; expired entries should be deleted, never returned.
	Retained(account, peer string) ([]RetainedSecret, error)
	// AddRetained files a new entry under peer (no retained secret was
	// shared: the peer may be using a new client). verified is false.
	AddRetained(account, peer string, secret []byte) error
	// ReplaceRetained replaces the secret of entry id (the shared retained
	// secret of this session) with secret, keeping its verified flag, and
	// also files the entry under peer if it is not yet.
	ReplaceRetained(account string, id uint64, secret []byte, peer string) error
}

// MemorySecrets is an in-memory [RetainedSecrets], for tests and programs
// that do not persist state. MaxAge, when set, expires entries.
type MemorySecrets struct {
	MaxAge time.Duration
	Now    func() time.Time

	mu      sync.Mutex
	nextID  uint64
	entries map[string][]*memEntry // by account
}

type memEntry struct {
	RetainedSecret
	peers []string
}

func (m *MemorySecrets) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Retained implements [RetainedSecrets].
func (m *MemorySecrets) Retained(account, peer string) ([]RetainedSecret, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []RetainedSecret
	list := m.entries[account]
	kept := list[:0]
	for _, e := range list {
		if m.MaxAge > 0 && m.now().Sub(e.Updated) > m.MaxAge {
			clear(e.Secret)
			continue
		}
		kept = append(kept, e)
		if slices.Contains(e.peers, peer) {
			c := e.RetainedSecret
			c.Secret = slices.Clone(e.Secret)
			out = append(out, c)
		}
	}
	if m.entries != nil {
		m.entries[account] = kept
	}
	slices.Reverse(out)
	return out, nil
}

// AddRetained implements [RetainedSecrets].
func (m *MemorySecrets) AddRetained(account, peer string, secret []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries == nil {
		m.entries = map[string][]*memEntry{}
	}
	m.nextID++
	m.entries[account] = append(m.entries[account], &memEntry{
		RetainedSecret: RetainedSecret{ID: m.nextID, Secret: slices.Clone(secret), Updated: m.now()},
		peers:          []string{peer},
	})
	return nil
}

// ReplaceRetained implements [RetainedSecrets].
func (m *MemorySecrets) ReplaceRetained(account string, id uint64, secret []byte, peer string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.entries[account] {
		if e.ID == id {
			clear(e.Secret)
			e.Secret = slices.Clone(secret)
			e.Updated = m.now()
			if peer != "" && !slices.Contains(e.peers, peer) {
				e.peers = append(e.peers, peer)
			}
			return nil
		}
	}
	// The entry vanished (expired meanwhile): start a new chain.
	m.nextID++
	m.entries[account] = append(m.entries[account], &memEntry{
		RetainedSecret: RetainedSecret{ID: m.nextID, Secret: slices.Clone(secret), Updated: m.now()},
		peers:          []string{peer},
	})
	return nil
}

// SetVerified marks entry id verified (what `esn sas confirm` does).
func (m *MemorySecrets) SetVerified(account string, id uint64, verified bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.entries[account] {
		if e.ID == id {
			e.Verified = verified
		}
	}
}
