package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/archive"
	"github.com/esn-project/esn/pkg/transport"
)

// TestArchiveScripts runs the usage scripts of esn archive in
// testdata/archive/*.txt (no server needed), with the commands of
// runScripts.
func TestArchiveScripts(t *testing.T) { runScripts(t, "testdata/archive", nil) }

func TestArchiveExitCodes(t *testing.T) {
	for i, tc := range []struct {
		err  error
		want int
	}{
		{&archive.LoggingError{Peer: "a@b", Thread: "t"}, exitNoPerm},
		{fmt.Errorf("x: %w", &archive.LoggingError{Unknown: true}), exitUsage},
		{&archive.NoKeyError{}, exitNoPerm},
		{archive.ErrDecrypt, exitDataErr},
		{fmt.Errorf("file: %w", archive.ErrMalformed), exitDataErr},
		{archive.ErrTooLarge, exitDataErr},
		{&archive.AlgorithmError{Algorithm: "x"}, exitDataErr},
		{&archive.AlgorithmError{Algorithm: "x", Legacy: true}, exitDataErr},
		{archive.ErrMixed, exitDataErr},
		{fmt.Errorf("archive: <retrieve/>: %w", &transport.StanzaError{Type: "cancel", Condition: "item-not-found"}), exitUnavailable},
		{withHint(archiveErr(fmt.Errorf("archive: <list/>: %w", &transport.StanzaError{Condition: "service-unavailable"})), "x"), exitUnavailable},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("%d: %v: exit %d, want %d", i, tc.err, got, tc.want)
		}
	}
}

func TestParsePrefSets(t *testing.T) {
	for i, tc := range []struct {
		sets            []string
		jid, thread     string
		exact, remove   bool
		ok              bool
		save, otr, auto string
	}{
		0:  {sets: []string{"save=body", "otr=prefer"}, ok: true, save: "body", otr: "prefer"},
		1:  {sets: []string{"otr=require"}, ok: false},
		2:  {sets: []string{"otr=require", "save=false"}, ok: true, save: "false", otr: "require"},
		3:  {sets: []string{"save=sometimes"}, ok: false},
		4:  {sets: []string{"save"}, ok: false},
		5:  {sets: []string{"save=body", "save=false"}, ok: false},
		6:  {sets: []string{"color=blue"}, ok: false},
		7:  {sets: []string{"method.manual=prefer", "method.auto=forbid"}, ok: true},
		8:  {sets: []string{"method.cloud=prefer"}, ok: false},
		9:  {sets: []string{"method.auto=always"}, ok: false},
		10: {sets: []string{"auto=true", "auto-scope=global"}, ok: true, auto: "true global"},
		11: {sets: []string{"auto-scope=global"}, ok: false},
		12: {sets: []string{"expire=720h"}, ok: true},
		13: {sets: []string{"expire=soon"}, ok: false},
		14: {sets: []string{"save=false"}, jid: "romeo@montague.net", ok: true, save: "false"},
		15: {sets: []string{"method.auto=prefer"}, jid: "romeo@montague.net", ok: false},
		16: {sets: []string{"otr=prefer"}, thread: "t", ok: false},
		17: {sets: nil, thread: "t", ok: false},
		18: {sets: []string{"save=false"}, thread: "t", ok: true, save: "false"},
		19: {remove: true, ok: false},
		20: {remove: true, jid: "romeo@montague.net", ok: true},
		21: {remove: true, jid: "romeo@montague.net", sets: []string{"save=false"}, ok: false},
		22: {exact: true, sets: []string{"save=false"}, ok: false},
		23: {jid: "not a jid@@", sets: []string{"save=false"}, ok: false},
		24: {jid: "a@b", thread: "t", sets: []string{"save=false"}, ok: false},
		25: {sets: []string{"auto=maybe"}, ok: false},
	} {
		p, err := parsePrefSets(tc.sets, tc.jid, tc.thread, tc.exact, tc.remove)
		if (err == nil) != tc.ok {
			t.Errorf("%d: %v", i, err)
			continue
		}
		if err != nil {
			var ue *usageError
			if !errors.As(err, &ue) {
				t.Errorf("%d: not a usage error: %v", i, err)
			}
			continue
		}
		if string(p.save) != tc.save || string(p.otr) != tc.otr {
			t.Errorf("%d: save %q otr %q", i, p.save, p.otr)
		}
		if tc.auto != "" && (p.auto == nil || fmt.Sprintf("%v %s", p.auto.Save, p.auto.Scope) != tc.auto) {
			t.Errorf("%d: auto %+v", i, p.auto)
		}
	}
}

