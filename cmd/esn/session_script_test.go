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
// TestScripts they have:
//
//	mkcapture [-badkey] [-rekey] [-badrekey] CAPTURE KEYLOG BODY...
//	    record an in-memory session between alice and bob (XEP-0217, group
//	    5) in which alice sends the BODYs, as alice's `esn --trace` output
//	    (CAPTURE) and both sides' key log (KEYLOG); -badkey corrupts the
//	    logged K_final. -rekey negotiates XEP-0116 (rekey_freq 1): alice
//	    re-keys after the first BODY and bob answers "ack" after the last;
//	    -badrekey also corrupts the logged secret of alice's re-key.
func TestSessionScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/session",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			e.Setenv("HOME", e.WorkDir)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":   cmdExitCode,
			"closedport": cmdClosedPort,
			"mode":       cmdMode,
			"mkcapture":  cmdMkCapture,
		},
	})
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
	var tr strings.Builder
	deliver := func(from *esn.Manager, sts []*xmltree.Element) error {
		type hop struct {
			to *esn.Manager
			st *xmltree.Element
		}
		other := map[*esn.Manager]*esn.Manager{a: b, b: a}
		var q []hop
		for _, s := range sts {
			q = append(q, hop{other[from], s})
		}
		for len(q) > 0 {
			h := q[0]
			q = q[1:]
			dir := "SEND"
			if h.to == a {
				dir = "RECV"
			}
			fmt.Fprintf(&tr, "%s: %s\n", dir, h.st)
			st, err := xmltree.Parse([]byte(h.st.String()), xmltree.Limits{})
			if err != nil {
				return err
			}
			out, err := h.to.Receive(st)
			if err != nil {
				return err
			}
			for _, s := range out.Send {
				q = append(q, hop{other[h.to], s})
			}
		}
		return nil
	}
	thread, out, err := a.Initiate("bob@localhost", esn.InitiateOptions{})
	if err != nil {
		return "", "", err
	}
	tr.WriteString("esn: connected as alice@localhost/a\n")
	if err := deliver(a, out.Send); err != nil {
		return "", "", err
	}
	for i, body := range bodies {
		out, err := a.EncryptBody(thread, body)
		if err != nil {
			return "", "", err
		}
		if err := deliver(a, out.Send); err != nil {
			return "", "", err
		}
		if o.rekey && i == 0 {
			if out, err = a.Rekey(thread); err != nil {
				return "", "", err
			}
			if err := deliver(a, out.Send); err != nil {
				return "", "", err
			}
		}
	}
	if o.rekey {
		out, err := b.EncryptBody(thread, "ack")
		if err != nil {
			return "", "", err
		}
		if err := deliver(b, out.Send); err != nil {
			return "", "", err
		}
	}
	out, err = a.Terminate(thread)
	if err != nil {
		return "", "", err
	}
	if err := deliver(a, out.Send); err != nil {
		return "", "", err
	}
	return tr.String(), kl.String(), nil
}
