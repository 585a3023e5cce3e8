package esn

// Namespaces and fixed strings. See [XEP-0116] §3, [XEP-0155] §4 and
// [XEP-0200] §4.
const (
	// NSESession is the disco feature of XEP-0116 and XEP-0217.
	NSESession = "http://www.xmpp.org/extensions/xep-0116.html#ns"
	// NSInit wraps the responder's identity form (4-message M4).
	NSInit = "http://www.xmpp.org/extensions/xep-0116.html#ns-init"
	// NSC is the namespace of the XEP-0200 <c/> element.
	NSC = "http://www.xmpp.org/extensions/xep-0200.html#ns"
	// NSSSN is the FORM_TYPE and disco feature of XEP-0155.
	NSSSN = "urn:xmpp:ssn"
	// NSFeatureNeg is the XEP-0020 feature negotiation wrapper.
	NSFeatureNeg = "http://jabber.org/protocol/feature-neg"
	// NSData is the XEP-0004 data forms namespace.
	NSData = "jabber:x:data"
	// NSStanzas holds the RFC 6120 stanza error conditions.
	NSStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
	// NSAMP is XEP-0079 Advanced Message Processing.
	NSAMP = "http://jabber.org/protocol/amp"
	// NSClient is the default namespace of client stanzas.
	NSClient = "jabber:client"
)

// Features lists the disco#info features an entity using this package
// advertises ([XEP-0116] §3, [XEP-0155] §9, XEP-0020 §2.2).
var Features = [...]string{NSESession, NSSSN, NSFeatureNeg}
