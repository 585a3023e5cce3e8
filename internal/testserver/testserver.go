package testserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
)

// EnvVar names the environment variable that points tests at a running
// server's env file (DIR/esn.env, written by scripts/prosody.sh start).
const EnvVar = "ESN_TEST_ENV"

// modulePath identifies the repository root (the go.mod that holds it).
const modulePath = "github.com/esn-project/esn"

// startTimeout bounds scripts/prosody.sh start, which may install Prosody.
const startTimeout = 10 * time.Minute

// Server describes a running test server. It is plain data: copies share
// nothing mutable.
type Server struct {
	Addr          string // c2s "127.0.0.1:port": STARTTLS optional, plain text allowed
	DirectTLSAddr string // direct TLS (XEP-0368) "127.0.0.1:port"
	Domain        string // the XMPP domain, e.g. "localhost"
	CAFile        string // the server's self-signed certificate: trust it as a CA
	Dir           string // the server's directory (config, data, log)
	ConfigFile    string // Prosody's config file
	LogFile       string // Prosody's log file
	EnvFile       string // the esn.env this description was read from
	PID           int    // Prosody's process id
	MAM           bool   // mod_mam (XEP-0313) is loaded
	Users         []string
	Strangers     []string

	passwords map[string]string
	script    string // scripts/prosody.sh, for NewAccount
}

// Account is a login on the test server.
type Account struct {
	JID      jid.JID // bare JID
	Password string
}

// Options configure a server of one's own ([Start]).
type Options struct {
	NoMAM     bool     // do not load mod_mam (throughput runs)
	Domain    string   // default "localhost"
	Users     []string // mutual roster contacts; nil means alice, bob, carol
	Strangers []string // on nobody's roster; nil means eve, an empty slice none
	LogLevel  string   // Prosody's minimum log level; default "info"
}

// Env returns the server the calling test should use; see the package
// documentation for how it is found. It never skips: when there is no server
// and none can be started, the test fails with the reason.
func Env(t testing.TB) Server {
	t.Helper()
	if p := os.Getenv(EnvVar); p != "" {
		srv, err := Load(p)
		if err != nil {
			t.Fatalf("%s=%s: %v (start a server with scripts/prosody.sh start DIR, or unset %s)", EnvVar, p, err, EnvVar)
		}
		if err := srv.reachable(); err != nil {
			t.Fatalf("%s=%s: %v (is the server still running? scripts/prosody.sh status %s)", EnvVar, p, err, srv.Dir)
		}
		return srv
	}
	if InCI() {
		t.Fatalf("CI is set but %s is not: integration tests need the Prosody that scripts/test.sh starts "+
			"(run scripts/test.sh, or scripts/prosody.sh start DIR and export %s=DIR/esn.env)", EnvVar, EnvVar)
	}
	srv, err := sharedServer()
	if err != nil {
		t.Fatalf("no test server: %s is not set and starting one failed: %v", EnvVar, err)
	}
	return srv
}

// InCI reports whether the tests run under CI (CI set to anything but
// "", "0" or "false").
func InCI() bool {
	switch strings.ToLower(os.Getenv("CI")) {
	case "", "0", "false":
		return false
	}
	return true
}

