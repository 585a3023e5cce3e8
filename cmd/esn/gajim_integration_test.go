package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// --profile gajim end to end through Prosody: a gajim-profile sender and
// receiver exchange messages (the receiver prints them, the sender exits 0
// although Gajim-style peers never acknowledge the end); a XEP-profile
// sender to the same receiver fails and names the other profile.
func TestIntegrationProfileGajim(t *testing.T) {
	srv := integrationServer(t)
	dir := t.TempDir()
	bob := startESN(t, "bob", sessionEnv(srv, "bob", dir), nil,
		"--json", "receive", "--profile", "gajim", "--from", "alice@"+srv.Domain, "--count", "2", "--timeout", "90s")
	bob.waitEvent("ready", 1, 30*time.Second)

	alice := startESN(t, "alice", sessionEnv(srv, "alice", dir), strings.NewReader("hello\nworld\n"),
		"--json", "send", "--profile", "gajim", "--lines", "bob@"+srv.Domain)
	if code := alice.wait(60 * time.Second); code != 0 {
		t.Fatalf("alice's esn send --profile gajim exited %d, want 0", code)
	}
	done := alice.events("done")
	if len(done) != 1 || done[0]["acknowledged"] != false || fmt.Sprint(done[0]["messages"]) != "2" {
		t.Errorf("alice's done event: %v", done)
	}
	neg := alice.events("negotiated")
	if len(neg) != 1 || neg[0]["profile"] != "gajim" || fmt.Sprint(neg[0]["group"]) != "15" {
		t.Errorf("alice's negotiated event: %v", neg)
	}
	msgs := bob.waitEvent("message", 2, 30*time.Second)
	for i, want := range []string{"hello", "world"} {
		if msgs[i]["body"] != want {
			t.Errorf("message %d body = %v, want %q", i, msgs[i]["body"], want)
		}
	}
	if code := bob.wait(30 * time.Second); code != 0 {
		t.Errorf("bob's esn receive exited %d, want 0", code)
	}

	// A XEP-0217 sender to a gajim-profile receiver: refused, not garbled.
	bob2 := startESN(t, "bob", sessionEnv(srv, "bob", dir), nil,
		"--json", "receive", "--profile", "gajim", "--from", "alice@"+srv.Domain, "--timeout", "60s")
	bob2.waitEvent("ready", 1, 30*time.Second)
	alice2 := startESN(t, "alice", sessionEnv(srv, "alice", dir), nil, "send", "bob@"+srv.Domain, "hi")
	if code := alice2.wait(60 * time.Second); code != exitUnavailable {
		t.Errorf("a XEP-0217 sender to a gajim receiver exited %d, want 69", code)
	}
	if !strings.Contains(alice2.errText(), "not-acceptable") {
		t.Errorf("alice is not told the request was refused:\n%s", alice2.errText())
	}
	term := bob2.waitEvent("terminated", 1, 30*time.Second)
	if !strings.Contains(fmt.Sprint(term[0]["error"]), "another negotiation profile") {
		t.Errorf("bob's terminated event: %v", term[0])
	}
	if len(bob2.events("message")) != 0 {
		t.Error("bob printed a message")
	}
}
