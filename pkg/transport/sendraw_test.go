package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/xmltree"
	"mellium.im/xmpp/jid"
)

// syncBuffer is a trace writer that tests may read while the connection
// writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSendRaw(t *testing.T) {
	var trace syncBuffer
	c, p := dialPair(t, Config{Trace: &trace})
	tests := []struct {
		name string
		raw  string
		body string // want: the body the server parses; "" = SendRaw fails
	}{
		{"inherited namespace", `<message to="bob@localhost" id="r1"><body>one &amp; two</body></message>`, "one & two"},
		{"declared namespace", `<message xmlns="jabber:client" to="bob@localhost" id="r2"><body>three</body></message>`, "three"},
		{"tab after the name", "<message\tto='bob@localhost' id='r3'><body>four</body></message>", "four"},
		{"iq", `<iq type="get" id="r4" to="localhost"><ping xmlns="urn:xmpp:ping"/></iq>`, ""},
		{"not a stanza", `<foo to="bob@localhost"/>`, ""},
		{"longer name", `<messages to="bob@localhost"/>`, ""},
		{"no start tag", `message`, ""},
		{"unterminated", `<message to="bob@localhost"`, ""},
		{"empty", ``, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := c.SendRaw(ctxT(t, 5*time.Second), []byte(tc.raw))
			valid := tc.body != "" || strings.HasPrefix(tc.raw, "<iq ")
			if !valid {
				if err == nil {
					t.Fatalf("SendRaw(%q) succeeded", tc.raw)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := p.next(t)
			if got.Name.Space != nsClient {
				t.Errorf("stanza in namespace %q", got.Name.Space)
			}
			if tc.body != "" && got.ChildText("", "body") != tc.body {
				t.Errorf("server got %s, want body %q", got, tc.body)
			}
			if !strings.Contains(trace.String(), "SEND: "+tc.raw+"\n") {
				t.Errorf("trace lacks the stanza:\n%s", trace.String())
			}
		})
	}
}

func TestSendRawAfterClose(t *testing.T) {
	c, _ := dialPair(t, Config{})
	c.Close()
	err := c.SendRaw(ctxT(t, time.Second), []byte(`<message to="bob@localhost"/>`))
	if err == nil {
		t.Fatal("SendRaw after Close succeeded")
	}
}

// TestSendAndSendRawInterleave sends from several goroutines at once, half
// through Send and half through SendRaw: every stanza must arrive whole.
func TestSendAndSendRawInterleave(t *testing.T) {
	c, p := dialPair(t, Config{})
	const workers, each = 4, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for i := range each {
				body := fmt.Sprintf("w%d-%d-%s", w, i, strings.Repeat("x", 500))
				var err error
				if i%2 == 0 {
					m := xmltree.New("", "message", attr("to", "bob@localhost"))
					m.AddChild(xmltree.New("", "body").AddText(body))
					err = c.Send(ctx, m)
				} else {
					err = c.SendRaw(ctx, []byte(`<message to="bob@localhost"><body>`+body+`</body></message>`))
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range workers * each {
		got := p.next(t)
		b := got.ChildText("", "body")
		if seen[b] || !strings.HasSuffix(b, strings.Repeat("x", 500)) {
			t.Fatalf("duplicate or damaged stanza %s", got)
		}
		seen[b] = true
	}
}

// TestCancelAfterSend cancels each Send's context as soon as Send returns,
// as callers with per-send timeouts do, over TLS. The end of a context
// whose write has completed must never cut into a later write: a TLS write
// interrupted by a deadline leaves the stream unusable.
func TestCancelAfterSend(t *testing.T) {
	cert, pool := selfSigned(t, testDomain)
	srv := startServer(t, serverOptions{tls: &tls.Config{Certificates: []tls.Certificate{cert}}})
	c, err := Dial(ctxT(t, 10*time.Second), Config{JID: jid.MustParse(testUser + "@" + testDomain),
		Password: testPassword, Server: srv.addr(), RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := srv.accept()
	const n = 3000
	raw := []byte(`<message to="bob@localhost"><body>` + strings.Repeat("y", 1000) + `</body></message>`)
	done := make(chan error, 1)
	go func() {
		for i := range n {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			var err error
			if i%2 == 0 {
				err = c.SendRaw(ctx, raw)
			} else {
				m := xmltree.New("", "message", attr("to", "bob@localhost"))
				m.AddChild(xmltree.New("", "body").AddText(strings.Repeat("z", 1000)))
				err = c.Send(ctx, m)
			}
			cancel()
			if err != nil {
				done <- fmt.Errorf("stanza %d: %w", i, err)
				return
			}
		}
		done <- nil
	}()
	for i := range n {
		select {
		case el, ok := <-p.in:
			if !ok {
				t.Fatalf("stream ended after %d stanzas: %v (sender: %v)", i, p.err, <-done)
			}
			if len(el.ChildText("", "body")) != 1000 {
				t.Fatalf("stanza %d damaged: %s", i, el)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d stanzas arrived", i, n)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestSendContextEnds checks that the end of ctx interrupts a write that
// cannot complete (the server does not read), and wraps ctx's error.
func TestSendContextEnds(t *testing.T) {
	c, p := dialPair(t, Config{})
	_ = p // the server never reads its input from here on
	big := []byte(`<message to="bob@localhost"><body>` + strings.Repeat("q", 1<<20) + `</body></message>`)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var err error
	for range 64 { // fill the socket buffers
		if err = c.SendRaw(ctx, big); err != nil {
			break
		}
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want an error wrapping the context's", err)
	}
}
