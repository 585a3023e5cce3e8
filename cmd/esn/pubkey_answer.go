package main

import (
	"context"
	"errors"

	"github.com/esn-project/esn/pkg/pubkey"
	"github.com/esn-project/esn/pkg/transport"
	"github.com/esn-project/esn/pkg/xmltree"
)

// answerPubkeyRequests makes conn answer the direct public key request of
// XEP-0189 §"Requesting a Key Directly" (an IQ-get carrying an empty
// <pubkey xmlns='urn:xmpp:pubkey:2'/>) with the account's current key, as
// esn keys publish would publish it. An account without a valid key answers
// item-not-found. The key is looked up per request, so a key generated or
// revoked while esn runs is answered correctly.
//
// Handlers run on the transport's dispatch goroutine, which may send.
func (a *app) answerPubkeyRequests(conn *transport.Conn, account string) {
	conn.OnIQ(func(iq *xmltree.Element) bool {
		if iq.Attribute("type") != "get" {
			return false
		}
		req := iq.Child(pubkey.NS, "pubkey")
		if req == nil || len(req.Children()) > 0 {
			return false
		}
		reply := a.pubkeyReply(iq, account)
		ctx, cancel := context.WithTimeout(context.Background(), a.s.Timeout)
		defer cancel()
		if err := conn.Send(ctx, reply); err != nil && !errors.Is(err, transport.ErrClosed) {
			a.ui.infof("answering a public key request from %q: %v", iq.Attribute("from"), err)
		}
		return true
	})
}

func (a *app) pubkeyReply(iq *xmltree.Element, account string) *xmltree.Element {
	ks, err := pubkey.OpenKeystore(a.s.StateDir)
	if err != nil {
		return transport.ErrorReply(iq, "wait", "internal-server-error")
	}
	k, err := ks.Current(account)
	if err != nil {
		return transport.ErrorReply(iq, "cancel", "item-not-found")
	}
	a.ui.infof("answered a public key request from %q", iq.Attribute("from"))
	return transport.ResultReply(iq, k.Public.Element())
}
