package main

import (
	"testing"

	"github.com/esn-project/esn/internal/testserver"
)

// serverEnv is the test server as the integration tests see it.
type serverEnv struct {
	testserver.Server
}

// Password returns user's password on the test server.
func (s *serverEnv) Password(user string) string { return s.Account(user).Password }

// integrationServer returns the test server (internal/testserver.Env: the
// one scripts/test.sh started, or a private one; under CI a missing server
// fails the test).
func integrationServer(t *testing.T) *serverEnv {
	t.Helper()
	return &serverEnv{testserver.Env(t)}
}
