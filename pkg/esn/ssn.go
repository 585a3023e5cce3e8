package esn

import (
	"encoding/xml"
	"errors"
	"fmt"

	"github.com/esn-project/esn/pkg/xmltree"
)

// kind classifies a stanza-session message (XEP-0155 §4, digest §2.1).
type kind int

const (
	kindNone             kind = iota
	kindRequest               // form with accept (M1)
	kindAccept                // submit accept=1 (M2)
	kindDecline               // submit accept=0
	kindComplete              // result accept=1 (M3)
	kindCancel                // result accept=0
	kindIdentity              // <init/> result (M4)
	kindRenegotiate           // form renegotiate=1
	kindRenegotiateReply      // submit renegotiate=0/1
	kindContinue              // submit continue=R
	kindContinueAck           // result continue=R
	kindTerminate             // submit terminate=1
	kindTerminateAck          // result terminate=1
	kindError                 // message type=error
	kindEncrypted             // a XEP-0200 <c/> and no form
)

var kindNames = [...]string{"none", "request", "accept", "decline", "complete", "cancel", "identity",
	"renegotiate", "renegotiate-reply", "continue", "continue-ack", "terminate", "terminate-ack", "error", "encrypted"}

func (k kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// inbound is a parsed incoming message.
type inbound struct {
	st        *xmltree.Element
	from      string
	thread    string
	kind      kind
	form      *Form
	wrapper   *xmltree.Element // <feature/> or <init/>
	c         *xmltree.Element // top-level XEP-0200 <c/>
	errCond   string
	errFields []string
}

var errNoForm = errors.New("esn: no stanza-session form")

// parseInbound classifies a <message/>. It returns ErrNotForUs for stanzas
// outside the protocol and a *FormError for malformed forms.
func parseInbound(st *xmltree.Element, lim FormLimits) (*inbound, error) {
	if st == nil || st.Name.Local != "message" {
		return nil, ErrNotForUs
	}
	in := &inbound{st: st, from: st.Attribute("from")}
	var threads int
	for _, c := range st.Children() {
		switch {
		case c.Name.Local == "thread" && (c.Name.Space == NSClient || c.Name.Space == ""):
			threads++
			in.thread = c.Text()
		case c.Name.Space == NSC && c.Name.Local == "c":
			if in.c != nil {
				return nil, errors.New("esn: more than one <c/> in a stanza")
			}
			in.c = c
		case (c.Name.Space == NSFeatureNeg && c.Name.Local == "feature") || (c.Name.Space == NSInit && c.Name.Local == "init"):
			if in.wrapper != nil {
				return nil, errors.New("esn: more than one negotiation wrapper")
			}
			in.wrapper = c
		}
	}
	if threads != 1 || in.thread == "" {
		return nil, ErrNotForUs
	}
	if st.Attribute("type") == "error" {
		in.kind = kindError
		if e := st.Child("", "error"); e != nil {
			for _, c := range e.Children() {
				if c.Name.Space == NSStanzas && c.Name.Local != "text" {
					in.errCond = c.Name.Local
				}
				if c.Name.Space == NSFeatureNeg && c.Name.Local == "feature" {
					for _, fl := range c.Children() {
						if fl.Name.Local == "field" && len(in.errFields) < 64 {
							in.errFields = append(in.errFields, truncate(fl.Attribute("var")))
						}
					}
				}
			}
		}
		return in, nil
	}
	if in.wrapper == nil {
		if in.c != nil {
			in.kind = kindEncrypted
		}
		return in, nil // kindNone: a plain message of the thread
	}
	k, f, err := classifyWrapper(in.wrapper, lim)
	if err != nil {
		return in, err
	}
	in.kind, in.form = k, f
	return in, nil
}

// classifyWrapper parses the single form inside a <feature/> or <init/>
// and says which SSN message it is (table of digest §2.1).
func classifyWrapper(w *xmltree.Element, lim FormLimits) (kind, *Form, error) {
	var x *xmltree.Element
	for _, c := range w.Children() {
		if c.Name.Space == NSData && c.Name.Local == "x" {
			if x != nil {
				return kindNone, nil, &FormError{Reason: "more than one form"}
			}
			x = c
		} else {
			return kindNone, nil, &FormError{Reason: fmt.Sprintf("unexpected <%s/> in <%s/>", truncate(c.Name.Local), w.Name.Local)}
		}
	}
	if x == nil {
		return kindNone, nil, errNoForm
	}
	f, err := ParseForm(x, lim)
	if err != nil {
		return kindNone, nil, err
	}
	if f.FormType() != NSSSN {
		return kindNone, f, &FormError{Field: "FORM_TYPE", Reason: "not urn:xmpp:ssn"}
	}
	boolField := func(v string) (val, present bool, err error) {
		fl := f.Field(v)
		if fl == nil {
			return false, false, nil
		}
		if len(fl.Values) != 1 {
			if f.Type == FormTypeForm && len(fl.Values) == 0 {
				return false, true, nil
			}
			return false, true, &FormError{Field: v, Reason: "boolean needs one value"}
		}
		b, ok := ParseBool(fl.Values[0])
		if !ok {
			return false, true, &FormError{Field: v, Reason: "not a boolean"}
		}
		return b, true, nil
	}
	if w.Name.Space == NSInit {
		if f.Type != FormTypeResult {
			return kindNone, f, &FormError{Reason: "<init/> form must be a result"}
		}
		return kindIdentity, f, nil
	}
	accept, hasAccept, err := boolField("accept")
	if err != nil {
		return kindNone, f, err
	}
	_, hasReneg, err := boolField("renegotiate")
	if err != nil {
		return kindNone, f, err
	}
	term, hasTerm, err := boolField("terminate")
	if err != nil {
		return kindNone, f, err
	}
	_, hasCont := f.Value("continue")
	switch f.Type {
	case FormTypeForm:
		switch {
		case hasAccept && !hasReneg:
			return kindRequest, f, nil
		case hasReneg && !hasAccept:
			return kindRenegotiate, f, nil
		}
	case FormTypeSubmit:
		switch {
		case hasTerm && term:
			return kindTerminate, f, nil
		case hasCont:
			return kindContinue, f, nil
		case hasReneg:
			return kindRenegotiateReply, f, nil
		case hasAccept && accept:
			return kindAccept, f, nil
		case hasAccept:
			return kindDecline, f, nil
		}
	case FormTypeResult:
		switch {
		case hasTerm && term:
			return kindTerminateAck, f, nil
		case hasCont:
			return kindContinueAck, f, nil
		case hasAccept && accept:
			return kindComplete, f, nil
		case hasAccept:
			return kindCancel, f, nil
		}
	}
	return kindNone, f, &FormError{Reason: fmt.Sprintf("%s form is no stanza-session message", f.Type)}
}

// newMessage returns <message xmlns='jabber:client' to from type><thread/>.
// The message type is "normal" for negotiation messages ([XEP-0155] §4.1);
// encrypted stanzas reuse the caller's type.
func newMessage(from, to, typ, thread string) *xmltree.Element {
	m := xmltree.New(NSClient, "message")
	if from != "" {
		m.SetAttr("from", from)
	}
	m.SetAttr("to", to)
	if typ != "" {
		m.SetAttr("type", typ)
	}
	m.AddChild(textElem(NSClient, "thread", thread))
	return m
}

// featureWrap returns <feature xmlns='…feature-neg'><x/></feature>.
func featureWrap(f *Form) *xmltree.Element {
	return xmltree.New(NSFeatureNeg, "feature").AddChild(f.Element())
}

// ampNoStore is the XEP-0079 rule that keeps the server from storing M1
// offline ([XEP-0155] §4.2, [XEP-0116] §4.3).
func ampNoStore() *xmltree.Element {
	return xmltree.New(NSAMP, "amp", xml.Attr{Name: xml.Name{Local: "per-hop"}, Value: "true"}).
		AddChild(xmltree.New(NSAMP, "rule",
			xml.Attr{Name: xml.Name{Local: "action"}, Value: "drop"},
			xml.Attr{Name: xml.Name{Local: "condition"}, Value: "deliver"},
			xml.Attr{Name: xml.Name{Local: "value"}, Value: "stored"}))
}

// errorMessage builds the negotiation error of [XEP-0155] §6 / [XEP-0116]
// §4.4: the condition, type cancel (AMB-13), and the offending fields in a
// <feature/>. echo, if not nil, is the received wrapper, echoed as the
// specs' examples do.
func errorMessage(from, to, thread, cond string, fields []string, echo *xmltree.Element) *xmltree.Element {
	m := newMessage(from, to, "error", thread)
	if echo != nil {
		m.AddChild(echo)
	}
	e := xmltree.New(NSClient, "error", xml.Attr{Name: xml.Name{Local: "type"}, Value: "cancel"})
	e.AddChild(xmltree.New(NSStanzas, cond))
	if len(fields) > 0 {
		fe := xmltree.New(NSFeatureNeg, "feature")
		for _, v := range fields {
			fe.AddChild(xmltree.New(NSFeatureNeg, "field", xml.Attr{Name: xml.Name{Local: "var"}, Value: v}))
		}
		e.AddChild(fe)
	}
	m.AddChild(e)
	return m
}

// simpleForm builds the short SSN forms: decline, cancel, terminate and
// their acknowledgements, renegotiation and continue answers.
func simpleForm(typ string, fields ...Field) *Form {
	f := NewForm(typ)
	for _, fl := range fields {
		f.Add(fl)
	}
	return f
}

func boolField(v string, b bool) Field {
	s := "0"
	if b {
		s = "1"
	}
	return Field{Var: v, Values: []string{s}}
}
