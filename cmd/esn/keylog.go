package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"github.com/esn-project/esn/pkg/esn"
)

// envKeyLog names the key log file when --keylog is not given (like TLS's
// SSLKEYLOGFILE).
const envKeyLog = "ESN_KEYLOGFILE"

// keyLog appends esn.KeyLogEntry lines to a file (format in docs/usage.md).
type keyLog struct {
	mu   sync.Mutex
	f    *os.File
	path string
	err  error // the first write error, reported at close
}

// openKeyLog opens path for appending, creating it with mode 0600. It
// refuses an existing file that group or others can access: the file holds
// the keys of every logged session.
func openKeyLog(path string) (*keyLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("key log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("key log: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		f.Close()
		return nil, withHint(withCode(exitNoPerm, fmt.Errorf("key log %s has mode %#o: group or others could read the session keys", path, fi.Mode().Perm())),
			"run: chmod 600 %s", path)
	}
	if !fi.Mode().IsRegular() && fi.Mode()&fs.ModeNamedPipe == 0 {
		f.Close()
		return nil, usagef("key log %s is not a regular file", path)
	}
	return &keyLog{f: f, path: path}, nil
}

// log writes one entry. Each line is one write on an O_APPEND file, so
// two esn processes may share the file.
func (k *keyLog) log(e esn.KeyLogEntry) {
	line := []byte(e.String() + "\n")
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, err := k.f.Write(line); err != nil && k.err == nil {
		k.err = err
	}
	clear(line)
}

func (k *keyLog) close() error {
	if k == nil {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	err := errors.Join(k.err, k.f.Close())
	if err != nil {
		return fmt.Errorf("key log %s: %w", k.path, err)
	}
	return nil
}

// keyLogPath returns the key log requested by --keylog or ESN_KEYLOGFILE.
func (a *app) keyLogPath(flag string) string {
	if flag != "" {
		return flag
	}
	return a.getenv(envKeyLog)
}
