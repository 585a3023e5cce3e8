package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The other shared secret (--oss-file, ESN_OSS) against a real Prosody:
// the same secret on both sides negotiates; a different one, or one on one
// side only, fails the negotiation at its last step: K_final differs, so
// alice cannot verify bob's identity MAC M_B (as pkg/esn's TestOSS says),
// and her esn send exits 65 with a hint and nothing delivered.
func TestIntegrationOSS(t *testing.T) {
	srv := integrationServer(t)
	dir := t.TempDir()
	bobSecret := filepath.Join(dir, "bob-oss")
	if err := os.WriteFile(bobSecret, []byte("correct horse battery\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		aliceOSS string // ESN_OSS of alice; "" = none
		wantOK   bool
	}{
		{"same secret", "correct horse battery", true},
		{"different secret", "correct horse staple", false},
		{"only bob has one", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sub := t.TempDir()
			bob := startESN(t, "bob", sessionEnv(srv, "bob", sub), nil,
				"--json", "receive", "--from", "alice@"+srv.Domain, "--count", "1", "--timeout", "60s", "--oss-file", bobSecret)
			bob.waitEvent("ready", 1, 30*time.Second)
			aenv := sessionEnv(srv, "alice", sub)
			if tc.aliceOSS != "" {
				aenv[envOSS] = tc.aliceOSS
			}
			alice := startESN(t, "alice", aenv, nil, "-v", "send", "bob@"+srv.Domain, "over the shared secret")
			code := alice.wait(60 * time.Second)
			if tc.wantOK {
				if code != 0 {
					t.Fatalf("alice exited %d, want 0", code)
				}
				if m := bob.waitEvent("message", 1, 30*time.Second); m[0]["body"] != "over the shared secret" {
					t.Errorf("bob received %v", m[0])
				}
				if !strings.Contains(alice.errText(), "other shared secret from "+envOSS) {
					t.Error("alice's -v output does not say that an OSS is in use")
				}
			} else {
				if code != exitDataErr {
					t.Fatalf("alice exited %d, want %d", code, exitDataErr)
				}
				if !strings.Contains(alice.errText(), "hint: if either side uses an other shared secret") {
					t.Error("alice's error has no hint about the other shared secret")
				}
				if len(bob.events("message")) != 0 {
					t.Error("bob printed a message although the negotiation failed")
				}
			}
			for _, p := range []*proc{alice, bob} {
				if tc.aliceOSS != "" && strings.Contains(p.errText()+p.stdout(), tc.aliceOSS) {
					t.Errorf("%s printed the secret", p.name)
				}
				if strings.Contains(p.errText()+p.stdout(), "correct horse battery") {
					t.Errorf("%s printed bob's secret", p.name)
				}
			}
		})
	}
}
