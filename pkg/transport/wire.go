package transport

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
)

// negotiationBudget bounds the bytes read during stream negotiation (stream
// headers, features, TLS and SASL exchanges, resource binding), whatever
// MaxStanzaSize is.
const negotiationBudget = 1 << 20

// wireState is shared by the wires of one connection (before and after
// STARTTLS).
type wireState struct {
	// used counts bytes consumed by the XML decoder since the last reset;
	// limit is the bound. Both belong to the goroutine that reads the
	// stream: Dial's during negotiation, then the read loop (started after
	// negotiation, which orders the hand-over), which also resets them.
	used  int64
	limit int64

	tr *tracer
	// raw is true while raw bytes are traced (stream negotiation). Once the
	// session is ready, stanzas are traced as parsed elements instead.
	raw atomic.Bool

	// Redactors for each direction, each used by one goroutine at a time
	// (mellium serializes reads and writes); guarded anyway since wires are
	// replaced at STARTTLS.
	mu       sync.Mutex
	redactIn redactor
	redactOu redactor
}

func newWireState(tr *tracer) *wireState {
	st := &wireState{tr: tr, limit: negotiationBudget}
	st.raw.Store(tr != nil)
	return st
}

// reset starts a new budget window of limit bytes.
func (st *wireState) reset(limit int64) {
	st.limit = limit
	st.used = 0
}

func (st *wireState) traceRaw(dir string, p []byte) {
	if !st.raw.Load() {
		return
	}
	st.mu.Lock()
	var red []byte
	if dir == "SEND" {
		red = st.redactOu.redact(p)
	} else {
		red = st.redactIn.redact(p)
	}
	st.mu.Unlock()
	st.tr.line(dir, red)
}

// budgetError is returned by wire reads once the budget is spent. It wraps
// ErrStanzaTooLarge.
type budgetError struct{ limit int64 }

func (e budgetError) Error() string {
	return fmt.Sprintf("%v (more than %d bytes)", ErrStanzaTooLarge, e.limit)
}

func (e budgetError) Unwrap() error { return ErrStanzaTooLarge }

// wire is the net.Conn handed to mellium. It is an io.ByteReader, so
// encoding/xml reads it byte by byte without a read-ahead buffer of its
// own: the bytes counted against the budget are exactly the bytes the
// decoder has consumed. It traces raw traffic (redacted) while the stream is
// being negotiated, and exposes the TLS state for SCRAM channel binding.
type wire struct {
	net.Conn
	br *bufio.Reader
	st *wireState
}

func newWire(c net.Conn, st *wireState) *wire {
	w := &wire{Conn: c, st: st}
	w.br = bufio.NewReaderSize(tracingReader{w}, 4096)
	return w
}

// tracingReader sits below the buffer: it traces what arrives from the
// network, in the chunks it arrives in.
type tracingReader struct{ w *wire }

func (t tracingReader) Read(p []byte) (int, error) {
	n, err := t.w.Conn.Read(p)
	if n > 0 {
		t.w.st.traceRaw("RECV", p[:n])
	}
	return n, err
}

func (w *wire) ReadByte() (byte, error) {
	st := w.st
	if st.used >= st.limit {
		return 0, budgetError{st.limit}
	}
	b, err := w.br.ReadByte()
	if err == nil {
		st.used++
	}
	return b, err
}

func (w *wire) Read(p []byte) (int, error) {
	st := w.st
	left := st.limit - st.used
	if left <= 0 {
		return 0, budgetError{st.limit}
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := w.br.Read(p)
	st.used += int64(n)
	return n, err
}

func (w *wire) Write(p []byte) (int, error) {
	w.st.traceRaw("SEND", p)
	return w.Conn.Write(p)
}

// buffered reports bytes received but not yet consumed.
func (w *wire) buffered() int { return w.br.Buffered() }

// ConnectionState returns the TLS state, or the zero value on a plaintext
// wire. mellium uses it for SCRAM-*-PLUS channel binding.
func (w *wire) ConnectionState() tls.ConnectionState {
	if tc, ok := w.Conn.(*tls.Conn); ok {
		return tc.ConnectionState()
	}
	return tls.ConnectionState{}
}
