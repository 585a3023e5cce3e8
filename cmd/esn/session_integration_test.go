package main

// Integration tests of the encrypted-session commands (issue 4) against a
// real Prosody (internal/testserver), each party a separate esn process:
// the test binary itself, which testscript.Main (TestMain) installs as
// "esn" in $PATH.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/esn-project/esn/internal/testserver"
	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/xmltree"
)

// proc is a running esn process.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd

	mu     sync.Mutex
	lines  []map[string]any // JSON lines of stdout
	raw    strings.Builder  // stdout as text
	stderr strings.Builder
	cond   chan struct{} // signalled on every new stdout line

	done chan struct{}
	code int
}

// sessionEnv is the environment of user on srv, with its own state
// directory under dir.
func sessionEnv(srv *serverEnv, user, dir string) map[string]string {
	env := baseEnv(srv, user)
	env["HOME"] = dir
	env[envStateDir] = filepath.Join(dir, user+"-state")
	return env
}

// startESN runs the esn binary with exactly env (plus PATH).
func startESN(t *testing.T, name string, env map[string]string, stdin io.Reader, args ...string) *proc {
	t.Helper()
	bin, err := exec.LookPath("esn")
	if err != nil {
		t.Fatalf("the esn command is not in $PATH (TestMain registers it): %v", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = stdin
	p := &proc{t: t, name: name, cmd: cmd, cond: make(chan struct{}, 1), done: make(chan struct{})}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = lockedWriter{&p.mu, &p.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.raw.WriteString(sc.Text() + "\n")
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				p.lines = append(p.lines, m)
			}
			p.mu.Unlock()
			select {
			case p.cond <- struct{}{}:
			default:
			}
		}
		err := cmd.Wait()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
		case err != nil:
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
		t.Logf("%s: esn %s => %d\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), p.code, p.stdout(), p.errText())
	})
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (p *proc) stdout() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.raw.String()
}

func (p *proc) errText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// events returns the JSON lines with the given "event".
func (p *proc) events(kind string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, l := range p.lines {
		if l["event"] == kind {
			out = append(out, l)
		}
	}
	return out
}

// eventKinds returns the "event" of every JSON line printed so far, in
// order.
func (p *proc) eventKinds() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, l := range p.lines {
		out = append(out, fmt.Sprint(l["event"]))
	}
	return out
}

// waitEvent waits until n JSON lines with "event" kind were printed.
func (p *proc) waitEvent(kind string, n int, d time.Duration) []map[string]any {
	p.t.Helper()
	deadline := time.After(d)
	for {
		if ev := p.events(kind); len(ev) >= n {
			return ev
		}
		select {
		case <-p.cond:
		case <-p.done:
			if ev := p.events(kind); len(ev) >= n {
				return ev
			}
			p.t.Fatalf("%s exited (%d) before printing %d %q event(s)", p.name, p.code, n, kind)
		case <-deadline:
			p.t.Fatalf("%s printed no %d %q event(s) within %v", p.name, n, kind, d)
		}
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		p.t.Fatalf("%s still running after %v", p.name, d)
		return -1
	}
}

