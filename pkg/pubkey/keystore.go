package pubkey

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// KeysDir is the directory of the account keys inside a state directory.
const KeysDir = "keys"

// maxKeyFile bounds a key file read from disk.
const maxKeyFile = 256 << 10

// ErrNoKey is returned when an account has no (usable) key.
var ErrNoKey = errors.New("pubkey: no key")

// PermissionError reports a key file or directory that group or others
// may access. Fix is the command that repairs it.
type PermissionError struct {
	Path string
	Mode fs.FileMode
	Fix  string
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("pubkey: %s has mode %#o, open to group or others; refusing to use a private key others can read; run %q",
		e.Path, e.Mode.Perm(), e.Fix)
}

// Keystore keeps an account's own key pairs under DIR/keys/ACCOUNT/, one
// JSON file per key named by the hex print, mode 0600, in directories with
// mode 0700. Methods are safe for use by one process at a time; the state
// file lock of pkg/store serializes esn processes.
type Keystore struct {
	dir string
	// Rand is the randomness for sealing (crypto/rand when nil).
	Rand io.Reader
	// Scrypt are the parameters for new sealed keys (DefaultScrypt when
	// zero). Tests lower them.
	Scrypt ScryptParams
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// OpenKeystore opens (creating) the key directory of the state directory
// stateDir, refusing one that group or others may access.
func OpenKeystore(stateDir string) (*Keystore, error) {
	dir := filepath.Join(stateDir, KeysDir)
	if err := ensurePrivateDir(dir); err != nil {
		return nil, err
	}
	return &Keystore{dir: dir}, nil
}

// Dir returns the key directory.
func (ks *Keystore) Dir() string { return ks.dir }

func ensurePrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pubkey: creating %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("pubkey: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return &PermissionError{Path: dir, Mode: fi.Mode(), Fix: "chmod 700 " + dir}
	}
	return nil
}

func (ks *Keystore) now() time.Time {
	if ks.Now != nil {
		return ks.Now()
	}
	return time.Now()
}

// LocalKey is one of the account's own keys as stored.
type LocalKey struct {
	// Public is the XEP-0189 payload: key, JID and validity period.
	Public *PublicKey
	// Created is when the key was generated or imported.
	Created time.Time
	// Published says `esn keys publish` put this key on the account's PEP
	// node (as far as esn knows).
	Published bool
	// Revocation is set once the key was revoked.
	Revocation *Revocation
	// Encrypted says the private key is sealed under a passphrase.
	Encrypted bool

	path    string
	private []byte // PEM, sealed or plain
}

// Path is the file holding the key.
func (k *LocalKey) Path() string { return k.path }

// PrivateKey returns the private key, opening it with passphrase if it is
// sealed (ErrNeedPassphrase without one, ErrWrongPassphrase if wrong).
func (k *LocalKey) PrivateKey(passphrase []byte) (*rsa.PrivateKey, error) {
	priv, err := OpenPrivateKey(k.private, passphrase)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.path, err)
	}
	if !SameKey(&priv.PublicKey, k.Public.Key) {
		return nil, fmt.Errorf("pubkey: %s: private key does not match the public key", k.path)
	}
	return priv, nil
}

// Revoked reports whether the key was revoked.
func (k *LocalKey) Revoked() bool { return k.Revocation != nil }

type keyFile struct {
	Version    int       `json:"version"`
	PubKey     string    `json:"pubkey"`
	Private    string    `json:"private"`
	Created    time.Time `json:"created"`
	Published  bool      `json:"published"`
	Revocation string    `json:"revocation,omitempty"`
}

func (ks *Keystore) accountDir(account string) (string, error) {
	if account == "" || strings.ContainsAny(account, "/\x00") {
		return "", fmt.Errorf("pubkey: bad account %q", truncate(account))
	}
	return filepath.Join(ks.dir, url.PathEscape(account)), nil
}