// TestIntegrationArchiveCLI runs esn archive against Prosody with the
// project's XEP-0136 module, on a fresh account.
func TestIntegrationArchiveCLI(t *testing.T) {
	srv := integrationServer(t)
	acct := srv.NewAccount(t, "arccli")
	dir := t.TempDir()
	env := map[string]string{
		envAccount: acct.JID.String(), envPassword: acct.Password, envServer: srv.Addr, envCAFile: srv.CAFile,
		"HOME": dir, envStateDir: filepath.Join(dir, "state"),
	}
	t0 := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	at := func(d int) string { return t0.Add(time.Duration(d) * time.Second).Format(time.RFC3339) }
	events := strings.Join([]string{
		`{"event":"negotiated","peer":"juliet@capulet.example/balcony","thread":"th-may","logging":"may","time":"` + at(0) + `"}`,
		`{"event":"message","from":"juliet@capulet.example/balcony","thread":"th-may","body":"wherefore art thou","time":"` + at(1) + `"}`,
		`{"event":"sent","to":"juliet@capulet.example/balcony","thread":"th-may","body":"call me but love","time":"` + at(5) + `"}`,
		`{"event":"negotiated","peer":"nurse@capulet.example/k","thread":"th-otr","logging":"mustnot","time":"` + at(6) + `"}`,
		`{"event":"message","from":"nurse@capulet.example/k","thread":"th-otr","body":"do not write this down","time":"` + at(7) + `"}`,
	}, "\n") + "\n"
	in := filepath.Join(dir, "session.jsonl")
	if err := os.WriteFile(in, []byte(events), 0o600); err != nil {
		t.Fatal(err)
	}

	// No key yet: refused, nothing uploaded.
	if r := runESN(t, env, "archive", "save", "--skip-off-the-record", in); r.code != exitUsage || !strings.Contains(r.stderr, "esn keys generate") {
		t.Fatalf("save without a key: %d", r.code)
	}
	if r := runESN(t, env, "keys", "generate", "--no-passphrase", "--bits", "2048"); r.code != 0 {
		t.Fatalf("keys generate: %d", r.code)
	}
	// An off-the-record session in the input refuses the whole upload.
	if r := runESN(t, env, "archive", "save", in); r.code != exitNoPerm || !strings.Contains(r.stderr, "off the record") {
		t.Fatalf("save with an OTR session: %d", r.code)
	}
	if r := runESN(t, env, "--json", "archive", "list"); r.code != 0 || r.stdout != "" {
		t.Fatalf("something was uploaded: %q", r.stdout)
	}
	r := runESN(t, env, "--json", "archive", "save", "--skip-off-the-record", in)
	saved := jsonLines(t, r.stdout)
	if r.code != 0 || len(saved) != 1 || saved[0]["encrypted"] != true || saved[0]["messages"] != 2.0 || saved[0]["with"] != "juliet@capulet.example/balcony" {
		t.Fatalf("save: %d %v", r.code, saved)
	}
	start := fmt.Sprint(saved[0]["start"])

	// The server's store has ciphertext only.
	store, err := os.ReadFile(filepath.Join(srv.Dir, "data", srv.Domain, "esn_archive136", acct.JID.Localpart()+".dat"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"wherefore", "call me", "do not write"} {
		if strings.Contains(string(store), s) {
			t.Fatalf("the server stored %q in clear", s)
		}
	}

	listed := jsonLines(t, runESN(t, env, "--json", "archive", "list", "--with", "juliet@capulet.example").stdout)
	if len(listed) != 1 || listed[0]["start"] != start || listed[0]["encrypted"] != true || listed[0]["thread"] != "th-may" {
		t.Fatalf("list: %v", listed)
	}
	got := jsonLines(t, runESN(t, env, "--json", "archive", "get", "juliet@capulet.example/balcony", start).stdout)
	if len(got) != 2 || got[0]["body"] != "wherefore art thou" || got[0]["kind"] != "from" || got[1]["kind"] != "to" || got[1]["time"] != at(5) {
		t.Fatalf("get: %v", got)
	}
	// Saved raw, decrypted offline.
	r = runESN(t, env, "archive", "get", "--raw", "juliet@capulet.example/balcony", start)
	raw := filepath.Join(dir, "chat.xml")
	if err := os.WriteFile(raw, []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runESN(t, env, "archive", "decrypt", raw); r.code != 0 || !strings.Contains(r.stdout, "me: call me but love") {
		t.Fatalf("decrypt: %d %q", r.code, r.stdout)
	}
	// Another account's key cannot read it.
	other := map[string]string{}
	for k, v := range env {
		other[k] = v
	}
	other[envStateDir] = filepath.Join(dir, "other-state")
	runESN(t, other, "keys", "generate", "--no-passphrase", "--bits", "2048")
	if r := runESN(t, other, "archive", "decrypt", raw); r.code != exitNoPerm {
		t.Fatalf("decrypt with another key: %d", r.code)
	}

	// Prefs round trip.
	p := jsonLines(t, runESN(t, env, "--json", "archive", "prefs", "--jid", "nurse@capulet.example", "--set", "otr=require", "--set", "save=false").stdout)
	if len(p) != 1 || !strings.Contains(fmt.Sprint(p[0]["items"]), "require") {
		t.Fatalf("prefs: %v", p)
	}

	if r := runESN(t, env, "archive", "remove", "--with", "juliet@capulet.example/balcony", "--start", start); r.code != 0 {
		t.Fatalf("remove: %d", r.code)
	}
	if r := runESN(t, env, "archive", "get", "juliet@capulet.example/balcony", start); r.code != exitUnavailable {
		t.Fatalf("get after remove: %d", r.code)
	}
}

// TestIntegrationReceiveArchive: esn receive --archive keeps the messages
// of a session that may be logged, encrypted, and nothing of an
// off-the-record one.
func TestIntegrationReceiveArchive(t *testing.T) {
	srv := integrationServer(t)
	dir := t.TempDir()
	benv := sessionEnv(srv, "bob", dir)
	if r := runESN(t, benv, "keys", "generate", "--no-passphrase", "--bits", "2048"); r.code != 0 {
		t.Fatalf("keys generate: %d", r.code)
	}
	send := func(lines string) {
		t.Helper()
		alice := startESN(t, "alice", sessionEnv(srv, "alice", dir), strings.NewReader(lines), "send", "--lines", "bob@"+srv.Domain)
		if code := alice.wait(60 * time.Second); code != 0 {
			t.Fatalf("alice's esn send exited %d", code)
		}
	}

	// bob prefers logging: the session may be archived, and is.
	bob := startESN(t, "bob", benv, nil, "--json", "receive", "--archive", "--logging", "may,mustnot",
		"--from", "alice@"+srv.Domain, "--count", "2", "--timeout", "90s")
	bob.waitEvent("ready", 1, 30*time.Second)
	send("to the archive\nand this\n")
	msgs := bob.waitEvent("message", 2, 30*time.Second)
	if code := bob.wait(30 * time.Second); code != 0 {
		t.Fatalf("bob's esn receive exited %d", code)
	}
	if msgs[0]["logging"] != "may" {
		t.Fatalf("message line %v", msgs[0])
	}
	archived := bob.events("archived")
	if len(archived) != 1 || archived[0]["messages"] != 2.0 || archived[0]["encrypted"] != true || archived[0]["thread"] != msgs[0]["thread"] {
		t.Fatalf("archived events %v", archived)
	}
	got := jsonLines(t, runESN(t, benv, "--json", "archive", "get", fmt.Sprint(archived[0]["with"]), fmt.Sprint(archived[0]["start"])).stdout)
	if len(got) != 2 || got[0]["body"] != "to the archive" || got[1]["body"] != "and this" {
		t.Fatalf("archive get: %v", got)
	}

	// By default sessions are off the record: nothing is archived.
	bob = startESN(t, "bob", benv, nil, "--json", "receive", "--archive",
		"--from", "alice@"+srv.Domain, "--count", "1", "--timeout", "90s")
	bob.waitEvent("ready", 1, 30*time.Second)
	send("off the record\n")
	msgs = bob.waitEvent("message", 1, 30*time.Second)
	if code := bob.wait(30 * time.Second); code != 0 {
		t.Fatalf("bob's second esn receive exited %d", code)
	}
	if msgs[0]["logging"] != "mustnot" || len(bob.events("archived")) != 0 || !strings.Contains(bob.errText(), "--logging may,mustnot") {
		t.Fatalf("off-the-record run: %v, archived %v", msgs[0], bob.events("archived"))
	}
	cols := jsonLines(t, runESN(t, benv, "--json", "archive", "list", "--with", fmt.Sprint(msgs[0]["from"]), "--exact").stdout)
	for _, c := range cols {
		if c["thread"] == msgs[0]["thread"] {
			t.Fatalf("the off-the-record session was archived: %v", c)
		}
	}
	// Clean up bob's archive for other runs on a shared server.
	if r := runESN(t, benv, "archive", "remove", "--with", "alice@"+srv.Domain, "--start", "2000-01-01T00:00:00Z", "--end", "2100-01-01T00:00:00Z"); r.code != 0 {
		t.Errorf("cleaning up: %d", r.code)
	}
}
