package transport

import "github.com/esn-project/esn/pkg/xmltree"

// ResultReply builds the IQ result answering the request req (addressed
// back to its sender, with its id), carrying payload (which may be nil).
// Handlers registered with [Conn.OnIQ] send it with [Conn.Send].
func ResultReply(req, payload *xmltree.Element) *xmltree.Element {
	return resultReply(req, payload)
}

// ErrorReply builds the error reply to the request stanza req with the
// given error type ("cancel", "modify", "auth", "wait") and defined
// condition of RFC 6120 §8.3.3 (e.g. "item-not-found").
func ErrorReply(req *xmltree.Element, typ, condition string) *xmltree.Element {
	return errorReply(req, typ, condition)
}
