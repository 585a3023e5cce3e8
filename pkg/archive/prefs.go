package archive

import (
	"fmt"
	"strconv"
	"time"

	"github.com/esn-project/esn/pkg/xmltree"
)

// SaveMode is a Save Mode (XEP-0136 §2.2, 'save' on <default/>, <item/>
// and <session/>).
type SaveMode string

// Save Modes.
const (
	SaveBody    SaveMode = "body"    // save <body/> elements only
	SaveFalse   SaveMode = "false"   // save nothing
	SaveMessage SaveMode = "message" // save whole messages (clients are RECOMMENDED not to ask)
	SaveStream  SaveMode = "stream"  // save the whole stream
)

// ParseSaveMode parses a Save Mode.
func ParseSaveMode(s string) (SaveMode, error) {
	switch m := SaveMode(s); m {
	case SaveBody, SaveFalse, SaveMessage, SaveStream:
		return m, nil
	}
	return "", malformed("unknown save mode %q (want body, false, message or stream)", truncate(s))
}

// OTRMode is an OTR Mode (XEP-0136 §2.2, 'otr').
type OTRMode string

// OTR Modes.
const (
	OTRApprove OTRMode = "approve" // the user must approve OTR
	OTRConcede OTRMode = "concede" // OTR if the other side asks
	OTRForbid  OTRMode = "forbid"  // never OTR
	OTROppose  OTRMode = "oppose"  // not OTR, even if asked
	OTRPrefer  OTRMode = "prefer"  // OTR if possible
	OTRRequire OTRMode = "require" // always OTR; the save mode must then be false
)

// ParseOTRMode parses an OTR Mode.
func ParseOTRMode(s string) (OTRMode, error) {
	switch m := OTRMode(s); m {
	case OTRApprove, OTRConcede, OTRForbid, OTROppose, OTRPrefer, OTRRequire:
		return m, nil
	}
	return "", malformed("unknown otr mode %q (want approve, concede, forbid, oppose, prefer or require)", truncate(s))
}

// MethodType is an archiving method (XEP-0136 §2.2, <method type/>).
type MethodType string

// Archiving methods.
const (
	MethodAuto   MethodType = "auto"   // automatic archiving by the server
	MethodLocal  MethodType = "local"  // the client's own storage
	MethodManual MethodType = "manual" // uploads by the client
)

// MethodUse is how a method may be used (XEP-0136 §2.2, <method use/>).
type MethodUse string

// Method uses.
const (
	UseConcede MethodUse = "concede" // may be used if nothing else is available
	UseForbid  MethodUse = "forbid"  // must not be used
	UsePrefer  MethodUse = "prefer"  // should be used if available
)

// Scope is where an <auto/> setting applies (XEP-0136 §6).
type Scope string

// Scopes of <auto/>.
const (
	ScopeStream Scope = "stream" // this stream only (the default)
	ScopeGlobal Scope = "global" // also future streams
)

// Auto is the automatic archiving state of a stream (<auto/>).
type Auto struct {
	Save  bool
	Scope Scope // "" means ScopeStream
}

// DefaultPref is the user's default modes (<default/>). Expire 0 means
// none. Unset is the server's way of saying the user never set them.
type DefaultPref struct {
	OTR    OTRMode
	Save   SaveMode
	Expire time.Duration
	Unset  bool
}

// ItemPref is the modes for one contact (<item/>). JID may be a full JID,
// a bare JID (STRONGLY RECOMMENDED) or a domain; ExactMatch limits it to
// that exact string (XEP-0136 §10.1 JID matching). In a set, an empty OTR or
// Save leaves the server's value.
type ItemPref struct {
	JID        string
	OTR        OTRMode
	Save       SaveMode
	Expire     time.Duration
	ExactMatch bool
}

// SessionPref is the save mode for one chat session, keyed by thread
// (<session/>). Timeout is set by the server only.
type SessionPref struct {
	Thread  string
	Save    SaveMode
	Timeout time.Duration
}

// MethodPref is the use of one archiving method (<method/>).
type MethodPref struct {
	Type MethodType
	Use  MethodUse
}

// Prefs is a <pref/> element (XEP-0136 §2.2): a complete result, a push
// (only what changed), or a set request (what to change). Nil and empty
// fields are absent.
type Prefs struct {
	Auto     *Auto
	Default  *DefaultPref
	Items    []ItemPref
	Sessions []SessionPref
	Methods  []MethodPref
}

