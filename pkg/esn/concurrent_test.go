package esn

import (
	"sync"
	"testing"

	"github.com/esn-project/esn/pkg/xmltree"
)

// TestManagerConcurrent runs many negotiations and exchanges through the
// same two managers from concurrent goroutines (run with -race).
func TestManagerConcurrent(t *testing.T) {
	a, _ := NewManager(Config{Local: "alice@example.org/pda", Secrets: &MemorySecrets{}})
	b, _ := NewManager(Config{Local: "bob@example.com/laptop", Secrets: &MemorySecrets{}})
	deliver := func(to *Manager, sts []*xmltree.Element) []*xmltree.Element {
		var next []*xmltree.Element
		for _, st := range sts {
			el, err := xmltree.Parse([]byte(st.String()), xmltree.Limits{})
			if err != nil {
				t.Error(err)
				return nil
			}
			out, err := to.Receive(el)
			if err != nil {
				t.Error(err)
			}
			next = append(next, out.Send...)
		}
		return next
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			thread, out, err := a.Initiate("bob@example.com", InitiateOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			sts := out.Send
			for i := 0; len(sts) > 0; i++ {
				if i%2 == 0 {
					sts = deliver(b, sts)
				} else {
					sts = deliver(a, sts)
				}
			}
			o, err := a.EncryptBody(thread, "hi")
			if err != nil {
				t.Error(err)
				return
			}
			deliver(b, o.Send)
			o, _ = a.Terminate(thread)
			deliver(a, deliver(b, o.Send))
		}()
	}
	wg.Wait()
	if a.Len() != 0 || b.Len() != 0 {
		t.Fatalf("sessions left: %d %d", a.Len(), b.Len())
	}
}
