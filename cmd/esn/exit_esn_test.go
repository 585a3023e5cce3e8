package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/esn-project/esn/internal/runner"
	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/esn"
)

// Exit codes of the encrypted-session errors (issue 4).
func TestExitCodeSessions(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("send: %w", err) }
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"peer refused", wrap(&esn.NegotiationError{Step: "response", Condition: "not-acceptable", Fields: []string{"modp"}, Remote: true}), 69},
		{"we refused", &esn.NegotiationError{Step: "response", Condition: "not-acceptable", Err: errors.New("x")}, 69},
		{"declined", wrap(fmt.Errorf("%w: %q", esn.ErrDeclined, "busy")), 69},
		{"terminated", wrap(&esn.TerminatedError{Reason: "peer reported service-unavailable", ByPeer: true}), 69},
		{"peer offline", wrap(&runner.PeerOfflineError{Peer: "bob@x/y"}), 69},
		{"connection lost", wrap(fmt.Errorf("%w: EOF", runner.ErrConnectionLost)), 69},
		{"not acknowledged", wrap(runner.ErrNotAcknowledged), 69},
		{"negotiation timeout", wrap(&esn.NegotiationError{Step: "awaiting-response", Err: esn.ErrTimeout}), 75},
		{"ack timeout", wrap(&esn.TerminatedError{Reason: "no acknowledgement of our terminate", Err: esn.ErrTimeout}), 75},
		{"identity MAC", wrap(&esn.NegotiationError{Step: "completion", Condition: "feature-not-implemented", Err: fmt.Errorf("%w: mac_A", esn.ErrAuthentication)}), 65},
		{"stanza MAC", wrap(&esn.TerminatedError{Reason: "message authentication failed", Err: crypt.ErrMAC}), 65},
		{"replay", wrap(&esn.TerminatedError{Reason: "replayed stanza", Err: crypt.ErrReplay}), 65},
		{"protocol violation", wrap(&esn.TerminatedError{Reason: "stanza encryption protocol violation", Err: fmt.Errorf("x: %w", crypt.ErrProtocol)}), 65},
		{"decode failure", withCode(exitDataErr, errDecodeFailed), 65},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := exitCode(tc.err); got != tc.want {
				t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}
