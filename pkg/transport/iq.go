package transport

import (
	"context"
	"errors"
	"fmt"

	"github.com/esn-project/esn/pkg/xmltree"
	"mellium.im/xmpp/jid"
)

// nsStanzas is the namespace of stanza error conditions (RFC 6120 §8.3.3).
const nsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"

// pendingIQ is an IQ request waiting for its reply.
type pendingIQ struct {
	to    string // the 'to' we sent ("" = our own account)
	reply chan *xmltree.Element
}

// SendIQ sends an IQ request (type get or set) and waits for the reply with
// the same id from the entity it was addressed to (RFC 6120 §8.2.3). A reply
// from anyone else is ignored, so a third party cannot answer for the
// addressee. An IQ without an id gets a random one; iq itself is not
// modified.
//
// It returns the result stanza. An error reply returns a *StanzaError; the
// end of ctx returns an error wrapping ctx.Err(); the end of the stream
// returns an error wrapping ErrClosed.
//
// SendIQ may be called from a handler: replies are matched by the read
// loop, not the dispatch goroutine.
func (c *Conn) SendIQ(ctx context.Context, iq *xmltree.Element) (*xmltree.Element, error) {
	if iq == nil || iq.Name.Local != "iq" {
		return nil, errors.New("transport: SendIQ needs an <iq/> element")
	}
	switch iq.Attribute("type") {
	case "get", "set":
	default:
		return nil, fmt.Errorf("transport: SendIQ needs an IQ of type get or set, not %q", iq.Attribute("type"))
	}
	out := shallowCopy(iq)
	id := out.Attribute("id")
	if id == "" {
		id = newID()
		out.SetAttr("id", id)
	}
	to := out.Attribute("to")
	if to != "" {
		if _, err := jid.Parse(to); err != nil {
			return nil, fmt.Errorf("transport: SendIQ: invalid 'to' %q: %w", to, err)
		}
	}
	p := &pendingIQ{to: to, reply: make(chan *xmltree.Element, 1)}
	c.mu.Lock()
	if _, dup := c.pending[id]; dup {
		c.mu.Unlock()
		return nil, fmt.Errorf("transport: SendIQ: id %q is already waiting for a reply", id)
	}
	c.pending[id] = p
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.pending[id] == p {
			delete(c.pending, id)
		}
		c.mu.Unlock()
	}()

	if err := c.Send(ctx, out); err != nil {
		return nil, err
	}
	select {
	case resp := <-p.reply:
		if resp.Attribute("type") == "error" {
			return nil, parseStanzaError(resp)
		}
		return resp, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("transport: waiting for the reply to IQ %s from %s: %w", id, describeTo(to), ctx.Err())
	case <-c.done:
		return nil, c.closedErr()
	}
}

func describeTo(to string) string {
	if to == "" {
		return "our server"
	}
	return to
}

// deliverReply hands an IQ result or error to the SendIQ call waiting for
// it. It reports whether the reply was accepted: the id must be pending and
// the sender must be the addressee.
func (c *Conn) deliverReply(el *xmltree.Element) bool {
	id := el.Attribute("id")
	c.mu.Lock()
	p, ok := c.pending[id]
	if ok && c.replyFromAddressee(p.to, el.Attribute("from")) {
		delete(c.pending, id)
	} else {
		ok = false
	}
	c.mu.Unlock()
	if ok {
		p.reply <- el // buffered, and each pendingIQ receives at most once
	}
	return ok
}

// replyFromAddressee reports whether a reply from 'from' answers a request
// sent to 'to'. A request without 'to' is handled by our server on behalf of
// our account (RFC 6120 §10.3), so its reply may come without 'from', from
// our bare or full JID, or from our domain. A request to our bare JID may be
// answered without 'from'. Otherwise 'from' must equal 'to'.
func (c *Conn) replyFromAddressee(to, from string) bool {
	local := c.local
	if to == "" {
		if from == "" {
			return true
		}
		f, err := jid.Parse(from)
		if err != nil {
			return false
		}
		return f.Equal(local.Bare()) || f.Equal(local) || f.Equal(local.Domain())
	}
	t, err := jid.Parse(to)
	if err != nil {
		return false
	}
	if from == "" {
		return t.Equal(local.Bare())
	}
	f, err := jid.Parse(from)
	if err != nil {
		return false
	}
	return f.Equal(t)
}

// parseStanzaError extracts the <error/> of an error stanza (RFC 6120 §8.3.2).
func parseStanzaError(st *xmltree.Element) *StanzaError {
	se := &StanzaError{Condition: "undefined-condition"}
	e := st.Child("", "error")
	if e == nil {
		return se
	}
	se.Type = e.Attribute("type")
	se.By = e.Attribute("by")
	cond := ""
	for _, c := range e.Children() {
		switch {
		case c.Name.Space != nsStanzas:
		case c.Name.Local == "text":
			se.Text = c.Text()
		case cond == "":
			cond = c.Name.Local
		}
	}
	if cond != "" {
		se.Condition = cond
	}
	return se
}

// errorReply builds the error reply to a request stanza (RFC 6120 §8.3.1).
func errorReply(req *xmltree.Element, typ, condition string) *xmltree.Element {
	reply := xmltree.New(nsClient, req.Name.Local)
	reply.SetAttr("type", "error")
	if id := req.Attribute("id"); id != "" {
		reply.SetAttr("id", id)
	}
	if from := req.Attribute("from"); from != "" {
		reply.SetAttr("to", from)
	}
	e := xmltree.New(nsClient, "error", attr("type", typ))
	e.AddChild(xmltree.New(nsStanzas, condition))
	return reply.AddChild(e)
}

// resultReply builds an IQ result answering req, carrying payload.
func resultReply(req *xmltree.Element, payload *xmltree.Element) *xmltree.Element {
	reply := iq("result", req.Attribute("from"), payload)
	reply.SetAttr("id", req.Attribute("id"))
	return reply
}
