package transport

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/esn-project/esn/pkg/xmltree"
)

// BenchmarkReceive measures the read loop: parse, bound, queue, dispatch,
// for message stanzas with bodies of realistic sizes, over loopback TCP.
func BenchmarkReceive(b *testing.B) {
	for _, size := range []int{64, 1350, 8192} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			got := make(chan struct{}, 1024)
			c, p := dialPair(b, Config{Setup: func(c *Conn) {
				c.OnMessage(func(*xmltree.Element) { got <- struct{}{} })
			}})
			defer c.Close()
			stanza := []byte(`<message from='bob@localhost/x' type='chat'><body>` + strings.Repeat("a", size) + `</body></message>`)
			b.SetBytes(int64(len(stanza)))
			b.ReportAllocs()
			go func() {
				for i := 0; i < b.N; i++ {
					p.s.Conn().Write(stanza)
				}
			}()
			for i := 0; i < b.N; i++ {
				<-got
			}
		})
	}
}

// BenchmarkSendIQ measures an IQ round trip against a server that answers
// at once.
func BenchmarkSendIQ(b *testing.B) {
	c, p := dialPair(b, Config{})
	defer c.Close()
	go func() {
		for el := range p.in {
			p.s.Conn().Write([]byte(fmt.Sprintf(`<iq type='result' id='%s'/>`, el.Attribute("id"))))
		}
	}()
	req := iq("get", "", xmltree.New("urn:example:q", "q"))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.SendIQ(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
