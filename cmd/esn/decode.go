package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/esn-project/esn/pkg/pubkey"
	"github.com/esn-project/esn/pkg/store"
	"github.com/esn-project/esn/pkg/transcript"
	"github.com/spf13/cobra"
)

func newDecodeCmd(a *app) *cobra.Command {
	var (
		keylog   string
		keyFiles []string
	)
	c := &cobra.Command{
		Use:   "decode [--keylog FILE] [--key FILE]... CAPTURE",
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

Public-key sessions (the 3-message SIGMA-I negotiation, and 4-message ones
with signed identities) are followed the same way: with the key log, each
identity proof is decrypted, the signing key named by its fingerprint, and
its rsa-sha256 signature verified. A party that sent its whole key (method
key) needs nothing more; one that identified by fingerprint (method hash)
needs its public key: from --key FILE (PEM, as 'esn keys export' or
'openssl pkey -pubout' write it), or from the state directory (the trust
store and your own keys) when an account is configured. Without the key
that signature is shown as not checked.

The first value that does not verify is flagged, and decode then exits 65.`,
		Example: `  esn --trace --keylog keys.log send bob@example.org hi 2> capture.txt
  esn decode --keylog keys.log capture.txt
  esn decode --json --keylog keys.log capture.txt | jq 'select(.body)'
  esn decode --keylog keys.log --key bob.pem capture.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			keys, err := a.decodeKeys(keyFiles)
			if err != nil {
				return err
			}
			return a.decode(args[0], a.keyLogPath(keylog), keys)
		},
	}
	c.Flags().StringVar(&keylog, "keylog", "", "key log `FILE` with the session secrets (env "+envKeyLog+")")
	c.Flags().StringArrayVar(&keyFiles, "key", nil, "public key `FILE` (PEM) of a party that identified by fingerprint (repeatable)")
	return c
}

// decodeKeys returns the public keys decode checks signatures with: those
// of the --key files, then the account's own keys and the trust store
// when an account is configured and the state directory exists. The state
// directory is only read: a failure there is a warning, not an error.
func (a *app) decodeKeys(files []string) ([]transcript.KnownKey, error) {
	var out []transcript.KnownKey
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		pub, err := pubkey.ParsePublicKeyPEM(data)
		clear(data) // it may have been a private key
		if err != nil {
			return nil, withCode(exitDataErr, fmt.Errorf("key file %s: %w", f, err))
		}
		out = append(out, transcript.KnownKey{Key: pub, Source: "key file " + f})
	}
	if err := a.load(); err != nil {
		a.ui.warnf("not using the state directory: %v", err)
		return out, nil
	}
	account, err := a.s.accountJID()
	if err != nil {
		a.ui.infof("no account: the state directory's keys are not used")
		return out, nil
	}
	bare := account.Bare().String()
	n := len(out)
	if _, err := os.Stat(filepath.Join(a.s.StateDir, pubkey.KeysDir)); err == nil {
		var own []*pubkey.LocalKey
		ks, err := pubkey.OpenKeystore(a.s.StateDir) // the directory exists
		if err == nil {
			own, err = ks.List(bare)
		}
		if err != nil {
			a.ui.warnf("not using your own keys: %v", err)
		}
		for _, k := range own {
			out = append(out, transcript.KnownKey{Key: k.Public.Key, Source: "your key, XEP-0189 print " + k.Public.Fingerprint().String()})
		}
	}
	if _, err := os.Stat(filepath.Join(a.s.StateDir, store.FileName)); err == nil {
		peers, err := (&trustDB{a: a, account: bare}).allKeys()
		if err != nil {
			a.ui.warnf("not using the trust store: %v", err)
		}
		for _, pk := range peers {
			state := "not trusted"
			if pk.rec.Verified {
				state = "trusted"
			}
			if pk.revoked() {
				state = "revoked"
			}
			src := fmt.Sprintf("trust store: %s, %s", strings.Join(pk.rec.JIDs, " "), state)
			if pk.published {
				src += ", XEP-0189 print " + pk.print.String()
			}
			out = append(out, transcript.KnownKey{Key: pk.pub, Source: src})
		}
	}
	a.ui.infof("%d public key(s) from the state directory %s", len(out)-n, a.s.StateDir)
	return out, nil
}

func (a *app) decode(capturePath, keylogPath string, keys []transcript.KnownKey) error {
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
	tr.AddKeys(keys...)
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
