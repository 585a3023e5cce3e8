package main

// Integration test of esn keys and key-authenticated sessions (issue 5)
// against a real Prosody (internal/testserver).

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/pubkey"
)

// jsonLines parses the JSON lines of an esn run's stdout.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var res []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		res = append(res, m)
	}
	return res
}

// oneKey returns the only key line of an esn keys command's --json output.
func oneKey(t *testing.T, r result) map[string]any {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	lines := jsonLines(t, r.stdout)
	if len(lines) != 1 {
		t.Fatalf("want one key, got %v", lines)
	}
	return lines[0]
}

// clearKeyNodes deletes user's key nodes, left by an earlier run on a
// shared server.
func clearKeyNodes(t *testing.T, srv *serverEnv, user string) {
	t.Helper()
	c := dialPeer(t, srv, user, "keys-cleanup")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, node := range []string{pubkey.Node, pubkey.RevokeNode} {
		_ = c.PEPDelete(ctx, node) // item-not-found when there is none
	}
	c.Close()
}

func TestIntegrationKeys(t *testing.T) {
	srv := integrationServer(t)
	domain := srv.Domain
	aliceJID, bobJID := "alice@"+domain, "bob@"+domain
	clearKeyNodes(t, srv, "alice")
	clearKeyNodes(t, srv, "bob")
	dir := t.TempDir()
	aenv, benv := sessionEnv(srv, "alice", dir), sessionEnv(srv, "bob", dir)
	aenv[envKeyPassphrase] = "alice key passphrase"

	// alice: esn keys generate && esn keys publish; list shows it published.
	gen := oneKey(t, runESN(t, aenv, "--json", "keys", "generate", "--bits", "2048"))
	afp := fmt.Sprint(gen["fingerprint"])
	if len(afp) != 64 || gen["encrypted"] != true || gen["jid"] != aliceJID {
		t.Fatalf("generate: %v", gen)
	}
	if r := runESN(t, aenv, "keys", "publish"); r.code != 0 {
		t.Fatalf("publish exited %d", r.code)
	}
	listed := oneKey(t, runESN(t, aenv, "--json", "keys", "list"))
	if listed["fingerprint"] != afp || listed["published"] != true || listed["state"] != "valid" {
		t.Fatalf("alice's list: %v", listed)
	}

	// bob: esn keys fetch alice shows the same fingerprint, not trusted.
	fetched := oneKey(t, runESN(t, benv, "--json", "keys", "fetch", aliceJID))
	if fetched["fingerprint"] != afp || fetched["trusted"] != false || fetched["state"] != "valid" {
		t.Fatalf("bob's fetch of alice: %v (alice listed %s)", fetched, afp)
	}
	// The text form groups the same print for reading aloud.
	fp, _ := pubkey.ParseFingerprint(afp)
	if r := runESN(t, benv, "keys", "fetch", aliceJID); r.code != 0 || !strings.Contains(r.stdout, fp.String()) {
		t.Fatalf("text fetch lacks %s:\n%s", fp, r.stdout)
	}

	// bob has a key too; alice trusts it.
	bgen := oneKey(t, runESN(t, benv, "--json", "keys", "generate", "--bits", "2048", "--no-passphrase"))
	bfp := fmt.Sprint(bgen["fingerprint"])
	if r := runESN(t, benv, "keys", "publish", "--access", "presence"); r.code != 0 {
		t.Fatalf("bob's publish exited %d", r.code)
	}
	if r := runESN(t, aenv, "keys", "trust", bobJID, bfp); r.code != 0 {
		t.Fatalf("alice's trust exited %d", r.code)
	}

	// alice receives (and answers with keys: --auth auto).
	recv := startESN(t, "alice", aenv, nil, "--json", "receive", "--from", bobJID, "--count", "1", "--timeout", "120s")
	ready := recv.waitEvent("ready", 1, 30*time.Second)
	aliceFull := fmt.Sprint(ready[0]["jid"])

	// Before bob trusts alice's key, a key-authenticated session fails
	// with exit 77, the fingerprint and the exact trust command.
	// (The sends run as separate processes, as people run them.)
	early := startESN(t, "bob-early", benv, nil, "send", "--auth", "key", aliceFull, "too early")
	if code := early.wait(60 * time.Second); code != exitNoPerm {
		t.Fatalf("send to an untrusted key exited %d, want %d", code, exitNoPerm)
	}
	if e := early.errText(); !strings.Contains(e, "esn keys trust "+aliceJID+" "+afp) || !strings.Contains(e, fp.String()) {
		t.Fatalf("no fingerprint and trust command in:\n%s", e)
	}

	// After esn keys trust: 3 messages (SIGMA-I) in the trace, the
	// message arrives, and the JSON says auth key with alice's print.
	if r := runESN(t, benv, "keys", "trust", aliceJID, afp); r.code != 0 {
		t.Fatalf("bob's trust exited %d", r.code)
	}
	send := startESN(t, "bob", benv, nil, "--json", "--trace", "send", "--auth", "key", aliceFull, "hello with keys")
	if code := send.wait(60 * time.Second); code != 0 {
		t.Fatalf("keyed send exited %d", code)
	}
	r := result{stdout: send.stdout(), stderr: send.errText()}
	neg := 0
	for _, l := range strings.Split(r.stderr, "\n") {
		if (strings.Contains(l, "SEND:") || strings.Contains(l, "RECV:")) && strings.Contains(l, "feature-neg") && strings.Contains(l, "jabber:x:data") {
			neg++
		}
		if strings.Contains(l, "xep-0116.html#ns-init") {
			t.Errorf("a 4th negotiation message in the trace: %s", l)
		}
	}
	if neg != 3 {
		t.Errorf("%d negotiation stanzas in the trace, want 3", neg)
	}
	if !strings.Contains(r.stderr, `var="dhkeys"`) && !strings.Contains(r.stderr, `var='dhkeys'`) {
		t.Error("the request carried no dhkeys")
	}
	var negotiated map[string]any
	for _, l := range jsonLines(t, r.stdout) {
		if l["event"] == "negotiated" {
			negotiated = l
		}
	}
	if negotiated["auth"] != "key" || negotiated["peer_fingerprint"] != afp || negotiated["messages"] != float64(3) {
		t.Fatalf("bob's negotiated event: %v", negotiated)
	}
	msgs := recv.waitEvent("message", 1, 30*time.Second)
	if msgs[0]["body"] != "hello with keys" {
		t.Fatalf("alice got %v", msgs[0])
	}
	keyed := false
	for _, ev := range recv.events("negotiated") {
		keyed = keyed || (ev["auth"] == "key" && ev["peer_fingerprint"] == bfp)
	}
	if !keyed {
		t.Errorf("alice's negotiated events lack auth key by %s: %v", bfp, recv.events("negotiated"))
	}
	if code := recv.wait(30 * time.Second); code != 0 {
		t.Errorf("alice's receive exited %d", code)
	}

	// alice revokes: the revocation is published and the key retracted;
	// bob then refuses the key.
	rv := oneKey(t, runESN(t, aenv, "--json", "keys", "revoke", afp))
	if rv["state"] != "revoked" {
		t.Fatalf("revoke: %v", rv)
	}
	r = runESN(t, benv, "keys", "fetch", aliceJID)
	if r.code == 0 || !strings.Contains(r.stderr, "revoked") {
		t.Fatalf("fetch after the revocation exited %d:\n%s", r.code, r.stderr)
	}
	if r := runESN(t, benv, "keys", "trust", aliceJID, afp); r.code != exitNoPerm || !strings.Contains(r.stderr, "revoked") {
		t.Fatalf("trusting a revoked key exited %d:\n%s", r.code, r.stderr)
	}
	if r := runESN(t, aenv, "--json", "keys", "list"); r.code != 0 || !strings.Contains(r.stdout, `"state":"revoked"`) || !strings.Contains(r.stdout, `"published":false`) {
		t.Fatalf("alice's list after the revocation:\n%s", r.stdout)
	}
}
