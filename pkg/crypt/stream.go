package crypt

import (
	"bytes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"fmt"
	"hash"
	"io"
	"math/big"
	"time"

	"github.com/esn-project/esn/pkg/xmltree"
)

// NoRekey is the rekey_freq of the XEP-0217 profile, 2^32−1: re-keying is
// not implemented, a received <key/> is a protocol violation, and a stream
// that approaches its block budget must be renegotiated (esession-core.md
// D-22).
const NoRekey = 4294967295

// DefaultBlockBudget is the most cipher blocks exchanged (both directions)
// under one set of keys: 2^32 ([XEP-0200] §11.4, RFC 4344).
const DefaultBlockBudget = 1 << 32

// DefaultRekeyGrace is how long old receive keys are kept after a re-key
// when the peer does not acknowledge it ([XEP-0200] §9.2: "about 60 s").
const DefaultRekeyGrace = 60 * time.Second

// maxOld bounds the <old/> elements accepted in one stanza and the old MAC
// keys queued for publication.
const maxOld = 16

// maxRecvSets bounds the stored receive sets, and so <new/>.
const maxRecvSets = 8

// StreamConfig sets up a [Stream] once the negotiation has produced the
// session keys. NewStream copies the keys; the caller erases its own copies.
type StreamConfig struct {
	// Suite holds the negotiated algorithms and the profile.
	Suite Suite

	// SendCipher, SendMAC and SendCounter key and count what this side
	// sends: KC_A, KM_A, C_A for the initiator (C_A after ID_A), KC_B,
	// KM_B, C_B for the responder.
	SendCipher, SendMAC Key
	SendCounter         Counter
	// RecvCipher, RecvMAC and RecvCounter are the peer's direction.
	RecvCipher, RecvMAC Key
	RecvCounter         Counter

	// Group, Own and PeerPublic are the negotiated DH group, this side's
	// key pair (x or y) and the peer's public value (d or e), needed to
	// re-key. The stream takes ownership of Own and erases it. They may be
	// nil only when RekeyFreq is NoRekey.
	Group      *Group
	Own        *PrivateKey
	PeerPublic *big.Int

	// RekeyFreq is the negotiated rekey_freq: the stanzas (both
	// directions) that must pass between key exchanges before this side
	// may initiate one. 0 means 1; NoRekey disables re-keying.
	RekeyFreq uint32

	// BlockBudget lowers the 2^32-block budget (0 = DefaultBlockBudget).
	// Past three quarters of it Seal re-keys by itself when allowed; past
	// all of it Seal fails with ErrKeyExhausted.
	BlockBudget uint64

	// MaxOutstandingRekeys bounds this side's unacknowledged re-keys
	// (0 = 1, as esession-core.md D-23 recommends; at most 7).
	MaxOutstandingRekeys int

	// PublishOldMACKeys makes Seal include retired MAC keys in <old/>
	// once [XEP-0200] §10 allows it, for repudiability. Otherwise retired
	// keys are erased at once.
	PublishOldMACKeys bool

	// RekeyGrace is how long superseded receive keys stay usable
	// (0 = DefaultRekeyGrace).
	RekeyGrace time.Duration

	// Now is the clock (nil = time.Now); Rand the randomness for re-key
	// exponents (nil = crypto/rand).
	Now  func() time.Time
	Rand io.Reader

	// OnRekey, when set, receives each re-key secret the stream computes
	// (see [RekeyEvent]), synchronously inside Rekey, Seal or Open. It is
	// meant for debugging key logs only.
	OnRekey func(RekeyEvent)
}

// dirKeys is one keyed direction: a cipher and a MAC, with their derived
// states kept for speed.
type dirKeys struct {
	kc, km Key
	block  cipher.Block // nil for the "none" cipher
	mac    hash.Hash
}

func (s *Stream) newDirKeys(kc, km Key) (dirKeys, error) {
	block, err := s.suite.newBlock(kc)
	if err != nil {
		return dirKeys{}, err
	}
	if km.Len() == 0 {
		return dirKeys{}, fmt.Errorf("crypt: empty MAC key: %w", ErrKeySize)
	}
	return dirKeys{kc: kc, km: km, block: block, mac: hmac.New(s.suite.Hash.new, km.b)}, nil
}

func (d *dirKeys) erase() {
	d.kc.Erase()
	d.km.Erase()
	*d = dirKeys{}
}

// recvSet is one XEP-0200 receive set {KC_peer, KM_peer, ownPriv}.
type recvSet struct {
	dirKeys
	priv    *PrivateKey
	seq     uint64    // ascending per stream
	added   time.Time // when this set was added
	expired bool      // erased after the grace period
}

// retired is an own send MAC key waiting until [XEP-0200] §10 allows
// publishing it: once a stanza under a receive set with seq >= seq verified.
type retired struct {
	km  Key
	seq uint64
}

// pendingRekey is a re-key initiated by [Stream.Rekey] and sent by the next
// Seal.
type pendingRekey struct {
	keyB64 string   // Base64(I2B(e'))
	send   dirKeys  // KC_I, KM_I: our new send keys
	set    *recvSet // {KC_R, KM_R, x'}
}