// Add stores a new key pair for pub.JID. With a non-empty passphrase the
// private key is sealed (SealPrivateKey); otherwise it relies on the file
// mode, as an SSH key without a passphrase does.
func (ks *Keystore) Add(pub *PublicKey, priv *rsa.PrivateKey, passphrase []byte) (*LocalKey, error) {
	if !SameKey(pub.Key, &priv.PublicKey) {
		return nil, errors.New("pubkey: public and private key differ")
	}
	var pem []byte
	var err error
	if len(passphrase) > 0 {
		r := ks.Rand
		if r == nil {
			r = rand.Reader
		}
		pem, err = SealPrivateKey(r, priv, passphrase, ks.Scrypt)
	} else {
		pem, err = MarshalPrivateKeyPEM(priv)
	}
	if err != nil {
		return nil, err
	}
	dir, err := ks.accountDir(pub.JID)
	if err != nil {
		return nil, err
	}
	if err := ensurePrivateDir(dir); err != nil {
		return nil, err
	}
	k := &LocalKey{Public: pub, Created: ks.now().UTC(), Encrypted: len(passphrase) > 0,
		path: filepath.Join(dir, pub.Fingerprint().Hex()+".json"), private: pem}
	if _, err := os.Lstat(k.path); err == nil {
		return nil, fmt.Errorf("pubkey: key %s already exists in %s", pub.Fingerprint(), k.path)
	}
	return k, ks.write(k)
}

// Update rewrites the metadata of k (Published, Revocation).
func (ks *Keystore) Update(k *LocalKey) error { return ks.write(k) }

func (ks *Keystore) write(k *LocalKey) error {
	kf := keyFile{Version: 1, PubKey: k.Public.Element().String(), Private: string(k.private),
		Created: k.Created, Published: k.Published}
	if k.Revocation != nil {
		kf.Revocation = k.Revocation.Element().String()
	}
	b, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return fmt.Errorf("pubkey: %w", err)
	}
	b = append(b, '\n')
	defer clear(b)
	return writeFileAtomic(k.path, b)
}

// writeFileAtomic writes data to a new 0600 file next to path, syncs it
// and renames it over path.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("pubkey: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("pubkey: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("pubkey: writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("pubkey: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("pubkey: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("pubkey: %w", err)
	}
	ok = true
	return nil
}

// readKeyFile reads one key file, refusing a file group or others may
// access.
func readKeyFile(path string) (*LocalKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pubkey: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("pubkey: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("pubkey: %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, &PermissionError{Path: path, Mode: fi.Mode(), Fix: "chmod 600 " + path}
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("pubkey: reading %s: %w", path, err)
	}
	defer clear(b)
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("pubkey: %s is larger than %d bytes", path, maxKeyFile)
	}
	var kf keyFile
	if err := json.Unmarshal(b, &kf); err != nil {
		return nil, fmt.Errorf("pubkey: %s: %w", path, err)
	}
	if kf.Version != 1 {
		return nil, fmt.Errorf("pubkey: %s: unknown version %d", path, kf.Version)
	}
	pub, err := ParsePublicKeyXML([]byte(kf.PubKey))
	if err != nil {
		return nil, fmt.Errorf("pubkey: %s: %w", path, err)
	}
	k := &LocalKey{Public: pub, Created: kf.Created, Published: kf.Published, path: path,
		private: []byte(kf.Private), Encrypted: IsSealed([]byte(kf.Private))}
	if kf.Revocation != "" {
		if k.Revocation, err = ParseRevocationXML([]byte(kf.Revocation)); err != nil {
			return nil, fmt.Errorf("pubkey: %s: %w", path, err)
		}
	}
	return k, nil
}

// List returns account's keys, oldest first.
func (ks *Keystore) List(account string) ([]*LocalKey, error) {
	dir, err := ks.accountDir(account)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pubkey: %w", err)
	}
	fi, err := os.Stat(dir)
	if err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, &PermissionError{Path: dir, Mode: fi.Mode(), Fix: "chmod 700 " + dir}
	}
	var out []*LocalKey
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		k, err := readKeyFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	slices.SortStableFunc(out, func(a, b *LocalKey) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// Get returns account's key with print fp.
func (ks *Keystore) Get(account string, fp Fingerprint) (*LocalKey, error) {
	keys, err := ks.List(account)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.Public.Fingerprint().Equal(fp) {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w: %s has no key %s", ErrNoKey, account, fp)
}

// Current returns the newest key of account that is valid now and not
// revoked: the one esn publishes and signs with.
func (ks *Keystore) Current(account string) (*LocalKey, error) {
	keys, err := ks.List(account)
	if err != nil {
		return nil, err
	}
	now := ks.now()
	for i := len(keys) - 1; i >= 0; i-- {
		if k := keys[i]; !k.Revoked() && k.Public.ValidAt(now) {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w: %s has no valid key (esn keys generate makes one)", ErrNoKey, account)
}
