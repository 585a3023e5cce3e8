package pubkey

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

var cheap = ScryptParams{LogN: 10, R: 8, P: 1}

func TestSealOpen(t *testing.T) {
	k := testKey(t)
	pass := []byte("correct horse")
	sealed, err := SealPrivateKey(rand.Reader, k, pass, cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !IsSealed(sealed) || bytes.Contains(sealed, []byte("PRIVATE KEY-----\nMII")) {
		t.Fatal("not sealed")
	}
	got, err := OpenPrivateKey(sealed, pass)
	if err != nil || !got.Equal(k) {
		t.Fatalf("open: %v", err)
	}
	if _, err := OpenPrivateKey(sealed, []byte("wrong")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := OpenPrivateKey(sealed, nil); !errors.Is(err, ErrNeedPassphrase) {
		t.Fatalf("no passphrase: %v", err)
	}
	// Changing the authenticated parameters breaks the tag; absurd ones
	// are refused before any work.
	tampered := bytes.Replace(sealed, []byte("ln=10"), []byte("ln=11"), 1)
	if _, err := OpenPrivateKey(tampered, pass); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("tampered parameters: %v", err)
	}
	huge := bytes.Replace(sealed, []byte("ln=10"), []byte("ln=30"), 1)
	if _, err := OpenPrivateKey(huge, pass); err == nil || errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("huge parameters: %v", err)
	}
	// A plain key opens without a passphrase.
	plain, _ := MarshalPrivateKeyPEM(k)
	if got, err := OpenPrivateKey(plain, nil); err != nil || !got.Equal(k) {
		t.Fatalf("plain: %v", err)
	}
}

func newKeystore(t *testing.T) *Keystore {
	t.Helper()
	ks, err := OpenKeystore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ks.Scrypt = cheap
	ks.Now = func() time.Time { return t0.Add(time.Hour) }
	return ks
}

func TestKeystore(t *testing.T) {
	ks := newKeystore(t)
	k := testKey(t)
	pk := NewPublicKey(&k.PublicKey, alice, t0, t1)
	lk, err := ks.Add(pk, k, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(lk.Path())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", fi.Mode(), err)
	}
	if di, _ := os.Stat(filepath.Dir(lk.Path())); di.Mode().Perm() != 0o700 {
		t.Fatalf("account dir mode %v", di.Mode())
	}
	if b, _ := os.ReadFile(lk.Path()); bytes.Contains(b, []byte("BEGIN PRIVATE KEY")) {
		t.Fatal("a passphrase-protected key is stored in the clear")
	}
	if _, err := ks.Add(pk, k, nil); err == nil {
		t.Fatal("added the same key twice")
	}
	other := otherKey(t)
	opk := NewPublicKey(&other.PublicKey, alice, t0, t0.Add(30*time.Minute)) // expired at Now
	if _, err := ks.Add(opk, other, nil); err != nil {
		t.Fatal(err)
	}
	list, err := ks.List(alice)
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %d keys, %v", len(list), err)
	}
	cur, err := ks.Current(alice)
	if err != nil || !cur.Public.Fingerprint().Equal(pk.Fingerprint()) {
		t.Fatalf("Current = %v, %v (the other key is expired)", cur, err)
	}
	got, err := ks.Get(alice, pk.Fingerprint())
	if err != nil || !got.Encrypted {
		t.Fatalf("Get: %v", err)
	}
	if _, err := got.PrivateKey(nil); !errors.Is(err, ErrNeedPassphrase) {
		t.Fatalf("PrivateKey without passphrase: %v", err)
	}
	priv, err := got.PrivateKey([]byte("pw"))
	if err != nil || !priv.Equal(k) {
		t.Fatalf("PrivateKey: %v", err)
	}
	// Revoke and persist.
	rv, err := NewRevocation(rand.Reader, pk, pk, priv, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got.Revocation, got.Published = rv, true
	if err := ks.Update(got); err != nil {
		t.Fatal(err)
	}
	again, _ := ks.Get(alice, pk.Fingerprint())
	if !again.Revoked() || !again.Published || again.Revocation.Verify(pk) != nil {
		t.Fatal("revocation not persisted")
	}
	if _, err := ks.Current(alice); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Current after revocation: %v", err)
	}
	if keys, err := ks.List("nobody@example.org"); err != nil || len(keys) != 0 {
		t.Fatalf("List of an unknown account: %v %v", keys, err)
	}
}

// TestKeystoreRefusesOpenModes: a private key others can read is refused
// with the chmod that fixes it.
func TestKeystoreRefusesOpenModes(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
		ks := newKeystore(t)
		k := testKey(t)
		lk, err := ks.Add(NewPublicKey(&k.PublicKey, alice, t0, t1), k, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(lk.Path(), mode); err != nil {
			t.Fatal(err)
		}
		_, err = ks.List(alice)
		var pe *PermissionError
		if !errors.As(err, &pe) || pe.Path != lk.Path() || !strings.Contains(pe.Fix, "chmod 600") {
			t.Fatalf("mode %#o: err = %v", mode, err)
		}
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, KeysDir), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, KeysDir), 0o755)
	var pe *PermissionError
	if _, err := OpenKeystore(dir); !errors.As(err, &pe) || !strings.Contains(pe.Fix, "chmod 700") {
		t.Fatalf("open key dir: %v", err)
	}
}
