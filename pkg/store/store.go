package store

import (
	"bytes"
	"crypto/cipher"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"golang.org/x/crypto/chacha20poly1305"
)

// FileName is the name of the database file inside a state directory.
const FileName = "esn.db"

// SchemaVersion is the version of the bucket layout this package writes.
// Open refuses a file written by a newer version.
const SchemaVersion = 1

// DefaultLockTimeout is how long Open waits for another process to release
// the file when Options.LockTimeout is zero.
const DefaultLockTimeout = 2 * time.Second

// Errors callers branch on with errors.Is.
var (
	// ErrNotFound is returned when a record, key or bucket does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrLocked is returned when another process holds the file lock for
	// longer than Options.LockTimeout.
	ErrLocked = errors.New("store: database is in use by another process")
	// ErrSealed is returned when a sealed secret is read without a key.
	ErrSealed = errors.New("store: secret is sealed and no key was given")
	// ErrUnseal is returned when a sealed secret does not open with the
	// key given (wrong key, or the file was tampered with).
	ErrUnseal = errors.New("store: secret does not open with this key")
	// ErrNewerSchema is returned by Open for a file written by a newer esn.
	ErrNewerSchema = errors.New("store: file was written by a newer version of esn")
	// ErrInvalidName is returned for an empty bucket, account, peer or key
	// name.
	ErrInvalidName = errors.New("store: empty name")
)

// PermissionError reports a state file or directory that group or others
// may access. Fix is the command that repairs it.
type PermissionError struct {
	Path string
	Mode fs.FileMode
	Fix  string // e.g. "chmod 600 /home/a/.local/state/esn/esn.db"
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("store: %s has mode %#o, open to group or others; run %q", e.Path, e.Mode.Perm(), e.Fix)
}

// Options configures Open. The zero value is usable.
type Options struct {
	// LockTimeout bounds the wait for another process's file lock.
	// Zero means DefaultLockTimeout; a negative value fails at once.
	LockTimeout time.Duration
	// Key, when set, must be 32 bytes; values of type Secret are then
	// sealed with XChaCha20-Poly1305 under it. Open copies it.
	Key []byte
	// Now returns the time used for record timestamps; nil means
	// time.Now. Tests set it for stable values.
	Now func() time.Time
	// ReadOnly opens the file with a shared lock and refuses writes.
	ReadOnly bool
}

// DB is an open state file. It is safe for concurrent use.
type DB struct {
	bolt *bolt.DB
	path string
	aead cipher.AEAD // nil when no key was given
	now  func() time.Time
}

// Top-level bucket names. The layout is documented in doc.go.
var (
	bucketMeta     = []byte("meta")
	bucketKV       = []byte("kv")
	bucketRetained = []byte("retained")
	bucketKeys     = []byte("keys")
	keyVersion     = []byte("version")
)

// OpenDir opens (creating if needed) FileName inside dir.
func OpenDir(dir string, opts Options) (*DB, error) {
	return Open(filepath.Join(dir, FileName), opts)
}

// Open opens the state file at path, creating it (mode 0600) and its
// directory (mode 0700) if needed. It refuses, with a *PermissionError, a
// file that group or others can access or a directory they can write, and returns an error
// wrapping ErrLocked when the file stays locked for Options.LockTimeout.
func Open(path string, opts Options) (*DB, error) {
	d := &DB{path: path, now: opts.Now}
	if d.now == nil {
		d.now = time.Now
	}
	if opts.Key != nil {
		if len(opts.Key) != chacha20poly1305.KeySize {
			return nil, fmt.Errorf("store: key is %d bytes, want %d", len(opts.Key), chacha20poly1305.KeySize)
		}
		aead, err := chacha20poly1305.NewX(bytes.Clone(opts.Key))
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		d.aead = aead
	}
	dir := filepath.Dir(path)
	if err := EnsureDir(dir); err != nil {
		return nil, err
	}
	created := false
	if fi, err := os.Stat(path); err == nil {
		if err := checkPrivate(path, fi); err != nil {
			return nil, err
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		created = !opts.ReadOnly
	} else {
		return nil, fmt.Errorf("store: %w", err)
	}
	timeout := opts.LockTimeout
	switch {
	case timeout == 0:
		timeout = DefaultLockTimeout
	case timeout < 0:
		timeout = time.Nanosecond
	}
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, ReadOnly: opts.ReadOnly})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s (waited %v)", ErrLocked, path, timeout)
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	d.bolt = b
	if created {
		// Make the new directory entry durable too.
		if err := syncDir(dir); err != nil {
			b.Close()
			return nil, err
		}
	}
	if err := d.init(opts.ReadOnly); err != nil {
		b.Close()
		return nil, err
	}
	return d, nil
}

