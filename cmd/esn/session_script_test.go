package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"testing"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/xmltree"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestSessionScripts runs the scripts of the session commands in
// testdata/session/*.txt (no server needed). Besides the commands of
// runScripts they have:
//
//	mkcapture [-badkey] [-rekey] [-badrekey] CAPTURE KEYLOG BODY...
//	    record an in-memory session between alice and bob (XEP-0217, group
//	    5) in which alice sends the BODYs, as alice's `esn --trace` output
//	    (CAPTURE) and both sides' key log (KEYLOG); -badkey corrupts the
//	    logged K_final. -rekey negotiates XEP-0116 (rekey_freq 1): alice
//	    re-keys after the first BODY and bob answers "ack" after the last;
//	    -badrekey also corrupts the logged secret of alice's re-key.
func TestSessionScripts(t *testing.T) {
	runScripts(t, "testdata/session", map[string]scriptCmd{"mkcapture": cmdMkCapture})
}

// captureOpts are the options of mkcapture.
type captureOpts struct {
	badKey, rekey, badRekey bool
}

func cmdMkCapture(ts *testscript.TestScript, neg bool, args []string) {
	var o captureOpts
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-badkey":
			o.badKey = true
		case "-rekey":
			o.rekey = true
		case "-badrekey":
			o.rekey, o.badRekey = true, true
		default:
			ts.Fatalf("mkcapture: unknown option %s", args[0])
		}
		args = args[1:]
	}
	if neg || len(args) < 3 {
		ts.Fatalf("usage: mkcapture [-badkey] [-rekey] [-badrekey] CAPTURE KEYLOG BODY...")
	}
	capture, keylog, err := recordSession(args[2:], o)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(capture), 0o600))
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(keylog), 0o600))
}

// recordSession runs a session between two managers in memory and returns
// alice's trace and the key log.
func recordSession(bodies []string, o captureOpts) (string, string, error) {
	var kl bytes.Buffer
	logf := func(e esn.KeyLogEntry) {
		if o.badKey && e.Label == esn.KeyLogFinal || o.badRekey && e.Label == esn.KeyLogRekeyLabel(true, 1) {
			e.Secret[0] ^= 1
		}
		fmt.Fprintln(&kl, e.String())
	}
	pr := esn.DefaultPreferences(esn.ProfileXEP0217)
	if o.rekey {
		pr = esn.DefaultPreferences(esn.ProfileXEP0116)
		pr.RekeyFreq = 1
	}
	pr.Groups = []int{5}
	suite := crypt.XEPSuite()
	suite.MinGroup = 5
	a, err := esn.NewManager(esn.Config{Local: "alice@localhost/a", Preferences: pr, Suite: &suite, KeyLog: logf})
	if err != nil {
		return "", "", err
	}
	b, err := esn.NewManager(esn.Config{Local: "bob@localhost/b", Preferences: pr, Suite: &suite, KeyLog: func(e esn.KeyLogEntry) {
		if o.rekey {
			logf(e) // bob's lines: the same secrets, logged once
		}
	}})
	if err != nil {
		return "", "", err
	}
	r := &memSession{alice: a, bob: b}
	thread, err := r.initiate()
	if err != nil {
		return "", "", err
	}
	for i, body := range bodies {
		if err := r.send(a, thread, body); err != nil {
			return "", "", err
		}
		if o.rekey && i == 0 {
			out, err := a.Rekey(thread)
			if err != nil {
				return "", "", err
			}
			if err := r.relay(a, out.Send); err != nil {
				return "", "", err
			}
		}
	}
	if o.rekey {
		if err := r.send(b, thread, "ack"); err != nil {
			return "", "", err
		}
	}
	if err := r.terminate(thread); err != nil {
		return "", "", err
	}
	return r.trace.String(), kl.String(), nil
}

// memSession relays stanzas between alice@localhost/a and bob@localhost/b
// in memory, parsing each one again as a server would pass it on, and
// records alice's side as `esn --trace` prints it.
type memSession struct {
	alice, bob *esn.Manager
	trace      strings.Builder
}

// initiate has alice start a session with bob and relays the negotiation.
func (s *memSession) initiate() (string, error) {
	thread, out, err := s.alice.Initiate("bob@localhost", esn.InitiateOptions{})
	if err != nil {
		return "", err
	}
	s.trace.WriteString("esn: connected as alice@localhost/a\n")
	return thread, s.relay(s.alice, out.Send)
}

// send has from send body over thread and relays it.
func (s *memSession) send(from *esn.Manager, thread, body string) error {
	out, err := from.EncryptBody(thread, body)
	if err != nil {
		return err
	}
	return s.relay(from, out.Send)
}

// terminate has alice end the session and relays the termination.
func (s *memSession) terminate(thread string) error {
	out, err := s.alice.Terminate(thread)
	if err != nil {
		return err
	}
	return s.relay(s.alice, out.Send)
}

// relay delivers the stanzas from sends to the other side, and every
// answer back, until neither side has anything to send.
func (s *memSession) relay(from *esn.Manager, sts []*xmltree.Element) error {
	type hop struct {
		to *esn.Manager
		st *xmltree.Element
	}
	other := map[*esn.Manager]*esn.Manager{s.alice: s.bob, s.bob: s.alice}
	var q []hop
	for _, st := range sts {
		q = append(q, hop{other[from], st})
	}
	for len(q) > 0 {
		h := q[0]
		q = q[1:]
		dir := "SEND"
		if h.to == s.alice {
			dir = "RECV"
		}
		fmt.Fprintf(&s.trace, "%s: %s\n", dir, h.st)
		st, err := xmltree.Parse([]byte(h.st.String()), xmltree.Limits{})
		if err != nil {
			return err
		}
		out, err := h.to.Receive(st)
		if err != nil {
			return err
		}
		for _, st := range out.Send {
			q = append(q, hop{other[h.to], st})
		}
	}
	return nil
}