// Stream is the XEP-0200 state of one ESession: the send keys and counter,
// the receive sets and counter, re-key state and budgets. [Stream.Seal]
// encrypts outgoing stanzas and [Stream.Open] decrypts incoming <c/>
// elements, in order.
//
// A Stream is not safe for concurrent use. Every error from Open means the
// session must be terminated (XEP-0200 §8, esession-core.md D-21); the
// Stream itself stays usable, so that the caller can still seal an
// encrypted termination form.
type Stream struct {
	suite Suite
	group *Group
	rand  io.Reader
	now   func() time.Time

	send       dirKeys
	sendCtr    Counter
	sendClosed bool

	recv    []*recvSet // oldest first; recv[0] is the default (no <new/>)
	recvCtr Counter
	nextSeq uint64

	peerPub           *big.Int
	keysRecvSinceSend int
	pending           *pendingRekey
	retired           []retired
	publishable       []Key

	rekeyFreq       uint32
	budget          uint64
	maxOutstanding  int
	publishOld      bool
	grace           time.Duration
	stanzasSinceKex uint64
	blocksSinceKex  uint64

	replay   [8][]byte // MACs of recently accepted stanzas
	replayAt int

	closed bool

	rekeyHook rekeyHook // rekeyhook.go
	observer  *Observer // observer.go: Open never re-keys by itself

	// Scratch buffers reused across calls (never shared outside).
	plain   []byte
	scratch []byte
	macBuf  [64]byte
	ctrBuf  [16]byte
	ivBuf   [16]byte
	rd      bytes.Reader
	stack   []*xmltree.Element
}

