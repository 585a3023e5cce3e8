package main

// Integration test of esn decode on a key-authenticated session (issues 4
// and 5) against a real Prosody (internal/testserver).

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A 3-message (SIGMA-I) session captured with --trace and --keylog decodes
// completely from the sender's state directory: both parties identified by
// fingerprint, and the sender's own key and the trust store hold both keys.
func TestIntegrationDecodeKeyed(t *testing.T) {
	srv := integrationServer(t)
	aliceJID, bobJID := "alice@"+srv.Domain, "bob@"+srv.Domain
	clearKeyNodes(t, srv, "alice")
	clearKeyNodes(t, srv, "bob")
	dir := t.TempDir()
	aenv, benv := sessionEnv(srv, "alice", dir), sessionEnv(srv, "bob", dir)
	fps := map[string]string{}
	for user, env := range map[string]map[string]string{"alice": aenv, "bob": benv} {
		k := oneKey(t, runESN(t, env, "--json", "keys", "generate", "--bits", "2048", "--no-passphrase"))
		fps[user] = fmt.Sprint(k["fingerprint"])
		if r := runESN(t, env, "keys", "publish"); r.code != 0 {
			t.Fatalf("%s's publish exited %d:\n%s", user, r.code, r.stderr)
		}
	}
	if r := runESN(t, aenv, "keys", "trust", bobJID, fps["bob"]); r.code != 0 {
		t.Fatalf("alice's trust exited %d:\n%s", r.code, r.stderr)
	}
	if r := runESN(t, benv, "keys", "trust", aliceJID, fps["alice"]); r.code != 0 {
		t.Fatalf("bob's trust exited %d:\n%s", r.code, r.stderr)
	}

	recv := startESN(t, "alice", aenv, nil, "--json", "receive", "--from", bobJID, "--count", "1", "--timeout", "120s")
	ready := recv.waitEvent("ready", 1, 30*time.Second)
	keylog := filepath.Join(dir, "keys.log")
	send := startESN(t, "bob", benv, nil, "--trace", "--keylog", keylog, "send", "--auth", "key", fmt.Sprint(ready[0]["jid"]), "hello with keys")
	if code := send.wait(60 * time.Second); code != 0 {
		t.Fatalf("keyed send exited %d:\n%s", code, send.errText())
	}
	if code := recv.wait(30 * time.Second); code != 0 {
		t.Errorf("alice's receive exited %d", code)
	}
	capture := filepath.Join(dir, "capture.txt")
	if err := os.WriteFile(capture, []byte(send.errText()), 0o600); err != nil {
		t.Fatal(err)
	}

	dec := runESN(t, benv, "decode", "--keylog", keylog, capture)
	if dec.code != 0 {
		t.Fatalf("esn decode exited %d:\n%s\n%s", dec.code, dec.stdout, dec.stderr)
	}
	for _, want := range []string{"= 3-message (SIGMA-I)", "from your key", "from trust store: " + aliceJID + ", trusted", `body = "hello with keys"`, "terminate-ack (encrypted)"} {
		if !strings.Contains(dec.stdout, want) {
			t.Errorf("decode output lacks %q:\n%s", want, dec.stdout)
		}
	}
	signed := len(regexp.MustCompile(`(?m)^ +sign_[AB] \(SignatureValue\) += rsa-sha256 by [0-9A-F ]+  \[ok\]`).FindAllString(dec.stdout, -1))
	if signed != 2 {
		t.Errorf("%d verified signatures, want 2:\n%s", signed, dec.stdout)
	}
	if strings.Contains(dec.stdout, "not checked") {
		t.Errorf("decode left values unchecked:\n%s", dec.stdout)
	}
}
