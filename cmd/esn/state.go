package main

import (
	"errors"

	"github.com/esn-project/esn/pkg/store"
)

// openStore opens the state file in the effective state directory,
// creating the directory (0700) and the file (0600) if needed. Commands
// that keep state (retained secrets, trusted keys, the outbox) call it
// after load; the caller closes the store.
func (a *app) openStore() (*store.DB, error) {
	db, err := store.OpenDir(a.s.StateDir, store.Options{LockTimeout: store.DefaultLockTimeout})
	var pe *store.PermissionError
	switch {
	case errors.As(err, &pe):
		return nil, withHint(err, "run: %s", pe.Fix)
	case errors.Is(err, store.ErrLocked):
		return nil, withHint(err, "another esn is using %s; wait for it, or use --state-dir", a.s.StateDir)
	}
	return db, err
}
