package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/esn-project/esn/pkg/transcript"
	"github.com/spf13/cobra"
)

func newDecodeCmd(a *app) *cobra.Command {
	var keylog string
	c := &cobra.Command{
		Use:   "decode [--keylog FILE] CAPTURE",
		Short: "Explain and re-check a captured negotiation, and decrypt its messages",
		Long: `Read a capture of stanzas (the output of 'esn --trace', or any file of XML
stanzas in order; - for stdin) and print every step of each encrypted
session: the negotiation messages with the values derived at each step,
recomputed and checked (chosen options against the offer, echoed nonces,
Diffie-Hellman ranges, hash commitment, counters, SAS), then the messages.

With the key log written by --keylog (or ESN_KEYLOGFILE) during the session,
decode also recomputes what depends on the secrets: the identity MACs M_A
and M_B, mac_A and mac_B (which detect a form changed in transit, e.g. a
downgrade), and decrypts and authenticates every message. The key log format
is described in docs/usage.md.

Across XEP-0200 re-keys it follows each side's keys with the logged re-key
secrets (ESN_REKEY_I_n, ESN_REKEY_R_n); a logged secret whose keys do not
verify is flagged. Without it, the rest of that direction is shown as not
checked.

The first value that does not verify is flagged, and decode then exits 65.`,
		Example: `  esn --trace --keylog keys.log send bob@example.org hi 2> capture.txt
  esn decode --keylog keys.log capture.txt
  esn decode --json --keylog keys.log capture.txt | jq 'select(.body)'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.decode(args[0], a.keyLogPath(keylog))
		},
	}
	c.Flags().StringVar(&keylog, "keylog", "", "key log `FILE` with the session secrets (env "+envKeyLog+")")
	return c
}

func (a *app) decode(capturePath, keylogPath string) error {
	var kl *transcript.KeyLog
	if keylogPath != "" {
		f, err := os.Open(keylogPath)
		if err != nil {
			return fmt.Errorf("key log: %w", err)
		}
		kl, err = transcript.ParseKeyLog(f)
		f.Close()
		if err != nil {
			return withCode(exitDataErr, fmt.Errorf("key log %s: %w", keylogPath, err))
		}
	} else {
		a.ui.warnf("no key log: only the public values are checked, and messages are not decrypted")
	}
	var in io.Reader = a.stdin
	if capturePath != "-" {
		f, err := os.Open(capturePath)
		if err != nil {
			return fmt.Errorf("capture: %w", err)
		}
		defer f.Close()
		in = f
	}
	recs, err := transcript.ReadCapture(in)
	if err != nil {
		return withCode(exitDataErr, fmt.Errorf("capture %s: %w", capturePath, err))
	}
	if len(recs) == 0 {
		return withCode(exitDataErr, fmt.Errorf("capture %s holds no <message/> stanza", capturePath))
	}
	tr := transcript.New(kl)
	messages := 0
	for _, r := range recs {
		step := tr.AddRecord(r)
		if step.Body != "" {
			messages++
		}
		if step.Kind == "other" && len(step.Values) == 0 {
			continue
		}
		if a.flags.json {
			if err := a.ui.emitJSON(step); err != nil {
				return err
			}
			continue
		}
		if err := step.WriteText(a.stdout, ""); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
	st, v, bad := tr.FirstFailure()
	if a.flags.json {
		sum := map[string]any{"event": "summary", "stanzas": len(recs), "messages": messages, "verified": !bad}
		if bad {
			sum["first_failure"] = map[string]any{"step": st.N, "line": st.Line, "kind": st.Kind, "value": v.Name, "note": v.Note}
		}
		if err := a.ui.emitJSON(sum); err != nil {
			return err
		}
	}
	if bad {
		where := fmt.Sprintf("step %d (%s)", st.N, st.Kind)
		if st.Line > 0 {
			where += fmt.Sprintf(", line %d", st.Line)
		}
		return withCode(exitDataErr, fmt.Errorf("%w: %s: %s: %s", errDecodeFailed, where, v.Name, v.Note))
	}
	a.ui.noticef("%d stanza(s), %d message(s) decrypted; every checked value verifies", len(recs), messages)
	return nil
}

// errDecodeFailed is the error of a capture with a value that does not
// verify.
var errDecodeFailed = errors.New("the first value that does not verify")
