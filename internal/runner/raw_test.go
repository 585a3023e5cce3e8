package runner

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/xmltree"
)

// rawConn is a memConn that can also write serialized stanzas, like
// *transport.Conn; it counts the stanzas sent each way.
type rawConn struct {
	*memConn
	raw, tree atomic.Int64
	bad       atomic.Value // string: a raw stanza that did not parse
}

func (c *rawConn) Send(ctx context.Context, st *xmltree.Element) error {
	c.tree.Add(1)
	return c.memConn.Send(ctx, st)
}

func (c *rawConn) SendRaw(ctx context.Context, b []byte) error {
	c.raw.Add(1)
	st, err := xmltree.Parse(b, xmltree.Limits{})
	if err != nil {
		c.bad.Store(string(b))
		return err
	}
	return c.memConn.Send(ctx, st)
}

var _ RawConn = (*rawConn)(nil)

// TestRawSend: with a connection that writes bytes, every encrypted
// stanza goes out as pkg/crypt wrote it, and the negotiation stanzas as
// elements; without one, everything goes through Send (TestSendAndTerminate).
// With esn.Config.BytesOnly the encrypted stanzas exist only as bytes,
// and the result is the same.
func TestRawSend(t *testing.T) {
	for _, bytesOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("BytesOnly=%v", bytesOnly), func(t *testing.T) { testRawSend(t, bytesOnly) })
	}
}

func testRawSend(t *testing.T, bytesOnly bool) {
	var conns []*rawConn
	a, b := newSidesWith(t, func(c *esn.Config) { c.BytesOnly = bytesOnly }, func(c *memConn) Conn {
		rc := &rawConn{memConn: c}
		conns = append(conns, rc)
		return rc
	})
	ra, rb := conns[0], conns[1]
	thread, err := a.r.Initiate("bob@example.com", esn.InitiateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.r.Negotiated(ctx(t), thread); err != nil {
		t.Fatal(err)
	}
	negA, negB := ra.tree.Load(), rb.tree.Load()
	bodies := []string{"one", "two <&>", strings.Repeat("three ", 200)}
	for _, body := range bodies {
		if err := a.r.SendBody(thread, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.r.Terminate(ctx(t), thread); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	if bad := ra.bad.Load(); bad != nil {
		t.Fatalf("Alice sent a malformed stanza: %s", bad)
	}
	var got []string
	for _, ev := range b.got() {
		if m, ok := ev.(esn.MessageEvent); ok {
			got = append(got, m.Body)
		}
	}
	if strings.Join(got, "|") != strings.Join(bodies, "|") {
		t.Errorf("Bob got %q", got)
	}
	// Alice: the messages and the terminate as bytes; Bob: the
	// acknowledgement as bytes. Nothing encrypted went through Send.
	if n := ra.raw.Load(); n != int64(len(bodies)+1) {
		t.Errorf("Alice sent %d raw stanzas, want %d", n, len(bodies)+1)
	}
	if n := rb.raw.Load(); n != 1 {
		t.Errorf("Bob sent %d raw stanzas, want 1", n)
	}
	if ra.tree.Load() != negA || rb.tree.Load() != negB || negA == 0 || negB == 0 {
		t.Errorf("element sends: Alice %d then %d, Bob %d then %d", negA, ra.tree.Load(), negB, rb.tree.Load())
	}
}

// TestBytesOnlyWithoutRawConn: a manager that keeps encrypted stanzas as
// bytes only, on a connection that cannot write bytes, fails the session
// with a clear error instead of dropping the stanzas.
func TestBytesOnlyWithoutRawConn(t *testing.T) {
	a, _ := newSidesWith(t, func(c *esn.Config) { c.BytesOnly = true }, func(c *memConn) Conn { return c })
	thread, err := a.r.Initiate("bob@example.com", esn.InitiateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.r.Negotiated(ctx(t), thread); err != nil {
		t.Fatal(err) // negotiation stanzas are elements: they go through
	}
	if err := a.r.SendBody(thread, "hello"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.r.Ended(thread):
	case <-ctx(t).Done():
		t.Fatal("the session did not fail")
	}
	if err := a.r.Err(thread); err == nil || !strings.Contains(err.Error(), "cannot send bytes") {
		t.Fatalf("Err = %v, want the bytes-only error", err)
	}
}
