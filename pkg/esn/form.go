package esn

import (
	"encoding/xml"
	"errors"
	"fmt"
	"slices"

	"github.com/esn-project/esn/pkg/xmltree"
)

// Form types of XEP-0004 §3.1 as used by XEP-0155.
const (
	FormTypeForm   = "form"
	FormTypeSubmit = "submit"
	FormTypeResult = "result"
	FormTypeCancel = "cancel"
)

// Option is one <option/> of a list field.
type Option struct {
	Label string
	Value string
}

// Field is one <field/> of a data form (XEP-0004 §3.2). Fields we build
// serialize their children in the order values, options, required, the
// order XEP-0116's examples use.
type Field struct {
	Var      string
	Type     string // "" when absent (submit and result forms)
	Label    string
	Desc     string
	Required bool
	Values   []string
	Options  []Option
}

// Value returns the first value, or "".
func (f *Field) Value() string {
	if f == nil || len(f.Values) == 0 {
		return ""
	}
	return f.Values[0]
}

// OptionValues returns the values of the options in order.
func (f *Field) OptionValues() []string {
	if f == nil {
		return nil
	}
	out := make([]string, len(f.Options))
	for i, o := range f.Options {
		out[i] = o.Value
	}
	return out
}

// Form is a XEP-0004 data form. A Form built by this package is serialized
// by [Form.Element]; a Form returned by [ParseForm] keeps the element it was
// parsed from, and [Form.Norm] normalizes that element, never a
// re-serialization of the struct (digest §2.3: the receiver normalizes the
// form as received).
type Form struct {
	Type   string
	Fields []Field

	// el is the <x/> element as sent (after Element) or as received
	// (after ParseForm).
	el *xmltree.Element
}

// NewForm returns a form of the given type whose first field is the hidden
// FORM_TYPE urn:xmpp:ssn ([XEP-0155] §4). In a "form" the field carries
// type='hidden'; submit and result forms omit field types, as in XEP-0217.
func NewForm(typ string) *Form {
	f := &Form{Type: typ}
	ft := Field{Var: "FORM_TYPE", Values: []string{NSSSN}}
	if typ == FormTypeForm {
		ft.Type = "hidden"
	}
	f.Fields = append(f.Fields, ft)
	return f
}

// Add appends a field and returns f for chaining.
func (f *Form) Add(fl Field) *Form {
	f.Fields = append(f.Fields, fl)
	f.el = nil
	return f
}

// Field returns the field with the given var, or nil.
func (f *Form) Field(v string) *Field {
	for i := range f.Fields {
		if f.Fields[i].Var == v {
			return &f.Fields[i]
		}
	}
	return nil
}

// Value returns the first value of the field with the given var and
// whether the field exists.
func (f *Form) Value(v string) (string, bool) {
	fl := f.Field(v)
	if fl == nil {
		return "", false
	}
	return fl.Value(), true
}

// FormType returns the value of the FORM_TYPE field.
func (f *Form) FormType() string {
	v, _ := f.Value("FORM_TYPE")
	return v
}

// Element returns the <x xmlns='jabber:x:data'/> element for f. The same
// element is returned until f is modified, so the bytes a MAC covers are the
// bytes sent.
func (f *Form) Element() *xmltree.Element {
	if f.el != nil {
		return f.el
	}
	x := xmltree.New(NSData, "x", xml.Attr{Name: xml.Name{Local: "type"}, Value: f.Type})
	for _, fl := range f.Fields {
		fe := xmltree.New(NSData, "field")
		if fl.Label != "" {
			fe.SetAttr("label", fl.Label)
		}
		if fl.Type != "" {
			fe.SetAttr("type", fl.Type)
		}
		if fl.Var != "" {
			fe.SetAttr("var", fl.Var)
		}
		if fl.Desc != "" {
			fe.AddChild(xmltree.New(NSData, "desc").AddText(fl.Desc))
		}
		for _, v := range fl.Values {
			fe.AddChild(textElem(NSData, "value", v))
		}
		for _, o := range fl.Options {
			oe := xmltree.New(NSData, "option")
			if o.Label != "" {
				oe.SetAttr("label", o.Label)
			}
			oe.AddChild(textElem(NSData, "value", o.Value))
			fe.AddChild(oe)
		}
		if fl.Required {
			fe.AddChild(xmltree.New(NSData, "required"))
		}
		x.AddChild(fe)
	}
	f.el = x
	return x
}

