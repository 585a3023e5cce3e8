package offline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"time"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/xmltree"
)

// Secrets are what Alice keeps of one published option set (XEP-0187
// §3.1: "she MUST securely store N_A, all the private Diffie-Hellman keys
// x_1…x_Z and the expiry time"), plus the form she published, so that she
// can check Bob's choices against her offers (§3.4).
//
// The exponents are unexported and never printed: every fmt verb and slog
// show a marker. [Secrets.Erase] clears them (best effort).
type Secrets struct {
	// ID names the set in the store and in replay records: the hex of
	// the first 8 octets of SHA-256(N_A). It reveals nothing secret.
	ID string
	// Set is the option set these values were published in.
	Set Set
	// Owner is Alice's bare JID.
	Owner string
	// Created and Expires bound the set's life (the 'expires' field).
	Created, Expires time.Time
	// MatchResource is the published 'match_resource', if any.
	MatchResource string

	nonce []byte        // N_A
	keys  []groupSecret // one per offered group, in modp order
	form  string        // the published form as sent (public)
	offer *esn.Form     // parsed form, lazily
}

type groupSecret struct {
	group int
	x     *big.Int
}

// Nonce returns a copy of N_A (public: it is published as 'my_nonce').
func (s *Secrets) Nonce() []byte { return append([]byte(nil), s.nonce...) }

// Groups returns the MODP groups of the set, in the published order.
func (s *Secrets) Groups() []int {
	out := make([]int, len(s.keys))
	for i, k := range s.keys {
		out[i] = k.group
	}
	return out
}

// Expired reports whether the set is past its expiry at now (XEP-0187
// §6.2: stanzas processed after it are discarded undecrypted).
func (s *Secrets) Expired(now time.Time) bool { return !now.Before(s.Expires) }

// Erase clears N_A and the private exponents. The set is unusable after.
func (s *Secrets) Erase() {
	if s == nil {
		return
	}
	clear(s.nonce)
	for _, k := range s.keys {
		if k.x != nil {
			clear(k.x.Bits())
		}
	}
	s.keys = nil
}

func (s *Secrets) String() string {
	if s == nil {
		return "offline.Secrets(nil)"
	}
	return fmt.Sprintf("offline.Secrets(%s, %s, REDACTED)", s.ID, s.Set)
}

// GoString keeps %#v from printing the exponents.
func (s *Secrets) GoString() string { return s.String() }

// Format prints the marker for every verb.
func (s *Secrets) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue keeps the exponents out of structured logs.
func (s *Secrets) LogValue() slog.Value { return slog.StringValue(s.String()) }

// privateKey returns the key pair of group, rebuilt from the stored
// exponent (XEP-0187 §3.4: "select x by the received nonce and modp").
func (s *Secrets) privateKey(group int) (*crypt.PrivateKey, error) {
	for _, k := range s.keys {
		if k.group != group || k.x == nil {
			continue
		}
		g, err := crypt.GroupByID(group)
		if err != nil {
			return nil, err
		}
		return g.NewPrivateKey(k.x)
	}
	return nil, unsupported("modp", "no stored key for this group")
}

// offered returns the published form, parsed.
func (s *Secrets) offered() (*esn.Form, error) {
	if s.offer != nil {
		return s.offer, nil
	}
	x, err := xmltree.Parse([]byte(s.form), xmltree.Limits{MaxBytes: maxFormBytes})
	if err != nil {
		return nil, fmt.Errorf("%w: stored form: %v", ErrMalformed, err)
	}
	f, err := esn.ParseForm(x, esn.FormLimits{})
	if err != nil {
		return nil, fmt.Errorf("%w: stored form: %v", ErrMalformed, err)
	}
	s.offer = f
	return f, nil
}

func setID(nonce []byte) string {
	h := sha256.Sum256(nonce)
	return hex.EncodeToString(h[:8])
}

// secretsJSON is the stored encoding (version 1).
type secretsJSON struct {
	V             int          `json:"v"`
	ID            string       `json:"id"`
	Set           string       `json:"set"`
	Owner         string       `json:"owner"`
	Created       time.Time    `json:"created"`
	Expires       time.Time    `json:"expires"`
	MatchResource string       `json:"match_resource,omitempty"`
	Nonce         string       `json:"nonce"`
	Keys          []secretJSON `json:"keys"`
	Form          string       `json:"form"`
}

type secretJSON struct {
	Group int    `json:"group"`
	X     string `json:"x"`
}

// MarshalPrivate encodes the secrets for the store. The result holds the
// private exponents: only [Store] should call it.
func (s *Secrets) MarshalPrivate() ([]byte, error) {
	j := secretsJSON{V: 1, ID: s.ID, Set: s.Set.String(), Owner: s.Owner, Created: s.Created.UTC(),
		Expires: s.Expires.UTC(), MatchResource: s.MatchResource, Nonce: crypt.EncodeBase64(s.nonce), Form: s.form}
	for _, k := range s.keys {
		if k.x == nil {
			return nil, fmt.Errorf("offline: secrets %s were erased", s.ID)
		}
		j.Keys = append(j.Keys, secretJSON{Group: k.group, X: crypt.EncodeBase64(k.x.Bytes())})
	}
	return json.Marshal(j)
}

// ParseSecrets decodes what MarshalPrivate wrote.
func ParseSecrets(b []byte) (*Secrets, error) {
	var j secretsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("%w: stored secrets: %v", ErrMalformed, err)
	}
	if j.V != 1 {
		return nil, fmt.Errorf("%w: stored secrets version %d", ErrMalformed, j.V)
	}
	set, err := ParseSet(j.Set)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	nonce, err := crypt.DecodeBase64("nonce", j.Nonce, 64)
	if err != nil || crypt.CheckNonce(nonce) != nil {
		return nil, fmt.Errorf("%w: stored secrets: bad nonce", ErrMalformed)
	}
	s := &Secrets{ID: j.ID, Set: set, Owner: j.Owner, Created: j.Created, Expires: j.Expires,
		MatchResource: j.MatchResource, nonce: nonce, form: j.Form}
	if s.ID != setID(nonce) {
		return nil, fmt.Errorf("%w: stored secrets: id does not match the nonce", ErrMalformed)
	}
	for _, k := range j.Keys {
		g, err := crypt.GroupByID(k.Group)
		if err != nil {
			return nil, fmt.Errorf("%w: stored secrets: %v", ErrMalformed, err)
		}
		xb, err := crypt.DecodeBase64("x", k.X, g.ByteLen())
		if err != nil {
			return nil, fmt.Errorf("%w: stored secrets: bad exponent", ErrMalformed)
		}
		x := new(big.Int).SetBytes(xb)
		clear(xb)
		if _, err := g.NewPrivateKey(x); err != nil {
			return nil, fmt.Errorf("%w: stored secrets: %v", ErrMalformed, err)
		}
		s.keys = append(s.keys, groupSecret{group: k.Group, x: x})
	}
	if len(s.keys) == 0 {
		return nil, fmt.Errorf("%w: stored secrets hold no key", ErrMalformed)
	}
	return s, nil
}
