package transcript

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/xmltree"
)

// direction follows the keys of one sender of a session across XEP-0200
// §9 re-keys.
//
// The sender's keys change at two points that the stanzas of its own
// direction show:
//
//   - after a stanza carrying its own <key/>: it sends with the initiator
//     keys of that re-key's secret (logged as ESN_REKEY_I_n or
//     ESN_REKEY_R_n, n counting the <key/> elements of the direction);
//   - at its first stanza after accepting the peer's re-keys, which carries
//     <new>j</new>: it sends with the acceptor keys of the last accepted
//     secret, unless one of its own re-keys was still unacknowledged (then
//     its keys are unchanged, [XEP-0200] §9.3). Summing the <new/> values
//     numbers the accepted re-keys.
//
// The candidates are tried in that order; a MAC under keys derived from a
// logged secret cannot verify by accident, so the keys that verify are the
// sender's.
type direction struct {
	obs         *crypt.Observer
	cipher, mac crypt.Key // the keys that verified last
	keys        uint64    // <key/> elements verified in this direction
	acked       uint64    // sum of the verified <new/> values
	next        []keyCand // after an own <key/>: the keys of each logged secret
	lost        string    // why the keys are unknown from here on
}

// keyCand is one set of keys a stanza may be under.
type keyCand struct {
	cipher, mac crypt.Key
	label       string // the key log label it derives from; "" = unchanged
	acceptor    bool
}

func (s *session) newDirection(keys crypt.DirectionKeys, ctr crypt.Counter) *direction {
	rf := s.params["rekey_freq"]
	obs, err := crypt.NewObserver(crypt.ObserverConfig{Suite: s.suite, Cipher: keys.Cipher, MAC: keys.MAC, Counter: ctr,
		Rekey: rf != "" && rf != strconv.FormatUint(crypt.NoRekey, 10), Group: s.group})
	if err != nil {
		return &direction{lost: "cannot follow: " + err.Error()}
	}
	return &direction{obs: obs, cipher: keys.Cipher, mac: keys.MAC}
}

// rekeyCands derives the keys of every logged secret under label.
func (t *Transcript) rekeyCands(s *session, thread, label string, role crypt.RekeyRole) []keyCand {
	var out []keyCand
	for _, z := range t.keys.Secrets(thread, label) {
		if len(z) > s.group.ByteLen() {
			continue // longer than p: it cannot be I2B(K)
		}
		kc, km := s.suite.RekeyKeys(crypt.NewKey(z), role)
		out = append(out, keyCand{cipher: kc, mac: km, label: label, acceptor: role == crypt.RekeyAcceptor})
	}
	return out
}

// open authenticates and decrypts one <c/> of direction dir, trying the
// keys the sender may use, and reports the checks on step. ok is false
// when the stanza could not be opened.
func (t *Transcript) open(step *Step, s *session, dir int, who string, c *xmltree.Element) (crypt.Observed, bool) {
	d := s.dirs[dir]
	if d == nil {
		// The traffic keys derive from K_final, or from K in the 3-message
		// variant.
		label, name := esn.KeyLogFinal, "K_final"
		if s.three {
			label, name = esn.KeyLogNegotiation, "K"
		}
		note := "needs " + label + " for this thread in the key log"
		if len(t.keys.Secrets(step.Thread, label)) > 0 {
			note = "no logged " + name + " verified, so the keys are unknown"
		}
		step.add("<c/>", who, NeedsKey, note)
		return crypt.Observed{}, false
	}
	if d.lost != "" {
		step.add("<c/>", who, NeedsKey, d.lost)
		return crypt.Observed{}, false
	}

	// The candidates, most specific first.
	cands := d.next
	if len(cands) == 0 {
		cands = []keyCand{{cipher: d.cipher, mac: d.mac}}
	}
	var newLabel string
	var newVal uint64
	if n := c.Child(crypt.NS, "new"); n != nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(n.Text()), 10, 8); err == nil && v > 0 {
			newVal = v
			// The peer's <key/> elements are the other direction's.
			newLabel = esn.KeyLogRekeyLabel(dir == 1, d.acked+v)
			cands = append(t.rekeyCands(s, step.Thread, newLabel, crypt.RekeyAcceptor), cands...)
		}
	}

	var (
		op        crypt.Observed
		err       error
		used      = -1
		installed string // label of the keys in the observer; "" = d's
	)
	for i, cand := range cands {
		if cand.label != "" || installed != "" {
			if err = d.obs.SetKeys(cand.cipher, cand.mac); err != nil {
				break
			}
			installed = cand.label
		}
		op, err = d.obs.Open(c)
		if err == nil {
			used = i
			break
		}
		if !errors.Is(err, crypt.ErrMAC) {
			break
		}
	}
	if used < 0 {
		// Put the last verified keys back: a later stanza may still
		// verify under them (this one may have been tampered with).
		if installed != "" {
			_ = d.obs.SetKeys(d.cipher, d.mac)
		}
		t.openFailed(step, d, who, err, cands, newLabel)
		return crypt.Observed{}, false
	}
	cand := cands[used]
	d.cipher, d.mac, d.next = cand.cipher, cand.mac, nil
	switch {
	case cand.acceptor:
		step.add(cand.label, who, OK, "the sender accepted that re-key: its acceptor keys from the logged secret verify")
	case cand.label != "":
		step.add(cand.label, who, OK, "the sender's keys after its re-key, from the logged secret, verify")
	case newVal > 0 && newLabel != "":
		step.add("<new/>", strconv.FormatUint(newVal, 10), Info, "the sender acknowledged the peer's re-key and kept its keys (its own re-key was outstanding)")
	}
	d.acked += newVal
	step.add("mac", who, OK, "XEP-0200 MAC verified, decrypted")
	if op.Key != nil {
		d.keys++
		label := esn.KeyLogRekeyLabel(dir == 0, d.keys)
		step.add("<key/> e'", bigSummary(op.Key, ""), OK, "a XEP-0200 §9 re-key, 1 < e' < p-1; later stanzas of this direction use the keys of "+label)
		d.next = t.rekeyCands(s, step.Thread, label, crypt.RekeyInitiator)
		if len(d.next) == 0 {
			d.lost = "after a re-key: needs " + label + " for this thread in the key log"
			step.add(label, "", NeedsKey, "not in the key log: later stanzas of this direction cannot be decrypted")
		}
	}
	return op, true
}

// openFailed reports a stanza that no candidate key opened.
func (t *Transcript) openFailed(step *Step, d *direction, who string, err error, cands []keyCand, newLabel string) {
	var logged []string
	for _, c := range cands {
		if c.label != "" && !slices.Contains(logged, c.label) {
			logged = append(logged, c.label)
		}
	}
	switch {
	case errors.Is(err, crypt.ErrMAC) && len(logged) > 0:
		step.add(strings.Join(logged, " "), who, Failed,
			"no candidate keys verify the MAC: not those derived from the logged re-key secret (a wrong or altered key log line?), nor the sender's previous keys (or the stanza was altered)")
		d.lost = "the keys after the re-key did not verify"
	case errors.Is(err, crypt.ErrMAC) && newLabel != "":
		step.add(newLabel, who, NeedsKey, "the sender may have switched to the acceptor keys of this re-key, which the key log lacks")
		d.lost = "after a re-key: needs " + newLabel + " for this thread in the key log"
	case errors.Is(err, crypt.ErrReplay):
		step.add("mac", who, Failed, "replayed stanza")
	case errors.Is(err, crypt.ErrMAC):
		step.add("mac", who, Failed, "XEP-0200 MAC does not verify")
	default:
		step.add("mac", who, Failed, err.Error())
	}
}
