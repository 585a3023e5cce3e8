package main

// Integration test of offline encrypted sessions (XEP-0187 over XEP-0160)
// against a real Prosody of its own (internal/testserver.Start), so that
// alice's offline storage and presence belong to this test alone.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/esn-project/esn/internal/testserver"
	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/offline"
	"github.com/esn-project/esn/pkg/transport"
	"mellium.im/xmpp/jid"
)

// serverFilesContaining returns the files under dir that contain s.
func serverFilesContaining(t *testing.T, dir, s string) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil // sockets, files being rewritten
		}
		if strings.Contains(string(b), s) {
			hits = append(hits, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// keysFor makes user a published key and returns its fingerprint.
func keysFor(t *testing.T, env map[string]string) string {
	t.Helper()
	gen := oneKey(t, runESN(t, env, "--json", "keys", "generate", "--bits", "2048", "--no-passphrase"))
	if r := runESN(t, env, "keys", "publish"); r.code != 0 {
		t.Fatalf("keys publish exited %d", r.code)
	}
	return fmt.Sprint(gen["fingerprint"])
}

func trust(t *testing.T, env map[string]string, peer, fp string) {
	t.Helper()
	if r := runESN(t, env, "keys", "trust", peer, fp); r.code != 0 {
		t.Fatalf("keys trust %s exited %d", peer, r.code)
	}
}

func TestIntegrationOffline(t *testing.T) {
	srv := &serverEnv{testserver.Start(t, testserver.Options{})}
	if len(srv.Strangers) == 0 {
		t.Fatal("the test server has no stranger account")
	}
	stranger := srv.Strangers[0]
	domain := srv.Domain
	aliceJID, bobJID, eveJID := "alice@"+domain, "bob@"+domain, stranger+"@"+domain
	dir := t.TempDir()
	aenv, benv, eenv := sessionEnv(srv, "alice", dir), sessionEnv(srv, "bob", dir), sessionEnv(srv, stranger, dir)

	// Keys: everybody publishes one, and trusts the others' after
	// comparing fingerprints (here: taken from the generating side).
	afp, bfp, efp := keysFor(t, aenv), keysFor(t, benv), keysFor(t, eenv)
	trust(t, benv, aliceJID, afp)
	trust(t, eenv, aliceJID, afp)
	trust(t, aenv, bobJID, bfp)
	trust(t, aenv, eveJID, efp)

	// Before alice publishes anything, bob's --offline finds no options:
	// 69, nothing sent.
	early := runESN(t, benv, "send", "--offline", aliceJID, "too early")
	if early.code != exitUnavailable || !strings.Contains(early.stderr, "no offline options") {
		t.Fatalf("send --offline without options exited %d:\n%s", early.code, early.stderr)
	}

	// alice publishes both sets and is offline (no esn of hers runs).
	pub := runESN(t, aenv, "--json", "offline", "publish", "--set", "both", "--expires", "2h")
	if pub.code != 0 {
		t.Fatalf("offline publish exited %d", pub.code)
	}
	published := jsonLines(t, pub.stdout)
	if len(published) != 2 || published[0]["node"] != offline.NS || published[1]["node"] != offline.NSAllEntities {
		t.Fatalf("published %v", published)
	}

	// A subscribed contact sees the subscribers' options, a stranger
	// cannot (access model presence), but sees the all-entities ones.
	t.Run("node access", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		eve := dialPeer(t, srv, stranger, "peek")
		_, err := eve.PEPFetch(ctx, jid.MustParse(aliceJID), offline.NS)
		if !errors.Is(err, &transport.StanzaError{Condition: "forbidden"}) && !errors.Is(err, &transport.StanzaError{Condition: "not-authorized"}) {
			t.Errorf("a stranger fetched the subscribers' options: %v", err)
		}
		items, err := eve.PEPFetch(ctx, jid.MustParse(aliceJID), offline.NSAllEntities)
		if err != nil || len(items) != 1 || items[0].ID != offline.ItemID {
			t.Errorf("all-entities node: %v, %v", items, err)
		}
		eve.Close()
	})

	// carol has a key but never trusted alice's: 77, the fingerprint and
	// the trust command, nothing sent (no silent trust).
	t.Run("untrusted signer", func(t *testing.T) {
		cenv := sessionEnv(srv, "carol", dir)
		keysFor(t, cenv)
		r := runESN(t, cenv, "send", "--offline", aliceJID, "not without trust")
		if r.code != exitNoPerm || !strings.Contains(r.stderr, "esn keys trust "+aliceJID+" "+afp) {
			t.Fatalf("send --offline to an untrusted key exited %d:\n%s", r.code, r.stderr)
		}
	})

	// bob (subscribed): one-shot message, then two lines in one session.
	one := runESN(t, benv, "--json", "send", "--offline", aliceJID, "first offline message")
	if one.code != 0 {
		t.Fatalf("bob's send --offline exited %d", one.code)
	}
	var neg map[string]any
	for _, l := range jsonLines(t, one.stdout) {
		if l["event"] == "negotiated" {
			neg = l
		}
	}
	if neg["offline"] != true || neg["set"] != "subscribers" || neg["peer_fingerprint"] != afp {
		t.Errorf("bob's negotiated event %v", neg)
	}
	bobLines := startESN(t, "bob-lines", benv, strings.NewReader("second <line>\nthird & last\n"), "send", "--offline", "--lines", aliceJID)
	if code := bobLines.wait(60 * time.Second); code != 0 {
		t.Fatalf("bob's send --offline --lines exited %d", code)
	}
	// eve (no subscription) uses the options for everybody.
	ev := runESN(t, eenv, "--json", "send", "--offline", aliceJID, "from a stranger")
	if ev.code != 0 || !strings.Contains(ev.stdout, `"set":"all"`) {
		t.Fatalf("eve's send --offline exited %d: %s", ev.code, ev.stdout)
	}

	plain := []string{"first offline message", "second <line>", "second &lt;line&gt;", "third & last", "third &amp; last", "from a stranger"}
	t.Run("the server stores ciphertext only", func(t *testing.T) {
		for _, p := range plain {
			if hits := serverFilesContaining(t, filepath.Join(srv.Dir, "data"), p); len(hits) > 0 {
				t.Errorf("the server's data holds %q in %v", p, hits)
			}
		}
		if hits := serverFilesContaining(t, filepath.Join(srv.Dir, "data"), esn.NSC); len(hits) == 0 {
			t.Error("no stored stanza carries the XEP-0200 namespace: are the offline messages stored?")
		}
	})

	// alice comes back: esn receive withdraws the subscribers' options and
	// prints the four messages with the server's delay stamps.
	recv := startESN(t, "alice", aenv, nil, "--json", "receive", "--from", bobJID, "--from", eveJID, "--count", "4", "--timeout", "60s")
	msgs := recv.waitEvent("message", 4, 60*time.Second)
	if code := recv.wait(30 * time.Second); code != 0 {
		t.Errorf("alice's esn receive exited %d", code)
	}
	var bodies []string
	for _, m := range msgs {
		bodies = append(bodies, fmt.Sprint(m["body"]))
		if m["offline"] != true || m["delay"] == "" || m["delay"] == nil || m["created"] == "" || m["auth"] != "key" {
			t.Errorf("message %v", m)
		}
		from := fmt.Sprint(m["from"])
		switch {
		case strings.HasPrefix(from, bobJID+"/"):
			if m["set"] != "subscribers" || m["peer_fingerprint"] != bfp {
				t.Errorf("bob's message %v", m)
			}
		case strings.HasPrefix(from, eveJID+"/"):
			if m["set"] != "all" || m["peer_fingerprint"] != efp {
				t.Errorf("eve's message %v", m)
			}
		default:
			t.Errorf("message from %s", from)
		}
	}
	want := []string{"first offline message", "from a stranger", "second <line>", "third & last"}
	if slices.Sort(bodies); !slices.Equal(bodies, want) {
		t.Errorf("alice printed %q, want %q", bodies, want)
	}
	if d := recv.events("discarded"); len(d) != 0 {
		t.Errorf("discarded: %v", d)
	}

	t.Run("nor after delivery", func(t *testing.T) {
		// Offline storage and the archives (MAM keeps body-less one-to-one
		// messages on this server) after alice received everything.
		for _, p := range plain {
			if hits := serverFilesContaining(t, filepath.Join(srv.Dir, "data"), p); len(hits) > 0 {
				t.Errorf("the server's data holds %q in %v", p, hits)
			}
		}
	})

	t.Run("withdrawn at login", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		bob := dialPeer(t, srv, "bob", "peek")
		items, err := bob.PEPFetch(ctx, jid.MustParse(aliceJID), offline.NS)
		if err == nil && len(items) != 0 {
			t.Errorf("the subscribers' options are still published: %v", items)
		}
		if items, err := bob.PEPFetch(ctx, jid.MustParse(aliceJID), offline.NSAllEntities); err != nil || len(items) != 1 {
			t.Errorf("the all-entities options are gone: %v %v", items, err)
		}
		bob.Close()
		st := runESN(t, aenv, "--json", "offline", "status")
		lines := jsonLines(t, st.stdout)
		if st.code != 0 || len(lines) != 1 || lines[0]["set"] != "all" {
			t.Errorf("stored sets after login: %v", lines)
		}
	})

	// alice online: --offline runs an ordinary online session.
	t.Run("online contact", func(t *testing.T) {
		live := startESN(t, "alice-live", aenv, nil, "--json", "receive", "--from", bobJID, "--count", "1", "--timeout", "60s")
		live.waitEvent("ready", 1, 30*time.Second)
		r := runESN(t, benv, "--json", "send", "--offline", aliceJID, "you are online")
		if r.code != 0 || strings.Contains(r.stdout, `"offline":true`) || !strings.Contains(r.stderr, "is online") {
			t.Fatalf("send --offline to an online contact exited %d:\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		m := live.waitEvent("message", 1, 30*time.Second)
		if m[0]["body"] != "you are online" || m[0]["offline"] == true {
			t.Errorf("alice got %v", m[0])
		}
		live.wait(30 * time.Second)
	})

	t.Run("withdraw", func(t *testing.T) {
		if r := runESN(t, aenv, "offline", "withdraw", "--set", "all"); r.code != 0 {
			t.Fatalf("withdraw exited %d", r.code)
		}
		r := runESN(t, eenv, "send", "--offline", aliceJID, "after the withdrawal")
		if r.code != exitUnavailable {
			t.Errorf("send --offline after the withdrawal exited %d, want 69", r.code)
		}
	})
}
