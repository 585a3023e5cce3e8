package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/esn-project/esn/pkg/store"
)

func TestOpenStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "esn")
	a := &app{s: settings{StateDir: dir}}
	db, err := a.openStore()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, store.FileName): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %#o, want %#o", path, fi.Mode().Perm(), want)
		}
	}
	// A second esn on the same state directory gives up with exit 75.
	if testing.Short() {
		return
	}
	_, err = a.openStore()
	if got := exitCode(err); got != exitTempFail {
		t.Errorf("second openStore: %v (exit %d), want exit %d", err, got, exitTempFail)
	}
}