// EnsureDir creates dir with mode 0700 (and missing parents) if it does
// not exist. An existing dir is accepted when only its owner can write it:
// the file modes protect what is inside, but a directory that others can
// write lets them replace the file.
func EnsureDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("store: create state directory: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("store: %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return &PermissionError{Path: dir, Mode: fi.Mode(), Fix: "chmod go-w " + dir}
	}
	return nil
}

// checkPrivate refuses a state file that group or others can access.
func checkPrivate(path string, fi fs.FileInfo) error {
	if fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	return &PermissionError{Path: path, Mode: fi.Mode(), Fix: "chmod 600 " + path}
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("store: sync %s: %w", dir, err)
	}
	return nil
}

func (d *DB) init(readOnly bool) error {
	check := func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if m == nil {
			return nil
		}
		v, err := strconv.Atoi(string(m.Get(keyVersion)))
		if err != nil {
			return fmt.Errorf("store: %s: bad schema version %q", d.path, m.Get(keyVersion))
		}
		if v > SchemaVersion {
			return fmt.Errorf("%w: %s has schema %d, this esn knows %d", ErrNewerSchema, d.path, v, SchemaVersion)
		}
		return nil
	}
	if readOnly {
		return d.bolt.View(check)
	}
	return d.bolt.Update(func(tx *bolt.Tx) error {
		if err := check(tx); err != nil {
			return err
		}
		for _, name := range [][]byte{bucketMeta, bucketKV, bucketRetained, bucketKeys} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("store: %w", err)
			}
		}
		m := tx.Bucket(bucketMeta)
		if m.Get(keyVersion) == nil {
			return m.Put(keyVersion, []byte(strconv.Itoa(SchemaVersion)))
		}
		return nil
	})
}

// Path returns the file name given to Open.
func (d *DB) Path() string { return d.path }