// Method returns the use of method t, and whether it is known.
func (p *Prefs) Method(t MethodType) (MethodUse, bool) {
	for _, m := range p.Methods {
		if m.Type == t {
			return m.Use, true
		}
	}
	return "", false
}

// Validate checks the client-side rules of a set request: OTR mode
// require needs save mode false (XEP-0136 §2.2, A-08), clients do not set
// a session timeout, <auto/> travels on its own, and values are
// known.
func (p *Prefs) Validate() error {
	if p.Auto != nil {
		return fmt.Errorf("archive: <auto/> is set with Client.SetAuto, not in <pref/>")
	}
	check := func(otr OTRMode, save SaveMode, what string) error {
		if otr != "" {
			if _, err := ParseOTRMode(string(otr)); err != nil {
				return err
			}
		}
		if save != "" {
			if _, err := ParseSaveMode(string(save)); err != nil {
				return err
			}
		}
		if otr == OTRRequire && save != SaveFalse {
			return fmt.Errorf("archive: %s: otr mode require needs save mode false", what)
		}
		return nil
	}
	if d := p.Default; d != nil {
		if d.OTR == "" || d.Save == "" {
			return fmt.Errorf("archive: <default/> needs both an otr and a save mode")
		}
		if err := check(d.OTR, d.Save, "default"); err != nil {
			return err
		}
	}
	for _, it := range p.Items {
		if _, err := checkJID("item jid", it.JID); err != nil {
			return err
		}
		if err := check(it.OTR, it.Save, "item "+it.JID); err != nil {
			return err
		}
	}
	for _, s := range p.Sessions {
		if s.Thread == "" || s.Save == "" {
			return fmt.Errorf("archive: <session/> needs a thread and a save mode")
		}
		if s.Timeout != 0 {
			return fmt.Errorf("archive: clients must not set a session timeout")
		}
		if err := check("", s.Save, "session"); err != nil {
			return err
		}
	}
	for _, m := range p.Methods {
		if err := checkMethod(m); err != nil {
			return err
		}
	}
	if p.Default == nil && len(p.Items) == 0 && len(p.Sessions) == 0 && len(p.Methods) == 0 {
		return fmt.Errorf("archive: nothing to set")
	}
	return nil
}

func checkMethod(m MethodPref) error {
	switch m.Type {
	case MethodAuto, MethodLocal, MethodManual:
	default:
		return malformed("unknown method type %q", truncate(string(m.Type)))
	}
	switch m.Use {
	case UseConcede, UseForbid, UsePrefer:
	default:
		return malformed("unknown method use %q", truncate(string(m.Use)))
	}
	return nil
}

func secondsAttr(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return strconv.FormatInt(int64(d/time.Second), 10)
}

// Element returns the <pref/> element.
func (p *Prefs) Element() *xmltree.Element {
	e := xmltree.New(NS, "pref")
	if a := p.Auto; a != nil {
		e.AddChild(el(NS, "auto", attr("save", strconv.FormatBool(a.Save)), attr("scope", string(a.Scope))))
	}
	if d := p.Default; d != nil {
		c := el(NS, "default", attr("otr", string(d.OTR)), attr("save", string(d.Save)), attr("expire", secondsAttr(d.Expire)))
		if d.Unset {
			c.SetAttr("unset", "true")
		}
		e.AddChild(c)
	}
	for _, it := range p.Items {
		c := el(NS, "item", attr("jid", it.JID), attr("otr", string(it.OTR)), attr("save", string(it.Save)), attr("expire", secondsAttr(it.Expire)))
		if it.ExactMatch {
			c.SetAttr("exactmatch", "true")
		}
		e.AddChild(c)
	}
	for _, s := range p.Sessions {
		e.AddChild(el(NS, "session", attr("thread", s.Thread), attr("save", string(s.Save)), attr("timeout", secondsAttr(s.Timeout))))
	}
	for _, m := range p.Methods {
		e.AddChild(el(NS, "method", attr("type", string(m.Type)), attr("use", string(m.Use))))
	}
	return e
}

