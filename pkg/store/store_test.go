package store_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/store"
	bolt "go.etcd.io/bbolt"
)

// clock is a deterministic Options.Now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func openT(t *testing.T, path string, opts store.Options) *store.DB {
	t.Helper()
	db, err := store.Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestOpenCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "state")
	db := openT(t, filepath.Join(dir, store.FileName), store.Options{})
	for _, c := range []struct {
		path string
		want os.FileMode
	}{
		{dir, 0o700},
		{db.Path(), 0o600},
	} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != c.want {
			t.Errorf("%s: mode %#o, want %#o", c.path, got, c.want)
		}
	}
}

func TestOpenRefusesSharedModes(t *testing.T) {
	tests := []struct {
		name     string
		fileMode os.FileMode
		dirMode  os.FileMode
		wantPath string // "dir" or "file"
		wantFix  string
	}{
		{"group-readable file", 0o640, 0o700, "file", "chmod 600 "},
		{"world-readable file", 0o604, 0o700, "file", "chmod 600 "},
		{"group-writable file", 0o620, 0o700, "file", "chmod 600 "},
		{"group-writable dir", 0o600, 0o770, "dir", "chmod go-w "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "s")
			path := filepath.Join(dir, store.FileName)
			db := openT(t, path, store.Options{})
			db.Close()
			if err := os.Chmod(path, tc.fileMode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tc.dirMode); err != nil {
				t.Fatal(err)
			}
			_, err := store.Open(path, store.Options{})
			var pe *store.PermissionError
			if !errors.As(err, &pe) {
				t.Fatalf("Open: %v, want *PermissionError", err)
			}
			wantPath := path
			if tc.wantPath == "dir" {
				wantPath = dir
			}
			if pe.Path != wantPath || pe.Fix != tc.wantFix+wantPath {
				t.Errorf("got Path %q Fix %q, want %q and %q", pe.Path, pe.Fix, wantPath, tc.wantFix+wantPath)
			}
			if !strings.Contains(err.Error(), pe.Fix) {
				t.Errorf("message %q does not name the fix", err)
			}
		})
	}
}

func TestOpenLockTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	openT(t, path, store.Options{})
	start := time.Now()
	_, err := store.Open(path, store.Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("second Open waited %v", d)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
}

func TestOpenBadKeyLength(t *testing.T) {
	_, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{Key: make([]byte, 16)})
	if err == nil {
		t.Fatal("Open with a 16-byte key succeeded")
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	db := openT(t, path, store.Options{})
	db.Close()
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("version"), []byte("99"))
	}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if _, err := store.Open(path, store.Options{}); !errors.Is(err, store.ErrNewerSchema) {
		t.Fatalf("Open: %v, want ErrNewerSchema", err)
	}
}

