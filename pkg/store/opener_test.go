package store_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/store"
	bolt "go.etcd.io/bbolt"
)

func TestOpener(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	opens := 0
	open := store.Opener(func() (*store.DB, error) {
		opens++
		return store.Open(path, store.Options{LockTimeout: 100 * time.Millisecond})
	})
	errOpen := errors.New("cannot open")
	errFn := errors.New("fn failed")
	tests := []struct {
		name    string
		open    store.Opener
		run     func(store.Opener, func(*store.Tx) error) error
		fn      func(*store.Tx) error
		wantErr error
	}{
		{"update writes", open, store.Opener.Update, func(tx *store.Tx) error { return tx.Put("b", "k", []byte("v1")) }, nil},
		{"failed update writes nothing", open, store.Opener.Update, func(tx *store.Tx) error {
			if err := tx.Put("b", "k", []byte("v2")); err != nil {
				return err
			}
			return errFn
		}, errFn},
		{"view sees the committed value", open, store.Opener.View, func(tx *store.Tx) error {
			v, err := tx.Get("b", "k")
			if err == nil && string(v) != "v1" {
				return errors.New("got " + string(v))
			}
			return err
		}, nil},
		{"view cannot write", open, store.Opener.View, func(tx *store.Tx) error { return tx.Put("b", "k", []byte("v3")) }, bolt.ErrTxNotWritable},
		{"open error", func() (*store.DB, error) { return nil, errOpen }, store.Opener.Update,
			func(*store.Tx) error { t.Error("fn ran without a file"); return nil }, errOpen},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run(tc.open, tc.fn)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
			// Every operation closed the file: it opens again at once.
			db, err := store.Open(path, store.Options{LockTimeout: 100 * time.Millisecond})
			if err != nil {
				t.Fatalf("file still open after the operation: %v", err)
			}
			db.Close()
		})
	}
	if opens != 4 {
		t.Errorf("the file was opened %d times, want once per operation (4)", opens)
	}
}
