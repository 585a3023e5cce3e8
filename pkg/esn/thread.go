package esn

import (
	"encoding/hex"
	"fmt"
	"io"
)

// NewThreadID returns a fresh XEP-0201 ThreadID: 128 bits from r (which
// must be a CSPRNG, normally crypto/rand.Reader), hex-encoded. Thread ids
// are opaque and compared only for exact equality ([XEP-0201] §2, [XEP-0155]
// §4.1); a terminated thread's id is never reused, because every session
// draws a new one.
func NewThreadID(r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("esn: thread id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