// The main scenario: bob receives, alice sends two lines; both are
// printed by bob, alice exits 0; bob's server archive holds only
// ciphertext; esn decode of alice's --trace capture with the key log
// reproduces the messages.
func TestIntegrationSendReceive(t *testing.T) {
	srv := integrationServer(t)
	if !srv.MAM {
		t.Fatalf("the test server runs without mod_mam (%s): this test inspects bob's archive", srv.EnvFile)
	}
	dir := t.TempDir()
	bob := startESN(t, "bob", sessionEnv(srv, "bob", dir), nil,
		"--json", "receive", "--from", "alice@"+srv.Domain, "--count", "2", "--timeout", "90s")
	bob.waitEvent("ready", 1, 30*time.Second)

	keylog := filepath.Join(dir, "keys.log")
	alice := startESN(t, "alice", sessionEnv(srv, "alice", dir), strings.NewReader("hello\nworld\n"),
		"--json", "--trace", "--keylog", keylog, "send", "--lines", "bob@"+srv.Domain)
	if code := alice.wait(60 * time.Second); code != 0 {
		t.Fatalf("alice's esn send exited %d, want 0", code)
	}
	// Each sent line is reported with its body and full recipient, as
	// `esn archive save` reads them.
	sent := alice.events("sent")
	if len(sent) != 2 || sent[0]["body"] != "hello" || sent[1]["body"] != "world" ||
		!strings.HasPrefix(fmt.Sprint(sent[0]["to"]), "bob@"+srv.Domain+"/") {
		t.Errorf("alice's sent events: %v", sent)
	}
	// The session's lines come in the order of what happened
	// (docs/usage.md): the end of the session before send's "done".
	if got := alice.eventKinds(); strings.Join(got, " ") != "negotiated sent sent terminated done" {
		t.Errorf("alice's JSON events: %v, want negotiated, sent, sent, terminated, done", got)
	}
	msgs := bob.waitEvent("message", 2, 30*time.Second)
	if code := bob.wait(30 * time.Second); code != 0 {
		t.Errorf("bob's esn receive exited %d, want 0", code)
	}
	var thread string
	for i, want := range []string{"hello", "world"} {
		m := msgs[i]
		if m["body"] != want {
			t.Errorf("message %d body = %v, want %q", i, m["body"], want)
		}
		for _, k := range []string{"event", "from", "thread", "body", "sas", "verified", "time"} {
			if _, ok := m[k]; !ok {
				t.Errorf("message %d lacks %q: %v", i, k, m)
			}
		}
		if !strings.HasPrefix(fmt.Sprint(m["from"]), "alice@"+srv.Domain+"/") {
			t.Errorf("message %d from %v", i, m["from"])
		}
		thread = fmt.Sprint(m["thread"])
	}
	neg := bob.events("negotiated")
	if len(neg) != 1 || neg[0]["sas"] != msgs[0]["sas"] {
		t.Errorf("bob's negotiated events %v", neg)
	}
	if !strings.Contains(alice.errText(), "SAS "+fmt.Sprint(msgs[0]["sas"])) {
		t.Errorf("alice did not show the SAS %v", msgs[0]["sas"])
	}
	if fi, err := os.Stat(keylog); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key log: %v, mode %v; want 0600", err, fi)
	}
	if !strings.Contains(alice.errText(), "esn: warning: key log on") {
		t.Error("no key log warning")
	}

	t.Run("archive holds ciphertext only", func(t *testing.T) {
		archived := mamArchive(t, srv, "bob", "alice@"+srv.Domain, thread)
		encrypted := 0
		for _, st := range archived {
			s := st.String()
			if strings.Contains(s, "hello") || strings.Contains(s, "world") {
				t.Errorf("the archive holds the plaintext: %s", s)
			}
			if st.Child(esn.NSC, "c") != nil {
				encrypted++
			}
		}
		if encrypted < 2 {
			t.Errorf("%d archived stanzas of thread %s carry <c xmlns='%s'/>, want at least 2 (of %d archived)", encrypted, thread, esn.NSC, len(archived))
		}
	})

	t.Run("decode reproduces the messages", func(t *testing.T) {
		capture := filepath.Join(dir, "capture.txt")
		if err := os.WriteFile(capture, []byte(alice.errText()), 0o600); err != nil {
			t.Fatal(err)
		}
		dec := startESN(t, "decode", sessionEnv(srv, "alice", dir), nil, "--json", "decode", "--keylog", keylog, capture)
		if code := dec.wait(30 * time.Second); code != 0 {
			t.Fatalf("esn decode exited %d", code)
		}
		var bodies []string
		for _, l := range dec.lines {
			if b, ok := l["body"].(string); ok {
				bodies = append(bodies, b)
			}
		}
		if strings.Join(bodies, ",") != "hello,world" {
			t.Errorf("decoded bodies %q", bodies)
		}
		sum := dec.events("summary")
		if len(sum) != 1 || sum[0]["verified"] != true {
			t.Errorf("summary %v", sum)
		}
	})
}