// NewStream creates the stanza-encryption state. It checks key lengths and
// returns an error wrapping [ErrKeySize] for a mismatch.
func NewStream(cfg StreamConfig) (*Stream, error) {
	if err := cfg.Suite.Validate(); err != nil {
		return nil, err
	}
	s := &Stream{
		suite:          cfg.Suite,
		group:          cfg.Group,
		rand:           cfg.Rand,
		now:            cfg.Now,
		sendCtr:        cfg.SendCounter,
		recvCtr:        cfg.RecvCounter,
		rekeyFreq:      max(cfg.RekeyFreq, 1),
		budget:         cfg.BlockBudget,
		maxOutstanding: cfg.MaxOutstandingRekeys,
		publishOld:     cfg.PublishOldMACKeys,
		grace:          cfg.RekeyGrace,
		rekeyHook:      rekeyHook{fn: cfg.OnRekey},
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.budget == 0 || s.budget > DefaultBlockBudget {
		s.budget = DefaultBlockBudget
	}
	if s.maxOutstanding <= 0 {
		s.maxOutstanding = 1
	}
	s.maxOutstanding = min(s.maxOutstanding, maxRecvSets-1)
	if s.grace <= 0 {
		s.grace = DefaultRekeyGrace
	}
	if s.rekeyFreq != NoRekey {
		if cfg.Group == nil || cfg.Own == nil || cfg.PeerPublic == nil {
			return nil, fmt.Errorf("crypt: re-keying needs Group, Own and PeerPublic (or RekeyFreq NoRekey)")
		}
		if cfg.Own.Group() != cfg.Group {
			return nil, fmt.Errorf("crypt: own key pair is not in %s", cfg.Group)
		}
		if err := cfg.Group.Validate(cfg.PeerPublic); err != nil {
			return nil, err
		}
		s.peerPub = new(big.Int).Set(cfg.PeerPublic)
	}
	var err error
	if s.send, err = s.newDirKeys(NewKey(cfg.SendCipher.b), NewKey(cfg.SendMAC.b)); err != nil {
		return nil, fmt.Errorf("crypt: send keys: %w", err)
	}
	rk, err := s.newDirKeys(NewKey(cfg.RecvCipher.b), NewKey(cfg.RecvMAC.b))
	if err != nil {
		s.send.erase()
		return nil, fmt.Errorf("crypt: receive keys: %w", err)
	}
	s.recv = []*recvSet{{dirKeys: rk, priv: cfg.Own, seq: 0, added: s.now()}}
	s.nextSeq = 1
	return s, nil
}

// Suite returns the stream's suite.
func (s *Stream) Suite() Suite { return s.suite }

// StreamStats reports the public bookkeeping of a stream.
type StreamStats struct {
	SendCounter, RecvCounter Counter
	// StanzasSinceKeyExchange and BlocksSinceKeyExchange count both
	// directions since the last <key/> sent or received (D-22).
	StanzasSinceKeyExchange uint64
	BlocksSinceKeyExchange  uint64
	// ReceiveSets is the number of stored receive sets (1 + own
	// unacknowledged re-keys).
	ReceiveSets int
	// RekeyPending reports a re-key initiated but not yet sent.
	RekeyPending bool
	// PublishableOldKeys is the number of old MAC keys the next Seal
	// publishes.
	PublishableOldKeys int
}

// Stats returns the stream's counters.
func (s *Stream) Stats() StreamStats {
	return StreamStats{
		SendCounter:             s.sendCtr,
		RecvCounter:             s.recvCtr,
		StanzasSinceKeyExchange: s.stanzasSinceKex,
		BlocksSinceKeyExchange:  s.blocksSinceKex,
		ReceiveSets:             len(s.recv),
		RekeyPending:            s.pending != nil,
		PublishableOldKeys:      len(s.publishable),
	}
}

// CanRekey reports whether [Stream.Rekey] would be allowed now.
func (s *Stream) CanRekey() bool { return s.rekeyCheck() == nil }

func (s *Stream) rekeyCheck() error {
	switch {
	case s.closed || s.sendClosed:
		return ErrClosed
	case s.rekeyFreq == NoRekey:
		return fmt.Errorf("%w: the profile does not re-key (rekey_freq %d)", ErrRekeyRefused, uint32(NoRekey))
	case s.pending != nil:
		return fmt.Errorf("%w: a re-key is already waiting to be sent", ErrRekeyRefused)
	case len(s.recv)-1 >= s.maxOutstanding:
		return fmt.Errorf("%w: %d own re-keys unacknowledged", ErrRekeyRefused, len(s.recv)-1)
	case s.stanzasSinceKex < uint64(s.rekeyFreq):
		return fmt.Errorf("%w: %d of %d stanzas since the last key exchange", ErrRekeyRefused, s.stanzasSinceKex, s.rekeyFreq)
	}
	return nil
}

// Rekey initiates a re-key ([XEP-0200] §9.2): it draws x', computes
// K = peerPub^x' mod p (not hashed) and the four re-key keys, and queues
// <key>e'</key> for the next Seal, which sends it under the old keys and
// then switches. It refuses (ErrRekeyRefused) before rekey_freq stanzas
// have passed since the last key exchange, while an own re-key is
// unacknowledged, and under the XEP-0217 profile.
func (s *Stream) Rekey() error {
	if err := s.rekeyCheck(); err != nil {
		return err
	}
	priv, err := s.group.GenerateKey(s.rand, s.suite.Exponent)
	if err != nil {
		return err
	}
	return s.rekeyWith(priv)
}

// rekeyWith initiates a re-key with a given exponent (tests use fixed ones).
func (s *Stream) rekeyWith(priv *PrivateKey) error {
	z, err := priv.SharedSecret(s.peerPub)
	if err != nil {
		priv.Erase()
		return err
	}
	defer z.Erase()
	s.rekeyHook.report(true, z)
	kcI, kmI := s.suite.RekeyKeys(z, RekeyInitiator)
	kcR, kmR := s.suite.RekeyKeys(z, RekeyAcceptor)
	send, err := s.newDirKeys(kcI, kmI)
	if err != nil {
		priv.Erase()
		return err
	}
	rk, err := s.newDirKeys(kcR, kmR)
	if err != nil {
		priv.Erase()
		send.erase()
		return err
	}
	s.pending = &pendingRekey{
		keyB64: EncodeBase64(priv.PublicBytes()),
		send:   send,
		set:    &recvSet{dirKeys: rk, priv: priv},
	}
	return nil
}

// CloseSend erases the send keys: the terminator of a session keeps only
// its receive keys until the acknowledgement arrives (esession-core.md
// D-24). Seal fails with ErrClosed afterwards.
func (s *Stream) CloseSend() {
	s.send.erase()
	if s.pending != nil {
		s.pending.send.erase()
		s.pending.set.erase()
		s.pending.set.priv.Erase()
		s.pending = nil
	}
	for _, r := range s.retired {
		r.km.Erase()
	}
	s.retired = nil
	for _, k := range s.publishable {
		k.Erase()
	}
	s.publishable = nil
	s.sendClosed = true
}

// Close erases every key the stream holds, including the DH exponents
// (best effort, see [Key]). Seal and Open fail with ErrClosed afterwards.
func (s *Stream) Close() {
	s.CloseSend()
	for _, set := range s.recv {
		set.erase()
		set.priv.Erase()
	}
	s.recv = nil
	clear(s.plain)
	clear(s.scratch)
	s.closed = true
}

// retireSendKM handles an own send MAC key that will not be used again.
func (s *Stream) retireSendKM(km Key, seq uint64) {
	if !s.publishOld {
		km.Erase()
		return
	}
	s.retired = append(s.retired, retired{km: km, seq: seq})
}

// publish queues a MAC key for <old/> (or erases it).
func (s *Stream) publish(km Key) {
	if !s.publishOld || len(s.publishable) >= maxOld {
		km.Erase()
		return
	}
	s.publishable = append(s.publishable, km)
}

// expireSets erases receive sets superseded for longer than the grace
// period. They keep their index, so that <new/> still counts right.
func (s *Stream) expireSets() {
	now := s.now()
	for i := 0; i+1 < len(s.recv); i++ {
		set := s.recv[i]
		if !set.expired && now.Sub(s.recv[i+1].added) > s.grace {
			set.erase()
			set.priv.Erase()
			set.expired = true
		}
	}
}
