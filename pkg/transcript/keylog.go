package transcript

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/esn-project/esn/pkg/esn"
)

// Key log bounds: lines, and the hex length of a thread or a secret.
const (
	maxKeyLogSize   = 16 << 20
	maxKeyLogThread = 2048
	maxKeyLogSecret = 2 * 1024 // hex of a re-key secret I2B(K) of MODP group 18
)

// ErrKeyLog is wrapped by every key log syntax error.
var ErrKeyLog = errors.New("transcript: malformed key log")

// KeyLog holds the secrets of a key log file, by thread and label. The zero
// value is empty and usable.
type KeyLog struct {
	m map[string]map[string][][]byte // thread -> label -> distinct secrets
}

// ParseKeyLog reads a key log: one "LABEL THREAD-HEX SECRET-HEX" line per
// secret ([esn.KeyLogEntry.String]), blank lines and lines starting with
// '#' ignored. Unknown labels are kept (a newer esn may log more).
func ParseKeyLog(r io.Reader) (*KeyLog, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxKeyLogSize+1))
	if err != nil {
		return nil, fmt.Errorf("transcript: reading the key log: %w", err)
	}
	if len(data) > maxKeyLogSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrKeyLog, maxKeyLogSize)
	}
	kl := &KeyLog{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 2*maxKeyLogThread+2*maxKeyLogSecret+256)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("%w: line %d: want LABEL THREAD-HEX SECRET-HEX", ErrKeyLog, n)
		}
		if len(f[1]) > maxKeyLogThread || len(f[2]) > maxKeyLogSecret {
			return nil, fmt.Errorf("%w: line %d: value too long", ErrKeyLog, n)
		}
		thread, err1 := hex.DecodeString(f[1])
		secret, err2 := hex.DecodeString(f[2])
		if err1 != nil || err2 != nil || len(thread) == 0 || len(secret) == 0 {
			return nil, fmt.Errorf("%w: line %d: thread and secret must be non-empty hex", ErrKeyLog, n)
		}
		kl.Add(esn.KeyLogEntry{Label: f[0], Thread: string(thread), Secret: secret})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: line %d: %v", ErrKeyLog, n+1, err)
	}
	return kl, nil
}

// Add records one secret; duplicates (both parties log the same K) are
// kept once.
func (k *KeyLog) Add(e esn.KeyLogEntry) {
	if k.m == nil {
		k.m = map[string]map[string][][]byte{}
	}
	byLabel := k.m[e.Thread]
	if byLabel == nil {
		byLabel = map[string][][]byte{}
		k.m[e.Thread] = byLabel
	}
	for _, s := range byLabel[e.Label] {
		if bytes.Equal(s, e.Secret) {
			return
		}
	}
	byLabel[e.Label] = append(byLabel[e.Label], slices.Clone(e.Secret))
}

// Secrets returns the distinct secrets logged under label for thread.
func (k *KeyLog) Secrets(thread, label string) [][]byte {
	if k == nil || k.m == nil {
		return nil
	}
	return k.m[thread][label]
}

// Threads returns the number of threads with at least one secret.
func (k *KeyLog) Threads() int {
	if k == nil {
		return 0
	}
	return len(k.m)
}
