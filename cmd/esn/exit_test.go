package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/esn-project/esn/internal/config"
	"github.com/esn-project/esn/pkg/store"
	"github.com/esn-project/esn/pkg/transport"
	"github.com/esn-project/esn/pkg/xmltree"
)

func TestExitCode(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("probe: %w", err) }
	connErr := &transport.ConnectError{Addr: "127.0.0.1:1", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"plain", errors.New("boom"), 1},
		{"usage", usagef("bad flag"), 64},
		{"usage with hint", withHint(usagef("bad flag"), "try this"), 64},
		{"plaintext refused", wrap(transport.ErrPlaintextRefused), 64},
		{"stanza too large", wrap(transport.ErrStanzaTooLarge), 65},
		{"xmltree too large", wrap(xmltree.ErrTooLarge), 65},
		{"config parse", &config.ParseError{Path: "c.toml", Line: 2, Msg: "x"}, 65},
		{"bad CA file", fmt.Errorf("%w: no PEM", errBadData), 65},
		{"connect", wrap(connErr), 69},
		{"tls", wrap(&transport.TLSError{ServerName: "localhost", Err: x509.UnknownAuthorityError{}}), 69},
		{"stream closed", wrap(transport.ErrClosed), 69},
		{"service-unavailable", wrap(&transport.StanzaError{Type: "cancel", Condition: "service-unavailable"}), 69},
		{"item-not-found", &transport.StanzaError{Type: "cancel", Condition: "item-not-found"}, 69},
		{"not-acceptable", &transport.StanzaError{Type: "modify", Condition: "not-acceptable"}, 69},
		{"wait type", &transport.StanzaError{Type: "wait", Condition: "policy-violation"}, 75},
		{"remote-server-timeout", &transport.StanzaError{Type: "wait", Condition: "remote-server-timeout"}, 75},
		{"bad-request", &transport.StanzaError{Type: "modify", Condition: "bad-request"}, 65},
		{"forbidden", &transport.StanzaError{Type: "auth", Condition: "forbidden"}, 77},
		{"deadline", wrap(context.DeadlineExceeded), 75},
		{"deadline inside connect", &transport.ConnectError{Addr: "h:1", Err: context.DeadlineExceeded}, 75},
		{"os deadline", wrap(os.ErrDeadlineExceeded), 75},
		{"net timeout", wrap(&net.OpError{Op: "dial", Err: timeoutErr{}}), 75},
		{"store locked", fmt.Errorf("%w: esn.db", store.ErrLocked), 75},
		{"auth", wrap(&transport.AuthError{Mechanisms: []string{"PLAIN"}, Condition: "not-authorized"}), 77},
		{"config mode", &config.PermissionError{Path: "c", What: "holds a password", Fix: "chmod 600 c"}, 77},
		{"store mode", &store.PermissionError{Path: "s", Fix: "chmod 600 s"}, 77},
		{"explicit code wins", withCode(69, usagef("x")), 69},
		{"explicit code wrapped", withHint(withCode(69, errors.New("offline")), "h"), 69},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := exitCode(tc.err); got != tc.want {
				t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// The help text lists every exit code exitCode can return.
func TestExitCodesInHelp(t *testing.T) {
	for _, code := range []int{exitOK, exitFailure, exitUsage, exitDataErr, exitUnavailable, exitTempFail, exitNoPerm} {
		if !strings.Contains(exitCodesHelp, fmt.Sprintf("\n  %-3d ", code)) {
			t.Errorf("exit code %d missing from the help text", code)
		}
	}
	doc, err := os.ReadFile("../../docs/exit-codes.md")
	if err != nil {
		t.Fatalf("docs/exit-codes.md: %v", err)
	}
	for _, code := range []int{exitOK, exitFailure, exitUsage, exitDataErr, exitUnavailable, exitTempFail, exitNoPerm} {
		if !strings.Contains(string(doc), fmt.Sprintf("| %d ", code)) {
			t.Errorf("exit code %d missing from docs/exit-codes.md", code)
		}
	}
}
