package transport_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/esn-project/esn/pkg/transport"
	"github.com/esn-project/esn/pkg/xmltree"
	"mellium.im/xmpp/jid"
)

// Connect, answer messages, ask a contact what it supports, publish a PEP
// item, and close. Handlers are registered in Setup so that they also see
// the offline messages the server sends in answer to initial presence.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := transport.Dial(ctx, transport.Config{
		JID:      jid.MustParse("alice@example.org"),
		Password: os.Getenv("ESN_PASSWORD"),
		Presence: true,
		Features: []string{"urn:xmpp:ping"},
		Setup: func(c *transport.Conn) {
			c.OnMessage(func(m *xmltree.Element) {
				// Handlers run on their own goroutine: they may send.
				if body := m.ChildText("", "body"); body != "" {
					reply := xmltree.New("jabber:client", "message")
					reply.SetAttr("to", m.Attribute("from"))
					reply.SetAttr("type", "chat")
					reply.AddChild(xmltree.New("jabber:client", "body").AddText("echo: " + body))
					c.Send(context.Background(), reply)
				}
			})
		},
	})
	if err != nil {
		log.Fatal(err) // *ConnectError, *TLSError, *AuthError, ...
	}
	defer c.Close()

	bob := jid.MustParse("bob@example.org")
	for _, res := range c.AvailableResources(bob) {
		info, err := c.DiscoInfo(ctx, res)
		if err != nil {
			log.Print(err)
			continue
		}
		fmt.Println(res, info.HasFeature("urn:xmpp:ping"))
	}

	key := xmltree.New("urn:example:key", "key").AddText("AAAA")
	err = c.PEPPublish(ctx, "urn:example:key", "current", key, transport.NodeConfig{AccessModel: "open"})
	if err != nil {
		log.Print(err)
	}
}