// Close releases the file lock. Writes already returned are on disk.
func (d *DB) Close() error {
	if err := d.bolt.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Update runs fn in a read-write transaction. If fn returns an error
// nothing is written; otherwise the changes are committed and fsynced
// before Update returns.
func (d *DB) Update(fn func(*Tx) error) error {
	return d.bolt.Update(func(btx *bolt.Tx) error {
		return fn(&Tx{tx: btx, db: d})
	})
}

// View runs fn in a read-only transaction that sees a consistent snapshot.
func (d *DB) View(fn func(*Tx) error) error {
	return d.bolt.View(func(btx *bolt.Tx) error {
		return fn(&Tx{tx: btx, db: d})
	})
}

// Tx is a transaction passed to Update or View. It is valid only inside
// that function.
type Tx struct {
	tx *bolt.Tx
	db *DB
}

// Get returns a copy of the value stored under key in the named bucket,
// or an error wrapping ErrNotFound.
func (t *Tx) Get(bucket, key string) ([]byte, error) {
	b, err := t.kv(bucket, false)
	if err != nil {
		return nil, err
	}
	if key == "" {
		return nil, ErrInvalidName
	}
	v := b.Get([]byte(key))
	if v == nil {
		return nil, fmt.Errorf("%w: %s/%s", ErrNotFound, bucket, key)
	}
	return bytes.Clone(v), nil
}

// Put stores value under key in the named bucket, creating the bucket.
func (t *Tx) Put(bucket, key string, value []byte) error {
	b, err := t.kv(bucket, true)
	if err != nil {
		return err
	}
	if key == "" {
		return ErrInvalidName
	}
	if value == nil {
		value = []byte{}
	}
	if err := b.Put([]byte(key), value); err != nil {
		return fmt.Errorf("store: put %s/%s: %w", bucket, key, err)
	}
	return nil
}

// Delete removes key from the named bucket. Deleting a missing key or from
// a missing bucket is not an error.
func (t *Tx) Delete(bucket, key string) error {
	b, err := t.kv(bucket, false)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := b.Delete([]byte(key)); err != nil {
		return fmt.Errorf("store: delete %s/%s: %w", bucket, key, err)
	}
	return nil
}

// ForEach calls fn for every key of the named bucket in byte order, with
// a value valid only during the call. A missing bucket has no keys. fn must
// not modify the bucket; an error from fn stops the walk and is returned.
func (t *Tx) ForEach(bucket string, fn func(key string, value []byte) error) error {
	b, err := t.kv(bucket, false)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return b.ForEach(func(k, v []byte) error { return fn(string(k), v) })
}

// NextSequence returns an increasing integer for the named bucket, unique
// within it for the life of the file (useful for queue order).
func (t *Tx) NextSequence(bucket string) (uint64, error) {
	b, err := t.kv(bucket, true)
	if err != nil {
		return 0, err
	}
	n, err := b.NextSequence()
	if err != nil {
		return 0, fmt.Errorf("store: sequence %s: %w", bucket, err)
	}
	return n, nil
}

// PutSecret stores s under key in the named bucket, sealed when the DB has
// a key.
func (t *Tx) PutSecret(bucket, key string, s Secret) error {
	if bucket == "" || key == "" {
		return ErrInvalidName
	}
	v, err := t.db.seal(s.b, "kv", bucket, key)
	if err != nil {
		return err
	}
	return t.Put(bucket, key, v)
}

// GetSecret reads a value written by PutSecret.
func (t *Tx) GetSecret(bucket, key string) (Secret, error) {
	v, err := t.Get(bucket, key)
	if err != nil {
		return Secret{}, err
	}
	b, err := t.db.open(v, "kv", bucket, key)
	if err != nil {
		return Secret{}, fmt.Errorf("%s/%s: %w", bucket, key, err)
	}
	return Secret{b: b}, nil
}

func (t *Tx) kv(name string, create bool) (*bolt.Bucket, error) {
	if name == "" {
		return nil, ErrInvalidName
	}
	root := t.tx.Bucket(bucketKV)
	if root == nil {
		return nil, fmt.Errorf("%w: bucket %s", ErrNotFound, name)
	}
	return sub(root, name, create)
}

// sub returns the nested bucket name of parent, creating it if asked.
func sub(parent *bolt.Bucket, name string, create bool) (*bolt.Bucket, error) {
	if b := parent.Bucket([]byte(name)); b != nil {
		return b, nil
	}
	if !create {
		return nil, fmt.Errorf("%w: bucket %s", ErrNotFound, name)
	}
	b, err := parent.CreateBucket([]byte(name))
	if err != nil {
		return nil, fmt.Errorf("store: create bucket %s: %w", name, err)
	}
	return b, nil
}

// Convenience wrappers running one operation in its own transaction.

// Get is View + Tx.Get.
func (d *DB) Get(bucket, key string) (v []byte, err error) {
	err = d.View(func(t *Tx) error { v, err = t.Get(bucket, key); return err })
	return v, err
}

// Put is Update + Tx.Put.
func (d *DB) Put(bucket, key string, value []byte) error {
	return d.Update(func(t *Tx) error { return t.Put(bucket, key, value) })
}

// Delete is Update + Tx.Delete.
func (d *DB) Delete(bucket, key string) error {
	return d.Update(func(t *Tx) error { return t.Delete(bucket, key) })
}
