package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/esn-project/esn/internal/config"
	"github.com/esn-project/esn/internal/runner"
	"github.com/esn-project/esn/pkg/archive"
	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/pubkey"
	"github.com/esn-project/esn/pkg/store"
	"github.com/esn-project/esn/pkg/transport"
	"github.com/esn-project/esn/pkg/xmltree"
)

// Exit codes, sysexits(3) style. docs/exit-codes.md and `esn --help` list
// them; keep the three in step.
const (
	exitOK          = 0
	exitFailure     = 1  // anything else
	exitUsage       = 64 // EX_USAGE: bad flags, arguments or flag combinations
	exitDataErr     = 65 // EX_DATAERR: a file or stanza that fails to parse or verify
	exitUnavailable = 69 // EX_UNAVAILABLE: server unreachable, peer offline or without the feature, request declined
	exitTempFail    = 75 // EX_TEMPFAIL: temporary failure or timeout
	exitNoPerm      = 77 // EX_NOPERM: authentication failed, peer or key not trusted, unsafe file modes
)

// exitCodesHelp is the exit code table shown by `esn --help`.
const exitCodesHelp = `Exit codes:
  0   success
  1   any other failure
  64  usage error (bad flag, argument or flag combination)
  65  bad data (a file or stanza that fails to parse or verify)
  69  unavailable (server unreachable, TLS verification failed, peer offline
      or without the needed feature, request declined)
  75  temporary failure or timeout
  77  permission (authentication failed, peer or key not trusted, a secret
      in a file that others can read)`

// usageError marks errors in how esn was invoked.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErr(err error) error { return &usageError{err: err} }

func usagef(format string, args ...any) error { return usageErr(fmt.Errorf(format, args...)) }

// codedError gives an error an explicit exit code; it wins over every
// other rule.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func withCode(code int, err error) error { return &codedError{code: code, err: err} }

// exitCode maps an error returned by a command to the process exit code.
// The first matching rule wins, so more specific causes come first.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var (
		coded   *codedError
		usage   *usageError
		auth    *transport.AuthError
		tlsErr  *transport.TLSError
		conn    *transport.ConnectError
		stanza  *transport.StanzaError
		cfgPerm *config.PermissionError
		stPerm  *store.PermissionError
		parse   *config.ParseError
		netErr  net.Error
		negErr  *esn.NegotiationError
		termErr *esn.TerminatedError
		offline *runner.PeerOfflineError
		keyPerm *pubkey.PermissionError
	)
	switch {
	case errors.As(err, &coded):
		return coded.code
	case errors.Is(err, esn.ErrUntrustedKey), errors.As(err, new(*pubkey.UntrustedKeyError)),
		errors.As(err, &keyPerm), errors.Is(err, pubkey.ErrWrongPassphrase), errors.Is(err, pubkey.ErrNeedPassphrase):
		// An unknown, changed or revoked peer key (keys_ring.go; the
		// message names the key and the esn keys trust command), or a
		// private key others can read or that does not open.
		return exitNoPerm
	case errors.Is(err, esn.ErrNoIdentity):
		return exitUsage
	case errors.Is(err, archive.ErrLoggingForbidden), errors.Is(err, archive.ErrNoKey):
		// An off-the-record session may not be archived; a collection
		// encrypted for keys we do not hold (archive*.go).
		return exitNoPerm
	case errors.Is(err, archive.ErrLoggingUnknown):
		return exitUsage
	case errors.Is(err, archive.ErrDecrypt), errors.Is(err, archive.ErrMalformed), errors.Is(err, archive.ErrTooLarge),
		errors.Is(err, archive.ErrMixed), errors.Is(err, archive.ErrUnsupportedAlgorithm), errors.Is(err, archive.ErrLegacyAlgorithm):
		return exitDataErr
	case errors.Is(err, pubkey.ErrMalformed), errors.Is(err, pubkey.ErrPrintMismatch), errors.Is(err, pubkey.ErrNoPEM),
		errors.Is(err, pubkey.ErrWeakKey), errors.Is(err, pubkey.ErrNotRSA):
		return exitDataErr
	case errors.Is(err, esn.ErrTimeout):
		// A peer that did not answer a negotiation step or acknowledge
		// the end of a session in time.
		return exitTempFail
	case errors.Is(err, esn.ErrAuthentication), errors.Is(err, crypt.ErrMAC), errors.Is(err, crypt.ErrProtocol),
		errors.Is(err, crypt.ErrMalformed), errors.Is(err, esn.ErrMalformedForm):
		// A MAC, hash commitment or identity that does not verify, a
		// replayed stanza, a malformed or protocol-violating stanza.
		return exitDataErr
	case errors.As(err, &negErr), errors.As(err, &termErr), errors.Is(err, esn.ErrDeclined),
		errors.As(err, &offline), errors.Is(err, runner.ErrConnectionLost), errors.Is(err, runner.ErrNotAcknowledged):
		// The peer refused, declined, broke off or went offline.
		return exitUnavailable
	case errors.As(err, &usage), errors.Is(err, transport.ErrPlaintextRefused):
		return exitUsage
	case errors.As(err, &auth), errors.As(err, &cfgPerm), errors.As(err, &stPerm):
		return exitNoPerm
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout(), errors.Is(err, store.ErrLocked):
		return exitTempFail
	case errors.As(err, &tlsErr), errors.As(err, &conn):
		return exitUnavailable
	case errors.As(err, &stanza):
		return stanzaExitCode(stanza)
	case errors.Is(err, transport.ErrStanzaTooLarge), errors.Is(err, xmltree.ErrTooLarge),
		errors.As(err, &parse), errors.Is(err, errBadData):
		return exitDataErr
	case errors.Is(err, transport.ErrClosed):
		return exitUnavailable
	default:
		return exitFailure
	}
}

// errBadData marks local files that fail to parse (a CA file with no
// certificate, for instance).
var errBadData = errors.New("bad data")

// stanzaExitCode maps an error reply (RFC 6120 §8.3.3) to an exit code.
func stanzaExitCode(e *transport.StanzaError) int {
	switch e.Condition {
	case "forbidden", "not-authorized", "registration-required", "subscription-required":
		return exitNoPerm
	case "remote-server-timeout", "resource-constraint":
		return exitTempFail
	case "bad-request", "not-well-formed", "jid-malformed":
		return exitDataErr
	}
	if e.Type == "wait" {
		return exitTempFail
	}
	// service-unavailable, feature-not-implemented, item-not-found,
	// recipient-unavailable, remote-server-not-found, not-acceptable, ...
	return exitUnavailable
}