func textElem(space, local, text string) *xmltree.Element {
	e := xmltree.New(space, local)
	if text != "" {
		e.AddText(text)
	}
	return e
}

// Norm returns [NormContent] of the form's element (as built or as
// received), excluding the fields named in exclude.
func (f *Form) Norm(exclude ...string) []byte {
	return NormContent(f.Element(), exclude...)
}

// FormLimits bound what [ParseForm] accepts. Zero fields take the defaults.
type FormLimits struct {
	MaxFields   int // default 64
	MaxValues   int // values per field, default 64
	MaxOptions  int // options per field, default 32
	MaxValueLen int // bytes per value, label or desc, default 4096
}

func (l FormLimits) withDefaults() FormLimits {
	if l.MaxFields <= 0 {
		l.MaxFields = 64
	}
	if l.MaxValues <= 0 {
		l.MaxValues = 64
	}
	if l.MaxOptions <= 0 {
		l.MaxOptions = 32
	}
	if l.MaxValueLen <= 0 {
		l.MaxValueLen = 4096
	}
	return l
}

// ErrMalformedForm is wrapped by every [ParseForm] failure.
var ErrMalformedForm = errors.New("esn: malformed data form")

// FormError reports a malformed form; Field is the offending field var, if
// any, and is what a not-acceptable error names.
type FormError struct {
	Field  string
	Reason string
}

func (e *FormError) Error() string {
	if e.Field == "" {
		return "esn: malformed data form: " + e.Reason
	}
	return fmt.Sprintf("esn: malformed data form: field %q: %s", e.Field, e.Reason)
}

func (e *FormError) Unwrap() error { return ErrMalformedForm }

var formTypes = []string{FormTypeForm, FormTypeSubmit, FormTypeResult, FormTypeCancel}

var fieldTypes = []string{"", "boolean", "fixed", "hidden", "jid-multi", "jid-single",
	"list-multi", "list-single", "text-multi", "text-private", "text-single"}

// ParseForm parses a <x xmlns='jabber:x:data'/> element strictly: only
// <title/>, <instructions/> and <field/> children; fields only with
// <desc/>, <required/>, <value/> and <option/>; no duplicate vars; every
// count and length within lim. The returned form keeps x for [Form.Norm].
func ParseForm(x *xmltree.Element, lim FormLimits) (*Form, error) {
	lim = lim.withDefaults()
	if x == nil || x.Name.Space != NSData || x.Name.Local != "x" {
		return nil, &FormError{Reason: "not a jabber:x:data <x/> element"}
	}
	f := &Form{Type: x.Attribute("type"), el: x}
	if !slices.Contains(formTypes, f.Type) {
		return nil, &FormError{Reason: fmt.Sprintf("form type %q", f.Type)}
	}
	for _, n := range x.Nodes {
		c := n.Element
		if c == nil {
			if !isXMLSpace(n.Text) {
				return nil, &FormError{Reason: "character data between fields"}
			}
			continue
		}
		if c.Name.Space != NSData {
			return nil, &FormError{Reason: fmt.Sprintf("child in namespace %q", c.Name.Space)}
		}
		switch c.Name.Local {
		case "title", "instructions":
			if err := leafText(c, lim); err != nil {
				return nil, err
			}
		case "field":
			if len(f.Fields) >= lim.MaxFields {
				return nil, &FormError{Reason: fmt.Sprintf("more than %d fields", lim.MaxFields)}
			}
			fl, err := parseField(c, lim)
			if err != nil {
				return nil, err
			}
			if fl.Var != "" && f.Field(fl.Var) != nil {
				return nil, &FormError{Field: fl.Var, Reason: "duplicate field"}
			}
			f.Fields = append(f.Fields, fl)
		default:
			return nil, &FormError{Reason: fmt.Sprintf("unexpected <%s/>", c.Name.Local)}
		}
	}
	return f, nil
}