// ParsePrefs parses a <pref xmlns='urn:xmpp:archive'/> element strictly:
// every attribute value must be one the XEP defines, and unknown children
// are refused. It accepts partial preferences (pushes); [Prefs.Complete]
// checks a get result.
func ParsePrefs(e *xmltree.Element) (*Prefs, error) {
	if e == nil || e.Name.Space != NS || e.Name.Local != "pref" {
		return nil, malformed("want <pref xmlns=%q/>", NS)
	}
	p := &Prefs{}
	kids := e.Children()
	if len(kids) > maxPrefItems {
		return nil, tooLarge("%d preferences", len(kids))
	}
	for _, c := range kids {
		if c.Name.Space != NS {
			return nil, malformed("unexpected <%s xmlns=%q/> in <pref/>", c.Name.Local, c.Name.Space)
		}
		switch c.Name.Local {
		case "auto":
			if p.Auto != nil {
				return nil, malformed("two <auto/> elements")
			}
			save, ok := parseBool(c.Attribute("save"))
			if !ok {
				return nil, malformed("<auto/> needs a boolean save, got %q", truncate(c.Attribute("save")))
			}
			a := &Auto{Save: save, Scope: ScopeStream}
			if s, ok := c.AttrValue("scope"); ok {
				if s != string(ScopeStream) && s != string(ScopeGlobal) {
					return nil, malformed("<auto/> scope %q", truncate(s))
				}
				a.Scope = Scope(s)
			}
			p.Auto = a
		case "default":
			if p.Default != nil {
				return nil, malformed("two <default/> elements")
			}
			otr, err := ParseOTRMode(c.Attribute("otr"))
			if err != nil {
				return nil, err
			}
			save, err := ParseSaveMode(c.Attribute("save"))
			if err != nil {
				return nil, err
			}
			exp, err := expireAttr(c)
			if err != nil {
				return nil, err
			}
			d := &DefaultPref{OTR: otr, Save: save, Expire: exp}
			if u, ok := c.AttrValue("unset"); ok {
				if d.Unset, ok = parseBool(u); !ok {
					return nil, malformed("<default/> unset %q", truncate(u))
				}
			}
			p.Default = d
		case "item":
			j, err := checkJID("item jid", c.Attribute("jid"))
			if err != nil {
				return nil, err
			}
			it := ItemPref{JID: j}
			if v, ok := c.AttrValue("otr"); ok {
				if it.OTR, err = ParseOTRMode(v); err != nil {
					return nil, err
				}
			}
			if v, ok := c.AttrValue("save"); ok {
				if it.Save, err = ParseSaveMode(v); err != nil {
					return nil, err
				}
			}
			if it.Expire, err = expireAttr(c); err != nil {
				return nil, err
			}
			if v, ok := c.AttrValue("exactmatch"); ok {
				if it.ExactMatch, ok = parseBool(v); !ok {
					return nil, malformed("<item/> exactmatch %q", truncate(v))
				}
			}
			p.Items = append(p.Items, it)
		case "session":
			s := SessionPref{Thread: c.Attribute("thread")}
			if s.Thread == "" {
				return nil, malformed("<session/> without thread")
			}
			if err := checkAttr("thread", s.Thread); err != nil {
				return nil, err
			}
			var err error
			if s.Save, err = ParseSaveMode(c.Attribute("save")); err != nil {
				return nil, err
			}
			if v, ok := c.AttrValue("timeout"); ok {
				if s.Timeout, err = seconds("session timeout", v); err != nil {
					return nil, err
				}
			}
			// 'otr' on <session/> appears in the examples only (digest §8.6 #55): ignored.
			p.Sessions = append(p.Sessions, s)
		case "method":
			m := MethodPref{Type: MethodType(c.Attribute("type")), Use: MethodUse(c.Attribute("use"))}
			if err := checkMethod(m); err != nil {
				return nil, err
			}
			p.Methods = append(p.Methods, m)
		default:
			return nil, malformed("unexpected <%s/> in <pref/>", c.Name.Local)
		}
	}
	return p, nil
}

// Complete checks what a <pref/> get result MUST hold (XEP-0136 §2.3,
// <auto/>, <default/>, and the three methods.
func (p *Prefs) Complete() error {
	if p.Auto == nil || p.Default == nil {
		return malformed("the preferences lack <auto/> or <default/>")
	}
	for _, t := range []MethodType{MethodAuto, MethodLocal, MethodManual} {
		if _, ok := p.Method(t); !ok {
			return malformed("the preferences lack <method type=%q/>", t)
		}
	}
	return nil
}

func expireAttr(c *xmltree.Element) (time.Duration, error) {
	v, ok := c.AttrValue("expire")
	if !ok {
		return 0, nil
	}
	return seconds("expire", v)
}

// seconds parses a number of seconds into a Duration.
func seconds(what, v string) (time.Duration, error) {
	n, err := nonNegInt(what, v)
	if err != nil {
		return 0, err
	}
	if n > int64(1<<62)/int64(time.Second) {
		return 0, malformed("%s %q out of range", what, truncate(v))
	}
	return time.Duration(n) * time.Second, nil
}
