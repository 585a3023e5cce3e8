package main

// Integration tests against a real Prosody (internal/testserver). They run
// esn in-process through run(), which touches no global state, with its
// own environment map and output buffers.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/transport"
	"mellium.im/xmpp/jid"
)

// result is the outcome of one in-process esn run.
type result struct {
	code           int
	stdout, stderr string
}

// runESN runs esn with args and exactly the environment env (plus HOME).
func runESN(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	full := map[string]string{"HOME": t.TempDir()}
	for k, v := range env {
		full[k] = v
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := run(ctx, args, func(k string) string { return full[k] }, strings.NewReader(""), &stdout, &stderr)
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	t.Logf("esn %s => %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, r.stdout, r.stderr)
	return r
}

// connectApp logs in as an in-process esn with exactly the environment env
// would, answering disco#info like a running esn, without a command. The
// caller closes the connection.
func connectApp(ctx context.Context, t *testing.T, env map[string]string) *transport.Conn {
	t.Helper()
	a := &app{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{},
		getenv: func(k string) string { return env[k] }}
	a.ui = newUI(a.stdout, a.stderr, false, false, true)
	if err := a.load(); err != nil {
		t.Fatal(err)
	}
	conn, err := a.connect(ctx, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	return conn
}

// baseEnv is the environment that logs in as user on srv with STARTTLS
// verified against the test CA.
func baseEnv(srv *serverEnv, user string) map[string]string {
	return map[string]string{
		envAccount:  user + "@" + srv.Domain,
		envPassword: srv.Password(user),
		envServer:   srv.Addr,
		envCAFile:   srv.CAFile,
	}
}

// dialPeer logs user in through pkg/transport with esn's disco answer, as
// a running esn does, and sends available presence.
func dialPeer(t *testing.T, srv *serverEnv, user, resource string) *transport.Conn {
	t.Helper()
	roots, err := loadRootCAs(srv.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := transport.Dial(ctx, transport.Config{
		JID:      jid.MustParse(user + "@" + srv.Domain),
		Password: srv.Password(user),
		Resource: resource,
		Server:   srv.Addr,
		RootCAs:  roots,
		Presence: true,
		Features: advertisedFeatures(),
		Identity: discoIdentity(),
	})
	if err != nil {
		t.Fatalf("dial %s: %v", user, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// wantFeatures is what a connected esn advertises.
func wantFeatures() []string {
	f := append(advertisedFeatures(), nsDiscoInfo)
	slices.Sort(f)
	return slices.Compact(f)
}

func TestIntegrationLoginModesAndProbe(t *testing.T) {
	srv := integrationServer(t)
	bob := dialPeer(t, srv, "bob", "probe-target")
	bobJID := bob.LocalJID().String()

	tests := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"starttls verified", nil, nil},
		{"direct tls", map[string]string{envServer: srv.DirectTLSAddr}, []string{"--direct-tls"}},
		{"plaintext on loopback", map[string]string{envCAFile: ""}, []string{"--allow-plaintext"}},
		{"config file", map[string]string{envServer: "", envCAFile: "", envPassword: "", envAccount: ""}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := baseEnv(srv, "alice")
			for k, v := range tc.env {
				env[k] = v
			}
			if tc.name == "config file" {
				path := filepath.Join(t.TempDir(), "config.toml")
				cfg := fmt.Sprintf("default_account = %q\n[accounts.%q]\npassword = %q\nserver = %q\nca_file = %q\n",
					"alice@"+srv.Domain, "alice@"+srv.Domain, srv.Password("alice"), srv.Addr, srv.CAFile)
				if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
					t.Fatal(err)
				}
				env[envConfig] = path
			}
			args := append(slices.Clone(tc.args), "--json", "probe", "bob@"+srv.Domain)
			r := runESN(t, env, args...)
			if r.code != 0 {
				t.Fatalf("exit %d, want 0", r.code)
			}
			var got []probeResult
			sc := bufio.NewScanner(strings.NewReader(r.stdout))
			for sc.Scan() {
				var pr probeResult
				if err := json.Unmarshal(sc.Bytes(), &pr); err != nil {
					t.Fatalf("stdout line %q is not JSON: %v", sc.Text(), err)
				}
				got = append(got, pr)
			}
			i := slices.IndexFunc(got, func(p probeResult) bool { return p.JID == bobJID })
			if i < 0 {
				t.Fatalf("probe did not report %s: %+v", bobJID, got)
			}
			p := got[i]
			if !slices.Equal(p.Features, wantFeatures()) {
				t.Errorf("features = %v, want %v", p.Features, wantFeatures())
			}
			if len(p.Identities) != 1 || p.Identities[0] != (identityJSON{Category: "client", Type: "bot", Name: "esn"}) {
				t.Errorf("identities = %+v", p.Identities)
			}
			// esn advertises exactly advertisedFeatures (issue 4: XEP-0116, SSN).
			want := esessionSupport(advertisedFeatures())
			for k, v := range p.ESession {
				if v != want[k] {
					t.Errorf("esession[%s] = %v, want %v", k, v, want[k])
				}
			}
			if len(p.ESession) != len(esessionFeatures()) {
				t.Errorf("esession has %d entries, want %d", len(p.ESession), len(esessionFeatures()))
			}
		})
	}

	t.Run("full JID, human output", func(t *testing.T) {
		r := runESN(t, baseEnv(srv, "carol"), "probe", bobJID)
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		for _, want := range []string{bobJID + "\n", `identity: client/bot "esn"`, "XEP-0116", "XEP-0189", "Public Key Publishing"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stdout lacks %q", want)
			}
		}
	})
}

// While esn is connected, it answers disco#info with exactly
// advertisedFeatures (plus disco#info itself).
func TestIntegrationESNAnswersDisco(t *testing.T) {
	srv := integrationServer(t)
	bob := dialPeer(t, srv, "bob", "")
	env := baseEnv(srv, "alice")
	env["HOME"] = t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := connectApp(ctx, t, env)
	defer conn.Close()
	info, err := bob.DiscoInfo(ctx, conn.LocalJID())
	if err != nil {
		t.Fatalf("disco#info of esn: %v", err)
	}
	got := slices.Sorted(slices.Values(info.Features))
	if !slices.Equal(got, wantFeatures()) {
		t.Errorf("esn advertises %v, want %v", got, wantFeatures())
	}
	if len(info.Identities) != 1 || info.Identities[0] != discoIdentity() {
		t.Errorf("identities = %+v", info.Identities)
	}
}

func TestIntegrationErrors(t *testing.T) {
	srv := integrationServer(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	worldReadable := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(worldReadable, []byte(fmt.Sprintf("[accounts.%q]\npassword = %q\n", "alice@"+srv.Domain, srv.Password("alice"))), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(worldReadable, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode []int
		wantErr  []string // substrings of stderr
	}{
		{"wrong password", map[string]string{envPassword: "not-the-password"}, nil,
			[]int{77}, []string{"esn: error: authentication failed", "not-authorized", "SASL mechanisms", "hint: check the password"}},
		{"closed port", map[string]string{envServer: closed}, nil,
			[]int{69}, []string{"cannot connect to " + closed}},
		{"untrusted certificate", map[string]string{envCAFile: ""}, nil,
			[]int{69, 77}, []string{"TLS verification", `"` + srv.Domain + `"`, "--ca-file"}},
		{"untrusted certificate, direct TLS", map[string]string{envCAFile: "", envServer: srv.DirectTLSAddr}, []string{"--direct-tls"},
			[]int{69, 77}, []string{"TLS verification"}},
		{"world-readable config with a password", map[string]string{envPassword: "", envConfig: worldReadable}, nil,
			[]int{77}, []string{"config.toml holds a password but is readable by group or others", "chmod 600 " + worldReadable}},
		{"offline contact", nil, nil,
			[]int{69}, []string{"eve@" + srv.Domain + " has no available resource"}},
		{"offline full JID", nil, []string{"--timeout", "10s"},
			[]int{69}, []string{"not available"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := baseEnv(srv, "alice")
			for k, v := range tc.env {
				env[k] = v
			}
			target := "bob@" + srv.Domain
			switch tc.name {
			case "offline contact":
				target = "eve@" + srv.Domain
			case "offline full JID":
				target = "carol@" + srv.Domain + "/nowhere"
			}
			r := runESN(t, env, append(tc.args, "probe", target)...)
			if !slices.Contains(tc.wantCode, r.code) {
				t.Errorf("exit %d, want one of %v", r.code, tc.wantCode)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q", w)
				}
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			if pw := srv.Password("alice"); strings.Contains(r.stderr, pw) {
				t.Errorf("stderr reveals the password")
			}
		})
	}
}

// --trace shows the stanzas but never the password, in any of the forms a
// SASL exchange could carry it.
func TestIntegrationTraceRedactsPassword(t *testing.T) {
	srv := integrationServer(t)
	dialPeer(t, srv, "bob", "")
	pw := srv.Password("alice")
	user := "alice"
	secrets := []string{
		pw,
		base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pw)),                           // PLAIN
		base64.StdEncoding.EncodeToString([]byte(user + "@" + srv.Domain + "\x00" + user + "\x00" + pw)), // PLAIN with authzid
		base64.StdEncoding.EncodeToString([]byte(pw)),
	}
	for _, mode := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"starttls", nil, nil},
		{"plaintext", map[string]string{envCAFile: ""}, []string{"--allow-plaintext"}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			env := baseEnv(srv, user)
			for k, v := range mode.env {
				env[k] = v
			}
			r := runESN(t, env, append(mode.args, "--trace", "probe", "bob@"+srv.Domain)...)
			if r.code != 0 {
				t.Fatalf("exit %d", r.code)
			}
			for _, want := range []string{"SEND:", "RECV:", "disco#info", "[redacted]"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("trace lacks %q", want)
				}
			}
			for _, s := range secrets {
				if strings.Contains(r.stderr, s) || strings.Contains(r.stdout, s) {
					t.Errorf("trace output contains the password (as %q)", s)
				}
			}
		})
	}
}