func TestKV(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	db := openT(t, path, store.Options{})

	if _, err := db.Get("outbox", "1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get from missing bucket: %v, want ErrNotFound", err)
	}
	for _, k := range []string{"b", "a", "c"} {
		if err := db.Put("outbox", k, []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.Get("outbox", "a")
	if err != nil || string(got) != "va" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if _, err := db.Get("outbox", "zz"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get missing key: %v, want ErrNotFound", err)
	}
	var keys []string
	if err := db.View(func(tx *store.Tx) error {
		return tx.ForEach("outbox", func(k string, v []byte) error {
			keys = append(keys, k+"="+string(v))
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a=va", "b=vb", "c=vc"}; !slices.Equal(keys, want) {
		t.Errorf("ForEach = %v, want %v", keys, want)
	}
	if err := db.Delete("outbox", "b"); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete("nobucket", "b"); err != nil {
		t.Errorf("Delete from missing bucket: %v", err)
	}
	if _, err := db.Get("outbox", "b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted key still there: %v", err)
	}
	for _, c := range []struct{ bucket, key string }{{"", "k"}, {"b", ""}} {
		if err := db.Put(c.bucket, c.key, nil); !errors.Is(err, store.ErrInvalidName) {
			t.Errorf("Put(%q, %q): %v, want ErrInvalidName", c.bucket, c.key, err)
		}
	}
	var seq []uint64
	for range 3 {
		if err := db.Update(func(tx *store.Tx) error {
			n, err := tx.NextSequence("outbox")
			seq = append(seq, n)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.IsSorted(seq) || seq[0] == seq[2] {
		t.Errorf("NextSequence gave %v", seq)
	}
}

func TestUpdateIsAtomicAndDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	db := openT(t, path, store.Options{})
	boom := errors.New("boom")
	err := db.Update(func(tx *store.Tx) error {
		if err := tx.Put("q", "1", []byte("one")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update: %v", err)
	}
	if _, err := db.Get("q", "1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a failed Update left data behind: %v", err)
	}
	if err := db.Put("q", "2", []byte("two")); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openT(t, path, store.Options{})
	if v, err := db.Get("q", "2"); err != nil || string(v) != "two" {
		t.Fatalf("after reopen Get = %q, %v", v, err)
	}
}

func TestSecretsAtRest(t *testing.T) {
	secret := []byte("retained-secret-0123456789abcdef")
	tests := []struct {
		name      string
		writeKey  []byte
		readKey   []byte
		wantErr   error
		wantClear bool // the raw secret appears in the file
	}{
		{"no key", nil, nil, nil, true},
		{"sealed", key(1), key(1), nil, false},
		{"sealed read without key", key(1), nil, store.ErrSealed, false},
		{"sealed read with wrong key", key(1), key(2), store.ErrUnseal, false},
		{"plain read with key", nil, key(1), nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), store.FileName)
			db := openT(t, path, store.Options{Key: tc.writeKey})
			if err := db.Update(func(tx *store.Tx) error {
				if err := tx.PutSecret("offline", "x", store.NewSecret(secret)); err != nil {
					return err
				}
				_, err := tx.AddRetained("alice@example.org", "bob@example.org", store.NewSecret(secret), false)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			db.Close()
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := bytes.Contains(raw, secret); got != tc.wantClear {
				t.Errorf("secret in clear in the file: %v, want %v", got, tc.wantClear)
			}
			db = openT(t, path, store.Options{Key: tc.readKey})
			err = db.View(func(tx *store.Tx) error {
				s, err := tx.GetSecret("offline", "x")
				if err != nil {
					return err
				}
				if !bytes.Equal(s.Bytes(), secret) {
					t.Errorf("GetSecret = %x", s.Bytes())
				}
				rs, err := tx.Retained("alice@example.org", "bob@example.org")
				if err != nil {
					return err
				}
				if len(rs) != 1 || !bytes.Equal(rs[0].Secret.Bytes(), secret) {
					t.Errorf("Retained = %v", rs)
				}
				return nil
			})
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("read: %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// A sealed value copied to another record must not open there.
func TestSealedValueBoundToRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	db := openT(t, path, store.Options{Key: key(7)})
	err := db.Update(func(tx *store.Tx) error {
		if err := tx.PutSecret("offline", "a", store.NewSecret([]byte("s"))); err != nil {
			return err
		}
		raw, err := tx.Get("offline", "a")
		if err != nil {
			return err
		}
		return tx.Put("offline", "b", raw)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *store.Tx) error { _, err := tx.GetSecret("offline", "b"); return err })
	if !errors.Is(err, store.ErrUnseal) {
		t.Fatalf("moved sealed value: %v, want ErrUnseal", err)
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	raw := []byte("hunter2-very-secret")
	s := store.NewSecret(raw)
	rs := store.RetainedSecret{ID: 1, Secret: s}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "secret", s)
	outs := []string{logged.String()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
		outs = append(outs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, rs), fmt.Sprintf(verb, &rs))
	}
	for _, out := range outs {
		for _, leak := range []string{string(raw), hex.EncodeToString(raw), fmt.Sprintf("%q", raw)} {
			if strings.Contains(out, leak) {
				t.Errorf("formatted output %q reveals the secret", out)
			}
		}
	}
	s.Clear()
	if !bytes.Equal(s.Bytes(), make([]byte, len(raw))) {
		t.Errorf("Clear left %x", s.Bytes())
	}
}

func TestRetainedLifecycle(t *testing.T) {
	clk := newClock()
	db := openT(t, filepath.Join(t.TempDir(), store.FileName), store.Options{Now: clk.now})
	const me, bob, bob2, carol = "alice@example.org", "bob@example.org", "bob@other.example", "carol@example.org"
	s := func(c byte) store.Secret { return store.NewSecret(bytes.Repeat([]byte{c}, 32)) }

	var first, second store.RetainedSecret
	err := db.Update(func(tx *store.Tx) (err error) {
		if _, err = tx.AddRetained(me, carol, s(3), false); err != nil {
			return err
		}
		if first, err = tx.AddRetained(me, bob, s(1), false); err != nil {
			return err
		}
		clk.t = clk.t.Add(time.Hour)
		second, err = tx.AddRetained(me, bob, s(2), true)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if first.ID == second.ID {
		t.Fatalf("two entries share ID %d", first.ID)
	}

	check := func(peer string, want ...byte) {
		t.Helper()
		var got []store.RetainedSecret
		if err := db.View(func(tx *store.Tx) (err error) { got, err = tx.Retained(me, peer); return err }); err != nil {
			t.Fatal(err)
		}
		var gotB []byte
		for _, r := range got {
			gotB = append(gotB, r.Secret.Bytes()[0])
		}
		if !bytes.Equal(gotB, want) {
			t.Errorf("Retained(%s) secrets start %v, want %v", peer, gotB, want)
		}
	}
	check(bob, 1, 2)
	check(carol, 3)
	check(bob2)

	// Extended search matched bob's first entry from bob2: replace in place,
	// index under bob2 too, keep the verified flag.
	clk.t = clk.t.Add(time.Hour)
	if err := db.Update(func(tx *store.Tx) error {
		if err := tx.SetRetainedVerified(me, first.ID, true); err != nil {
			return err
		}
		r, err := tx.ReplaceRetained(me, first.ID, s(9), bob2)
		if err != nil {
			return err
		}
		if !r.Verified || !r.Updated.Equal(clk.t) || !r.Created.Equal(first.Created) {
			t.Errorf("replaced entry %+v: verified/timestamps wrong", r)
		}
		if want := []string{bob, bob2}; !slices.Equal(r.Peers, want) {
			t.Errorf("Peers = %v, want %v", r.Peers, want)
		}
		_, err = tx.ReplaceRetained(me, 999, s(1), "")
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ReplaceRetained of a missing ID: %v", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	check(bob, 9, 2)
	check(bob2, 9)

	// Expiry: entries not updated in the last 90 minutes go.
	var n int
	if err := db.Update(func(tx *store.Tx) (err error) {
		n, err = tx.DeleteRetainedBefore(me, clk.t.Add(-90*time.Minute))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("DeleteRetainedBefore removed %d, want 1 (carol's)", n)
	}
	check(carol)
	var all []store.RetainedSecret
	if err := db.View(func(tx *store.Tx) (err error) { all, err = tx.AllRetained(me); return err }); err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Errorf("AllRetained has %d entries, want 2", len(all))
	}
	// Other accounts see nothing.
	if err := db.View(func(tx *store.Tx) error {
		got, err := tx.AllRetained("someone@else")
		if len(got) != 0 {
			t.Errorf("another account sees %d entries", len(got))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *store.Tx) error { return tx.DeleteRetained(me, second.ID) }); err != nil {
		t.Fatal(err)
	}
	check(bob, 9)
}

func TestTrustedKeys(t *testing.T) {
	clk := newClock()
	db := openT(t, filepath.Join(t.TempDir(), store.FileName), store.Options{Now: clk.now})
	const me = "alice@example.org"
	first := clk.t
	put := func(k store.TrustedKey) {
		t.Helper()
		if err := db.Update(func(tx *store.Tx) error { return tx.PutKey(me, k) }); err != nil {
			t.Fatal(err)
		}
	}
	put(store.TrustedKey{Fingerprint: "fp1", Key: []byte("<KeyValue/>"), JIDs: []string{"bob@example.org"}})
	put(store.TrustedKey{Fingerprint: "fp2", JIDs: []string{"carol@example.org", "bob@example.org"}})
	clk.t = clk.t.Add(time.Hour)
	put(store.TrustedKey{Fingerprint: "fp1", Key: []byte("<KeyValue/>"), JIDs: []string{"bob@example.org"}, Verified: true, Petname: "Bob's laptop"})

	if err := db.View(func(tx *store.Tx) error {
		k, err := tx.Key(me, "fp1")
		if err != nil {
			return err
		}
		if !k.Verified || k.Petname != "Bob's laptop" || !k.FirstSeen.Equal(first) || !k.LastSeen.Equal(clk.t) || string(k.Key) != "<KeyValue/>" {
			t.Errorf("Key(fp1) = %+v", k)
		}
		for _, c := range []struct {
			jid  string
			want []string
		}{
			{"bob@example.org", []string{"fp1", "fp2"}},
			{"carol@example.org", []string{"fp2"}},
			{"dave@example.org", nil},
		} {
			ks, err := tx.KeysForJID(me, c.jid)
			if err != nil {
				return err
			}
			var fps []string
			for _, k := range ks {
				fps = append(fps, k.Fingerprint)
			}
			if !slices.Equal(fps, c.want) {
				t.Errorf("KeysForJID(%s) = %v, want %v", c.jid, fps, c.want)
			}
		}
		if _, err := tx.Key(me, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Key(nope): %v", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *store.Tx) error {
		if err := tx.DeleteKey(me, "fp1"); err != nil {
			return err
		}
		ks, err := tx.Keys(me)
		if len(ks) != 1 || ks[0].Fingerprint != "fp2" {
			t.Errorf("Keys after delete = %+v", ks)
		}
		if err := tx.PutKey(me, store.TrustedKey{}); !errors.Is(err, store.ErrInvalidName) {
			t.Errorf("PutKey without fingerprint: %v", err)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func ExampleDB_Update() {
	dir, _ := os.MkdirTemp("", "esn-store-example")
	defer os.RemoveAll(dir)
	db, err := store.OpenDir(filepath.Join(dir, "state"), store.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	// After a session with no shared retained secret, Alice files RS_new
	// for Bob in one atomic, fsynced transaction.
	rsNew := store.NewSecret(bytes.Repeat([]byte{0x42}, 32))
	err = db.Update(func(tx *store.Tx) error {
		_, err := tx.AddRetained("alice@example.org", "bob@example.org", rsNew, false)
		return err
	})
	fmt.Println(err)

	_ = db.View(func(tx *store.Tx) error {
		entries, _ := tx.Retained("alice@example.org", "bob@example.org")
		fmt.Println(len(entries), entries[0].Verified, entries[0].Secret)
		return nil
	})
	// Output:
	// <nil>
	// 1 false store.Secret(REDACTED)
}
