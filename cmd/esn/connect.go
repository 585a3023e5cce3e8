package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/esn-project/esn/internal/config"
	"github.com/esn-project/esn/internal/term"
	"github.com/esn-project/esn/pkg/transport"
)

// maxCAFileSize bounds --ca-file.
const maxCAFileSize = 4 << 20

// connect logs in with the effective settings. setup, if not nil, runs
// once the stream is bound, before any stanza reaches a handler (see
// transport.Config.Setup). The returned Conn answers disco#info with
// advertisedFeatures.
func (a *app) connect(ctx context.Context, setup func(*transport.Conn)) (*transport.Conn, error) {
	s := a.s
	account, err := s.accountJID()
	if errors.Is(err, errNoAccount) {
		return nil, withHint(err, "set --account JID, ESN_ACCOUNT, or default_account in %s ('esn config init' writes one)", s.ConfigPath)
	}
	if err != nil {
		return nil, err
	}
	if s.TLSSkipVerify {
		a.ui.warnf("--tls-skip-verify: the server's certificate is not verified; anyone on the network path can read and change this connection")
	}
	if s.AllowPlaintext {
		a.ui.warnf("--allow-plaintext: this connection is not encrypted (allowed on loopback only, for tests)")
	}
	roots, err := loadRootCAs(s.CAFile)
	if err != nil {
		return nil, err
	}
	pw, err := a.password(ctx, account.Bare().String())
	if err != nil {
		return nil, err
	}
	// Every connection answers XEP-0189 direct key requests (advertised
	// in advertisedFeatures), before the caller's own handlers.
	callerSetup := setup
	setup = func(c *transport.Conn) {
		a.answerPubkeyRequests(c, account.Bare().String())
		if callerSetup != nil {
			callerSetup(c)
		}
	}
	var trace io.Writer
	if s.Trace {
		trace = a.stderr
	}
	cfg := transport.Config{
		JID:            account,
		Password:       string(pw),
		Resource:       s.Resource,
		Server:         s.Server,
		RootCAs:        roots,
		TLSSkipVerify:  s.TLSSkipVerify,
		DirectTLS:      s.DirectTLS,
		AllowPlaintext: s.AllowPlaintext,
		Trace:          trace,
		Features:       advertisedFeatures(),
		Identity:       discoIdentity(),
		Setup:          setup,
	}
	clear(pw)
	where := s.Server
	if where == "" {
		where = account.Domainpart() + " (DNS)"
	}
	a.ui.infof("connecting to %s as %s", where, account.Bare())
	dctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	conn, err := transport.Dial(dctx, cfg)
	cfg.Password = ""
	if err != nil {
		return nil, a.explainDialError(err, account.Bare().String())
	}
	a.ui.infof("connected as %s", conn.LocalJID())
	return conn, nil
}

// explainDialError adds the hint a user needs to act on a failed login.
func (a *app) explainDialError(err error, account string) error {
	s := a.s
	var (
		auth   *transport.AuthError
		tlsErr *transport.TLSError
		conn   *transport.ConnectError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return withHint(err, "the server did not answer within %v; check --server, or raise --timeout", s.Timeout)
	case errors.As(err, &auth):
		if auth.Condition == "" {
			return withHint(err, "esn supports SCRAM-SHA-1(-PLUS) and, over TLS, PLAIN")
		}
		return withHint(err, "check the password for %s (it came from %s)", account, s.PasswordFrom)
	case errors.As(err, &tlsErr):
		if s.CAFile == "" {
			return withHint(err, "if the server uses a private CA or a self-signed certificate, trust it with --ca-file FILE (or ESN_CA_FILE)")
		}
		return withHint(err, "the certificate does not verify against the system roots plus %s", s.CAFile)
	case errors.As(err, &conn):
		return withHint(err, "is the server running there? the address comes from %s", serverOrigin(s))
	case errors.Is(err, transport.ErrPlaintextRefused):
		return withHint(err, "--allow-plaintext works only with a loopback --server such as 127.0.0.1:5222")
	}
	return err
}

func serverOrigin(s settings) string {
	switch s.Source["server"] {
	case fromFlag:
		return "--server"
	case fromEnv:
		return envServer
	case fromConfig:
		return "the config file's server"
	default:
		return "the account's domain (DNS); use --server HOST:PORT to pick one"
	}
}

// loadRootCAs returns nil (the system roots) without a CA file, else the
// system roots plus the certificates in path.
func loadRootCAs(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	defer f.Close()
	pem, err := io.ReadAll(io.LimitReader(f, maxCAFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("CA file %s: %w", path, err)
	}
	if len(pem) > maxCAFileSize {
		return nil, fmt.Errorf("%w: CA file %s is larger than %d bytes", errBadData, path, maxCAFileSize)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	} else {
		pool = pool.Clone()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: CA file %s holds no PEM certificate", errBadData, path)
	}
	return pool, nil
}

// password obtains the account's password from the source resolveSettings
// chose. The caller clears the result.
func (a *app) password(ctx context.Context, account string) ([]byte, error) {
	s := a.s
	switch s.PasswordFrom {
	case passwordFile:
		pw, err := config.ReadPasswordFile(s.PasswordFile)
		var pe *config.PermissionError
		if errors.As(err, &pe) {
			return nil, withHint(err, "run: %s", pe.Fix)
		}
		return pw, err
	case passwordEnv:
		return []byte(a.getenv(envPassword)), nil
	case passwordConfig:
		acct, _ := a.cfg.Account(s.AccountKey)
		return []byte(acct.Password), nil
	case passwordCmd:
		pctx, cancel := context.WithTimeout(ctx, s.Timeout)
		defer cancel()
		return config.RunPasswordCmd(pctx, s.PasswordCmd, a.stderr)
	case passwordPrompt:
		pw, err := term.ReadSecret(fmt.Sprintf("password for %s: ", account))
		if err != nil {
			return nil, fmt.Errorf("reading the password: %w", err)
		}
		if len(pw) == 0 {
			return nil, usagef("empty password")
		}
		return pw, nil
	default:
		return nil, withHint(usagef("no password for %s", account),
			"set ESN_PASSWORD, pass --password-file FILE, add password_cmd to %s, or run esn on a terminal to be asked", s.ConfigPath)
	}
}