func parseField(c *xmltree.Element, lim FormLimits) (Field, error) {
	fl := Field{Var: c.Attribute("var"), Type: c.Attribute("type"), Label: c.Attribute("label")}
	if len(fl.Var) > lim.MaxValueLen || len(fl.Label) > lim.MaxValueLen {
		return fl, &FormError{Field: truncate(fl.Var), Reason: "attribute too long"}
	}
	if !slices.Contains(fieldTypes, fl.Type) {
		return fl, &FormError{Field: fl.Var, Reason: fmt.Sprintf("field type %q", fl.Type)}
	}
	if fl.Var == "" && fl.Type != "fixed" {
		return fl, &FormError{Reason: "field without var"}
	}
	for _, n := range c.Nodes {
		e := n.Element
		if e == nil {
			if !isXMLSpace(n.Text) {
				return fl, &FormError{Field: fl.Var, Reason: "character data inside <field/>"}
			}
			continue
		}
		if e.Name.Space != NSData {
			return fl, &FormError{Field: fl.Var, Reason: fmt.Sprintf("child in namespace %q", e.Name.Space)}
		}
		switch e.Name.Local {
		case "desc":
			if err := leafText(e, lim); err != nil {
				return fl, err
			}
			fl.Desc = e.Text()
		case "required":
			if len(e.Nodes) != 0 || fl.Required {
				return fl, &FormError{Field: fl.Var, Reason: "bad <required/>"}
			}
			fl.Required = true
		case "value":
			if len(fl.Values) >= lim.MaxValues {
				return fl, &FormError{Field: fl.Var, Reason: fmt.Sprintf("more than %d values", lim.MaxValues)}
			}
			if err := leafText(e, lim); err != nil {
				return fl, &FormError{Field: fl.Var, Reason: "bad <value/>"}
			}
			fl.Values = append(fl.Values, e.Text())
		case "option":
			if len(fl.Options) >= lim.MaxOptions {
				return fl, &FormError{Field: fl.Var, Reason: fmt.Sprintf("more than %d options", lim.MaxOptions)}
			}
			o, err := parseOption(e, lim)
			if err != nil {
				return fl, &FormError{Field: fl.Var, Reason: err.Error()}
			}
			fl.Options = append(fl.Options, o)
		default:
			return fl, &FormError{Field: fl.Var, Reason: fmt.Sprintf("unexpected <%s/>", e.Name.Local)}
		}
	}
	return fl, nil
}

func parseOption(e *xmltree.Element, lim FormLimits) (Option, error) {
	o := Option{Label: e.Attribute("label")}
	if len(o.Label) > lim.MaxValueLen {
		return o, errors.New("option label too long")
	}
	seen := false
	for _, n := range e.Nodes {
		v := n.Element
		if v == nil {
			if !isXMLSpace(n.Text) {
				return o, errors.New("character data inside <option/>")
			}
			continue
		}
		if v.Name.Space != NSData || v.Name.Local != "value" || seen {
			return o, errors.New("an <option/> holds exactly one <value/>")
		}
		if err := leafText(v, lim); err != nil {
			return o, errors.New("bad option <value/>")
		}
		o.Value = v.Text()
		seen = true
	}
	if !seen {
		return o, errors.New("<option/> without <value/>")
	}
	return o, nil
}

// leafText checks that e holds only character data within the length bound.
func leafText(e *xmltree.Element, lim FormLimits) error {
	n := 0
	for _, c := range e.Nodes {
		if c.Element != nil {
			return &FormError{Reason: fmt.Sprintf("element inside <%s/>", e.Name.Local)}
		}
		n += len(c.Text)
	}
	if n > lim.MaxValueLen {
		return &FormError{Reason: fmt.Sprintf("<%s/> longer than %d bytes", e.Name.Local, lim.MaxValueLen)}
	}
	return nil
}

func isXMLSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
		default:
			return false
		}
	}
	return true
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}

// ParseBool parses an xs:boolean ("1", "true", "0", "false"), as XEP-0004
// §3.3 requires receivers to accept.
func ParseBool(s string) (v, ok bool) {
	switch s {
	case "1", "true":
		return true, true
	case "0", "false":
		return false, true
	}
	return false, false
}
