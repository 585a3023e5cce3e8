package crypt

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
	"math/big"
)

// ExponentMode chooses the size of a private Diffie-Hellman exponent.
type ExponentMode int

const (
	// ShortExponent draws x with max(512, 2 × security strength) bits
	// (RFC 3526 §8), still inside the range XEP-0116 requires
	// (2^255 < x < p−1). It is the default: the modular exponentiation is
	// the largest single cost of a negotiation, and a short exponent makes
	// it several times cheaper without weakening the group.
	ShortExponent ExponentMode = iota
	// FullExponent draws x uniformly from the whole allowed range
	// 2^255 < x < p−1.
	FullExponent
)

func (m ExponentMode) String() string {
	switch m {
	case ShortExponent:
		return "short"
	case FullExponent:
		return "full"
	}
	return fmt.Sprintf("ExponentMode(%d)", int(m))
}

// minExponentBits is 2n−1 for the 128-bit block ciphers of XEP-0116 §Mandatory
// to Implement: x must exceed 2^255.
const minExponentBits = 255

// ExponentBits returns the bit length of exponents drawn in mode m for g.
func (g *Group) ExponentBits(m ExponentMode) int {
	if m == FullExponent {
		return g.p.BitLen()
	}
	return max(512, 2*g.strength)
}

// PrivateKey is a Diffie-Hellman key pair (x, e = g^x mod p) of one group.
// The private exponent is unexported and never printed; [PrivateKey.Erase]
// clears it (best effort: big.Int arithmetic may leave copies). Every key
// pair is used for one exchange only (XEP-0116 §Security Considerations):
// never cache them across sessions.
type PrivateKey struct {
	g  *Group
	x  *big.Int
	pk *big.Int // e = g^x mod p
}

// GenerateKey draws a fresh private exponent in the range XEP-0116 §Diffie-
// Hellman Key Agreement requires, 2^(2n−1) < x < p−1 with n = 128, and
// computes e = 2^x mod p. rand nil means crypto/rand.
func (g *Group) GenerateKey(r io.Reader, mode ExponentMode) (*PrivateKey, error) {
	if r == nil {
		r = rand.Reader
	}
	// x = 2^255 + 1 + uniform[0, hi − 2^255 − 1), so x ∈ [2^255+1, hi−1]
	// where hi is p−1 (full) or 2^bits (short; 2^bits ≤ 2^767 < p−1).
	lo := new(big.Int).Lsh(bigOne, minExponentBits)
	lo.Add(lo, bigOne)
	var hi *big.Int
	if mode == FullExponent {
		hi = new(big.Int).Set(g.pMinus1)
	} else {
		hi = new(big.Int).Lsh(bigOne, uint(g.ExponentBits(mode)))
	}
	span := new(big.Int).Sub(hi, lo)
	x, err := rand.Int(r, span)
	if err != nil {
		return nil, fmt.Errorf("crypt: drawing a DH exponent: %w", err)
	}
	x.Add(x, lo)
	return &PrivateKey{g: g, x: x, pk: new(big.Int).Exp(bigTwo, x, g.p)}, nil
}

// NewPrivateKey builds a key pair from a given exponent, for known-answer
// tests and deterministic vectors. x must satisfy 2^255 < x < p−1.
func (g *Group) NewPrivateKey(x *big.Int) (*PrivateKey, error) {
	if x == nil || x.Cmp(expFloor) <= 0 || x.Cmp(g.pMinus1) >= 0 {
		return nil, fmt.Errorf("crypt: private exponent outside 2^255 < x < p-1: %w", ErrDHRange)
	}
	x = new(big.Int).Set(x)
	return &PrivateKey{g: g, x: x, pk: new(big.Int).Exp(bigTwo, x, g.p)}, nil
}

var (
	bigTwo   = big.NewInt(2)
	expFloor = new(big.Int).Lsh(bigOne, minExponentBits) // 2^255, never modified
)

// Group returns the key's group.
func (k *PrivateKey) Group() *Group { return k.g }

// Public returns a copy of the public value e = g^x mod p.
func (k *PrivateKey) Public() *big.Int { return new(big.Int).Set(k.pk) }