// sharedServer starts at most one server per test binary, on first use. It is
// never stopped by the test binary itself: scripts/prosody.sh watches this
// process and stops the server and removes its directory once the process
// has exited.
var sharedServer = sync.OnceValues(func() (Server, error) {
	dir, err := os.MkdirTemp("", "esn-testserver-")
	if err != nil {
		return Server{}, fmt.Errorf("testserver: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	srv, err := start(ctx, dir, Options{}, true)
	if err != nil {
		os.RemoveAll(dir)
		return Server{}, err
	}
	return srv, nil
})

// Start starts a server for t alone, in t.TempDir() on free ports, and stops
// it when t ends. Starting takes about half a second once Prosody is
// installed.
func Start(t testing.TB, opts Options) Server {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	srv, err := start(ctx, dir, opts, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := runScript(ctx, srv.script, nil, "", "stop", dir); err != nil {
			t.Errorf("stopping the test server: %v", err)
		}
	})
	return srv
}

func start(ctx context.Context, dir string, opts Options, rmdir bool) (Server, error) {
	script, err := Script()
	if err != nil {
		return Server{}, err
	}
	env := []string{
		"ESN_PROSODY_PORT=auto",
		"ESN_PROSODY_TLS_PORT=auto",
		"ESN_PROSODY_OWNER_PID=" + strconv.Itoa(os.Getpid()),
	}
	if rmdir {
		env = append(env, "ESN_PROSODY_OWNER_RMDIR=1")
	}
	if opts.NoMAM {
		env = append(env, "ESN_PROSODY_NO_MAM=1")
	}
	if opts.Domain != "" {
		env = append(env, "ESN_DOMAIN="+opts.Domain)
	}
	if opts.Users != nil {
		env = append(env, "ESN_TEST_USERS="+strings.Join(opts.Users, " "))
	}
	if opts.Strangers != nil {
		env = append(env, "ESN_TEST_STRANGERS="+strings.Join(opts.Strangers, " "))
	}
	if opts.LogLevel != "" {
		env = append(env, "ESN_PROSODY_LOG_LEVEL="+opts.LogLevel)
	}
	if _, err := runScript(ctx, script, env, "", "start", dir); err != nil {
		return Server{}, err
	}
	return Load(filepath.Join(dir, "esn.env"))
}

// runScript runs scripts/prosody.sh with extra environment and stdin, and
// returns its stdout; its stderr goes into the error.
func runScript(ctx context.Context, script string, env []string, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "bash", append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	// The server and its watcher detach from our pipes; should one not, do
	// not wait for it forever.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("testserver: %s %s: %w\n%s", filepath.Base(script), strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Script returns the path of scripts/prosody.sh in this repository, found
// from the working directory (go test runs in the package directory) or,
// failing that, from this source file.
func Script() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	for _, d := range starts {
		for {
			if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil &&
				bytes.Contains(data, []byte("module "+modulePath+"\n")) {
				p := filepath.Join(d, "scripts", "prosody.sh")
				if _, err := os.Stat(p); err != nil {
					return "", fmt.Errorf("testserver: %w", err)
				}
				return p, nil
			}
			parent := filepath.Dir(d)
			if parent == d {
				break
			}
			d = parent
		}
	}
	return "", errors.New("testserver: cannot find scripts/prosody.sh: no go.mod of " + modulePath + " above the working directory")
}

// Load reads a server description from an esn.env file.
func Load(path string) (Server, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Server{}, fmt.Errorf("testserver: %w", err)
	}
	env, err := ParseEnv(data)
	if err != nil {
		return Server{}, fmt.Errorf("%s: %w", path, err)
	}
	srv := Server{
		Addr:          env["ESN_SERVER"],
		DirectTLSAddr: env["ESN_DIRECT_TLS_SERVER"],
		Domain:        env["ESN_DOMAIN"],
		CAFile:        env["ESN_CA_FILE"],
		Dir:           env["ESN_PROSODY_DIR"],
		ConfigFile:    env["ESN_PROSODY_CONFIG"],
		LogFile:       env["ESN_PROSODY_LOG"],
		EnvFile:       path,
		MAM:           env["ESN_PROSODY_MAM"] == "1",
		Users:         strings.Fields(env["ESN_TEST_USERS"]),
		Strangers:     strings.Fields(env["ESN_TEST_STRANGERS"]),
		passwords:     make(map[string]string),
	}
	for _, k := range []string{"ESN_SERVER", "ESN_DIRECT_TLS_SERVER", "ESN_DOMAIN", "ESN_CA_FILE"} {
		if env[k] == "" {
			return Server{}, fmt.Errorf("testserver: %s: %s is missing", path, k)
		}
	}
	if srv.PID, err = strconv.Atoi(env["ESN_PROSODY_PID"]); err != nil && env["ESN_PROSODY_PID"] != "" {
		return Server{}, fmt.Errorf("testserver: %s: ESN_PROSODY_PID: %w", path, err)
	}
	for _, u := range slices.Concat(srv.Users, srv.Strangers) {
		pw, ok := env["ESN_TEST_PASSWORD_"+strings.ToUpper(u)]
		if !ok {
			pw = u + "-pw"
		}
		srv.passwords[u] = pw
	}
	if srv.Dir != "" {
		// The script that started the server can also add accounts to it.
		if s, err := Script(); err == nil {
			srv.script = s
		}
	}
	return srv, nil
}

// reachable checks that something accepts connections on the c2s port.
func (s Server) reachable() error {
	c, err := net.DialTimeout("tcp", s.Addr, 3*time.Second)
	if err != nil {
		return fmt.Errorf("testserver: server at %s does not answer: %w", s.Addr, err)
	}
	return c.Close()
}

// Account returns one of the server's users (Users or Strangers). Asking for
// a user the server does not have is a programming error and panics.
func (s Server) Account(user string) Account {
	pw, ok := s.passwords[user]
	if !ok {
		panic(fmt.Sprintf("testserver: no user %q on this server (users %v, strangers %v)", user, s.Users, s.Strangers))
	}
	return Account{JID: jid.MustParse(user + "@" + s.Domain), Password: pw}
}

// NewAccount creates an account with a fresh name (prefix plus random hex)
// and a random password, on nobody's roster. It takes a few milliseconds.
func (s Server) NewAccount(t testing.TB, prefix string) Account {
	t.Helper()
	if s.script == "" || s.Dir == "" {
		t.Fatalf("testserver: %s does not say where the server's directory is; cannot add accounts", s.EnvFile)
	}
	name := strings.ToLower(prefix) + randomHex(4)
	pw := "pw-" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := runScript(ctx, s.script, nil, pw+"\n", "adduser", s.Dir, name); err != nil {
		t.Fatal(err)
	}
	return Account{JID: jid.MustParse(name + "@" + s.Domain), Password: pw}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("testserver: crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// RootCAs returns a pool holding the server's certificate.
func (s Server) RootCAs() (*x509.CertPool, error) {
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, fmt.Errorf("testserver: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("testserver: %s holds no PEM certificate", s.CAFile)
	}
	return pool, nil
}

// TLSConfig returns a client TLS configuration that verifies the server's
// certificate for its domain.
func (s Server) TLSConfig() (*tls.Config, error) {
	pool, err := s.RootCAs()
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, ServerName: s.Domain, MinVersion: tls.VersionTLS12}, nil
}

// Environ returns the variables esn reads to reach this server
// (ESN_SERVER, ESN_CA_FILE, ESN_DOMAIN, ESN_DIRECT_TLS_SERVER), as
// "KEY=value" strings for exec.Cmd.Env or testscript.
func (s Server) Environ() []string {
	return []string{
		"ESN_SERVER=" + s.Addr,
		"ESN_DIRECT_TLS_SERVER=" + s.DirectTLSAddr,
		"ESN_CA_FILE=" + s.CAFile,
		"ESN_DOMAIN=" + s.Domain,
	}
}
