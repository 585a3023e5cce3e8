package crypt

import (
	"fmt"
	"math/big"

	"github.com/esn-project/esn/pkg/xmltree"
)

// ObserverConfig sets up an [Observer].
type ObserverConfig struct {
	// Suite holds the negotiated algorithms.
	Suite Suite
	// Cipher, MAC and Counter are the observed party's send keys and
	// counter (KC_A, KM_A and C_A after ID_A for the initiator).
	Cipher, MAC Key
	Counter     Counter
	// Rekey allows <key/> elements (rekey_freq below NoRekey); Group is
	// the negotiated group, needed to validate them. Without Rekey a
	// <key/> is a protocol violation, as for a [Stream].
	Rekey bool
	Group *Group
}

// Observer authenticates and decrypts the <c/> elements that one party of
// an ESession sends, for a third party that knows that party's keys (esn
// decode with a key log). It checks exactly what [Stream.Open] checks, in
// the same order, but it never derives keys itself: a <key/> is validated
// (1 < e' < p-1) and returned, and the caller installs the keys it derives
// from the logged re-key secret with [Observer.SetKeys]. A <new/> is
// returned (Opened.Acknowledged) and does not select a key set: the
// observed party's current keys are always used.
//
// An Observer is not safe for concurrent use.
type Observer struct {
	s   *Stream
	key *big.Int // the <key/> of the stanza being opened
}

// Observed is what [Observer.Open] learned from one authentic stanza.
type Observed struct {
	Opened
	// Key is the re-key value e' of the stanza's <key/>, nil without one.
	// The observed party's keys change after this stanza.
	Key *big.Int
}

// NewObserver returns an observer of one direction of a session.
func NewObserver(cfg ObserverConfig) (*Observer, error) {
	if cfg.Rekey && cfg.Group == nil {
		return nil, fmt.Errorf("crypt: an observer of a re-keying session needs the group")
	}
	s, err := NewStream(StreamConfig{Suite: cfg.Suite,
		SendCipher: cfg.Cipher, SendMAC: cfg.MAC, SendCounter: cfg.Counter,
		RecvCipher: cfg.Cipher, RecvMAC: cfg.MAC, RecvCounter: cfg.Counter,
		RekeyFreq: NoRekey})
	if err != nil {
		return nil, err
	}
	s.CloseSend()
	o := &Observer{s: s}
	s.observer = o
	if cfg.Rekey {
		s.rekeyFreq = 1
		s.group = cfg.Group
	}
	return o, nil
}

// Open authenticates and decrypts one <c/> element as [Stream.Open] does.
// Authentication failures return [ErrMAC] ([ErrReplay] for a copy of an
// earlier stanza) and leave the observer unchanged, so the caller may try
// other keys.
func (o *Observer) Open(c *xmltree.Element) (Observed, error) {
	o.key = nil
	op, err := o.s.Open(c)
	if err != nil {
		return Observed{}, err
	}
	return Observed{Opened: op, Key: o.key}, nil
}

// SetKeys replaces the observed party's send keys, after a re-key; the
// counter runs on ([XEP-0200] §9: re-keying does not reset it). The
// observer copies the keys.
func (o *Observer) SetKeys(cipher, mac Key) error {
	if o.s.closed {
		return ErrClosed
	}
	dk, err := o.s.newDirKeys(NewKey(cipher.b), NewKey(mac.b))
	if err != nil {
		return err
	}
	set := o.s.recv[0]
	set.erase()
	set.dirKeys = dk
	return nil
}

// Counter returns the counter of the next stanza.
func (o *Observer) Counter() Counter { return o.s.recvCtr }

// Close erases the keys.
func (o *Observer) Close() { o.s.Close() }

// sawKey replaces the re-key acceptance of [Stream.Open] for an observer:
// it validates e' and keeps it for Open's result.
func (o *Observer) sawKey(keyB64 string) error {
	pub, err := o.s.group.ParsePublic("key", keyB64)
	if err != nil {
		return err
	}
	o.key = pub
	o.s.stanzasSinceKex, o.s.blocksSinceKex = 0, 0
	return nil
}