// mamArchive returns the archived copies (the forwarded <message/>s) of
// thread in user's XEP-0313 archive, from the conversation with with.
func mamArchive(t *testing.T, srv *serverEnv, user, with, thread string) []*xmltree.Element {
	t.Helper()
	c := dialPeer(t, srv, user, "mam-reader")
	var mu sync.Mutex
	var got []*xmltree.Element
	barrier := make(chan struct{})
	const marker = "esn-test-mam-barrier"
	c.OnMessage(func(m *xmltree.Element) {
		if m.ChildText("", "body") == marker {
			close(barrier)
			return
		}
		r := m.Child("urn:xmpp:mam:2", "result")
		if r == nil {
			return
		}
		if fw := r.Child("urn:xmpp:forward:0", "forwarded"); fw != nil {
			if inner := fw.Child("", "message"); inner != nil && inner.ChildText("", "thread") == thread {
				mu.Lock()
				got = append(got, inner)
				mu.Unlock()
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	iq, err := xmltree.Parse([]byte(`<iq xmlns='jabber:client' type='set'><query xmlns='urn:xmpp:mam:2' queryid='esn-test'>`+
		`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>`+
		`<field var='with'><value>`+with+`</value></field></x>`+
		`<set xmlns='http://jabber.org/protocol/rsm'><max>200</max><before/></set></query></iq>`), xmltree.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendIQ(ctx, iq); err != nil {
		t.Fatalf("MAM query: %v", err)
	}
	// The results precede the IQ result on the wire but reach the handler
	// through the transport's ordered dispatch queue. A message to
	// ourselves, sent now, is dispatched after every one of them.
	self := xmltree.New("jabber:client", "message")
	self.SetAttr("to", c.LocalJID().String())
	self.SetAttr("type", "normal")
	self.AddChild(xmltree.New("jabber:client", "body").AddText(marker))
	self.AddChild(xmltree.New("urn:xmpp:hints", "no-store"))
	if err := c.Send(ctx, self); err != nil {
		t.Fatalf("MAM barrier: %v", err)
	}
	select {
	case <-barrier:
	case <-ctx.Done():
		t.Fatal("MAM results: the barrier message never came back")
	}
	mu.Lock()
	defer mu.Unlock()
	return got
}

// bob killed in the middle of a session: alice's esn send exits non-zero
// and says why.
func TestIntegrationPeerKilled(t *testing.T) {
	srv := integrationServer(t)
	dir := t.TempDir()
	bob := startESN(t, "bob", sessionEnv(srv, "bob", dir), nil, "--json", "receive", "--from", "alice@"+srv.Domain)
	bob.waitEvent("ready", 1, 30*time.Second)
	// An *os.File, so that exec does not wait for a copying goroutine.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	defer pr.Close()
	alice := startESN(t, "alice", sessionEnv(srv, "alice", dir), pr, "send", "--lines", "bob@"+srv.Domain)
	if _, err := io.WriteString(pw, "first line\n"); err != nil {
		t.Fatal(err)
	}
	bob.waitEvent("message", 1, 30*time.Second)
	if err := bob.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	bob.wait(10 * time.Second)
	code := alice.wait(30 * time.Second)
	if code == 0 {
		t.Fatal("alice exited 0 although bob vanished mid-session")
	}
	if code != exitUnavailable {
		t.Errorf("alice exited %d, want %d", code, exitUnavailable)
	}
	if !strings.Contains(alice.errText(), "went offline during the session") {
		t.Errorf("alice's error does not say what happened:\n%s", alice.errText())
	}
}

// A real client without ESession support (go-sendxmpp --listen, which
// answers disco#info without the feature) makes esn send exit 69, saying
// so, with nothing sent in plaintext.
func TestIntegrationPeerWithoutESessions(t *testing.T) {
	srv := integrationServer(t)
	bin, err := exec.LookPath("go-sendxmpp")
	if err != nil {
		if testserver.InCI() {
			t.Fatalf("go-sendxmpp is not installed (scripts/ensure-tools.sh installs it): %v", err)
		}
		t.Skipf("go-sendxmpp is not installed; run scripts/ensure-tools.sh: %v", err)
	}
	carol := exec.Command(bin, "-u", "carol@"+srv.Domain, "-p", srv.Password("carol"), "-j", srv.Addr, "-n", "--listen")
	carol.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	var carolOut lockedWriter = lockedWriter{&sync.Mutex{}, &strings.Builder{}}
	carol.Stdout, carol.Stderr = carolOut, carolOut
	if err := carol.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		carol.Process.Kill()
		carol.Wait()
	}()
	dir := t.TempDir()
	// Until go-sendxmpp is online, carol has no resource (also 69, but
	// another message): retry until its client is found.
	deadline := time.Now().Add(20 * time.Second)
	for {
		alice := startESN(t, "alice", sessionEnv(srv, "alice", dir), nil, "send", "carol@"+srv.Domain, "not in plaintext")
		code := alice.wait(30 * time.Second)
		if strings.Contains(alice.errText(), "does not support encrypted sessions") {
			if code != exitUnavailable {
				t.Fatalf("exit %d, want 69", code)
			}
			if !strings.Contains(alice.errText(), "carol@"+srv.Domain+"/") {
				t.Errorf("the error does not name carol's client:\n%s", alice.errText())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("esn never found go-sendxmpp's client (last exit %d):\n%s\ngo-sendxmpp: %s", code, alice.errText(), carolOut.b.String())
		}
		time.Sleep(300 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	carolOut.mu.Lock()
	defer carolOut.mu.Unlock()
	if strings.Contains(carolOut.b.String(), "not in plaintext") {
		t.Errorf("go-sendxmpp received the message in plaintext: %s", carolOut.b.String())
	}
}

// negotiate twice with both profiles, confirm the SAS in between: the
// second session shares the retained secret, the third reports the chain
// verified; esn sessions lists it.
func TestIntegrationNegotiateAndConfirm(t *testing.T) {
	srv := integrationServer(t)
	dir := t.TempDir()
	bobEnv := sessionEnv(srv, "bob", dir)
	aliceEnv := sessionEnv(srv, "alice", dir)
	bob := startESN(t, "bob", bobEnv, nil, "--json", "receive", "--from", "alice@"+srv.Domain, "--modp", "5,14,15")
	bob.waitEvent("ready", 1, 30*time.Second)
	type negResult struct {
		sas              string
		verified, shared bool
	}
	negotiate := func(args ...string) negResult {
		t.Helper()
		p := startESN(t, "alice negotiate", aliceEnv, nil, append([]string{"--json", "negotiate", "bob@" + srv.Domain}, args...)...)
		if code := p.wait(60 * time.Second); code != 0 {
			t.Fatalf("esn negotiate %v exited %d", args, code)
		}
		ev := p.events("negotiated")
		if len(ev) != 1 {
			t.Fatalf("negotiated events: %v", ev)
		}
		return negResult{fmt.Sprint(ev[0]["sas"]), ev[0]["verified"] == true, ev[0]["retained_secret"] == true}
	}
	r1 := negotiate("--profile", "xep0217", "--modp", "5")
	if r1.verified || r1.shared {
		t.Errorf("first session: %+v", r1)
	}
	r2 := negotiate("--profile", "xep0116", "--modp", "15,14")
	if !r2.shared || r2.verified {
		t.Errorf("second session: %+v, want a shared, unverified retained secret", r2)
	}
	for _, c := range []struct {
		env  map[string]string
		peer string
	}{{aliceEnv, "bob@" + srv.Domain}, {bobEnv, "alice@" + srv.Domain}} {
		p := startESN(t, "sas confirm", c.env, nil, "sas", "confirm", c.peer, r2.sas)
		if code := p.wait(30 * time.Second); code != 0 {
			t.Fatalf("esn sas confirm %s exited %d", c.peer, code)
		}
	}
	r3 := negotiate()
	if !r3.shared || !r3.verified {
		t.Errorf("third session: %+v, want the verified chain", r3)
	}
	bob.cmd.Process.Signal(syscall.SIGTERM)
	if code := bob.wait(30 * time.Second); code != 0 {
		t.Errorf("bob's esn receive exited %d after SIGTERM, want 0", code)
	}
	if n := len(bob.events("negotiated")); n != 3 {
		t.Errorf("bob negotiated %d sessions, want 3", n)
	}
	ls := startESN(t, "sessions", aliceEnv, nil, "--json", "sessions")
	if code := ls.wait(30 * time.Second); code != 0 {
		t.Fatalf("esn sessions exited %d", code)
	}
	if !strings.Contains(ls.stdout(), `"verified":true`) || !strings.Contains(ls.stdout(), `"bob@`+srv.Domain+`"`) {
		t.Errorf("esn sessions: %s", ls.stdout())
	}
	if strings.Contains(ls.stdout(), "secret\":") {
		t.Errorf("esn sessions shows a secret: %s", ls.stdout())
	}
}

// Without --from, esn receive accepts roster contacts only: eve (on
// nobody's roster) is declined, and both sides say so.
func TestIntegrationDeclineStranger(t *testing.T) {
	srv := integrationServer(t)
	if len(srv.Strangers) == 0 {
		t.Fatalf("the test server has no stranger account (%s)", srv.EnvFile)
	}
	stranger := srv.Strangers[0]
	dir := t.TempDir()
	bob := startESN(t, "bob", sessionEnv(srv, "bob", dir), nil, "--json", "receive")
	ready := bob.waitEvent("ready", 1, 30*time.Second)
	bobJID := fmt.Sprint(ready[0]["jid"])
	if ready[0]["accepting"] != "roster" {
		t.Errorf("ready = %v, want accepting roster", ready[0])
	}
	eve := startESN(t, stranger, sessionEnv(srv, stranger, dir), nil, "send", bobJID, "let me in")
	if code := eve.wait(60 * time.Second); code != exitUnavailable {
		t.Errorf("%s's esn send exited %d, want 69", stranger, code)
	}
	if !strings.Contains(eve.errText(), "declined") {
		t.Errorf("%s is not told the session was declined:\n%s", stranger, eve.errText())
	}
	dec := bob.waitEvent("declined", 1, 30*time.Second)
	if !strings.Contains(fmt.Sprint(dec[0]["from"]), stranger+"@"+srv.Domain) {
		t.Errorf("declined event %v", dec[0])
	}
	if len(bob.events("message")) != 0 {
		t.Error("bob printed a message from a stranger")
	}
}