// PublicBytes returns I2B(e), the bytes that are Base64-encoded into
// 'dhkeys' or <key/>.
func (k *PrivateKey) PublicBytes() []byte { return I2B(k.pk) }

// Commitment returns He = SHA256(I2B(e)) for 'dhhashes'. See [HashCommitment].
func (k *PrivateKey) Commitment() []byte { return HashCommitment(k.pk) }

// SharedSecret validates the peer's public value (1 < v < p−1) and returns
// I2B(v^x mod p): the raw shared value, which [Suite.SharedKey] hashes into
// K for a negotiation and XEP-0200 §9.2 re-keying uses unhashed.
func (k *PrivateKey) SharedSecret(peer *big.Int) (Key, error) {
	if k.x == nil {
		return Key{}, fmt.Errorf("crypt: DH key used after Erase: %w", ErrClosed)
	}
	if err := k.g.Validate(peer); err != nil {
		return Key{}, err
	}
	z := new(big.Int).Exp(peer, k.x, k.g.p)
	b := I2B(z)
	clear(z.Bits())
	return Key{b: b}, nil
}

// Erase clears the private exponent. The key pair is unusable afterwards.
func (k *PrivateKey) Erase() {
	if k == nil || k.x == nil {
		return
	}
	clear(k.x.Bits())
	k.x = nil
}

// String returns a marker naming the group and never the exponent.
func (k *PrivateKey) String() string { return "crypt.PrivateKey(" + k.g.String() + ", REDACTED)" }

// GoString keeps %#v from printing the exponent.
func (k *PrivateKey) GoString() string { return k.String() }

// Format prints the marker for every verb.
func (k *PrivateKey) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue keeps the exponent out of structured logs.
func (k *PrivateKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// HashCommitment returns He = SHA256(I2B(e)). It is always SHA-256,
// whatever hash the negotiation selects later (esession-core.md AMB-08).
func HashCommitment(e *big.Int) []byte {
	h := sha256.Sum256(I2B(e))
	return h[:]
}

// VerifyCommitment reports, in constant time, whether He = SHA256(I2B(e)).
func VerifyCommitment(he []byte, e *big.Int) bool {
	return subtle.ConstantTimeCompare(he, HashCommitment(e)) == 1
}

// KeyPool precomputes key pairs of one group in the background, so that a
// long-running responder does not pay the exponentiation on the critical
// path. Every pair is handed out once. A KeyPool is safe for concurrent use.
type KeyPool struct {
	g    *Group
	mode ExponentMode
	r    io.Reader
	ch   chan *PrivateKey
	done chan struct{}
}

// NewKeyPool starts a goroutine that keeps up to size key pairs ready. It
// stops, erasing what it holds, when ctx ends. rand nil means crypto/rand.
func NewKeyPool(ctx context.Context, g *Group, mode ExponentMode, size int, r io.Reader) *KeyPool {
	if size < 1 {
		size = 1
	}
	if r == nil {
		r = rand.Reader
	}
	p := &KeyPool{g: g, mode: mode, r: r, ch: make(chan *PrivateKey, size), done: make(chan struct{})}
	go p.fill(ctx)
	return p
}

func (p *KeyPool) fill(ctx context.Context) {
	defer close(p.done)
	defer func() {
		for {
			select {
			case k := <-p.ch:
				k.Erase()
			default:
				return
			}
		}
	}()
	for {
		k, err := p.g.GenerateKey(p.r, p.mode)
		if err != nil {
			return
		}
		select {
		case p.ch <- k:
		case <-ctx.Done():
			k.Erase()
			return
		}
	}
}

// Get returns a precomputed key pair, waiting for one if none is ready. If
// the pool has stopped it computes one directly. It returns ctx.Err() when
// ctx ends first.
func (p *KeyPool) Get(ctx context.Context) (*PrivateKey, error) {
	select {
	case k := <-p.ch:
		return k, nil
	default:
	}
	select {
	case k := <-p.ch:
		return k, nil
	case <-p.done:
		return p.g.GenerateKey(p.r, p.mode)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Done is closed once the pool's goroutine has exited (after its context
// ended).
func (p *KeyPool) Done() <-chan struct{} { return p.done }
