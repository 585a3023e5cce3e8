package archive

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestParseSpecPrefs(t *testing.T) {
	p, err := ParsePrefs(mustParse(t, string(readTestdata(t, "spec-pref.xml"))))
	if err != nil {
		t.Fatal(err)
	}
	want := &Prefs{
		Auto:    &Auto{Save: false, Scope: ScopeStream},
		Default: &DefaultPref{OTR: OTRConcede, Save: SaveBody, Expire: 31536000 * time.Second},
		Items: []ItemPref{
			{JID: "romeo@montague.net", OTR: OTRConcede, Save: SaveFalse},
			{JID: "montague.net", OTR: OTRForbid, Save: SaveMessage, Expire: 604800 * time.Second, ExactMatch: true},
		},
		Sessions: []SessionPref{{Thread: "ffd7076498744578d10edabfe7f4a866", Save: SaveBody, Timeout: time.Hour}},
		Methods:  []MethodPref{{MethodAuto, UseConcede}, {MethodLocal, UseForbid}, {MethodManual, UsePrefer}},
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("got %+v\nwant %+v", p, want)
	}
	if err := p.Complete(); err != nil {
		t.Error(err)
	}
	// Round trip.
	back, err := ParsePrefs(mustParse(t, p.Element().String()))
	if err != nil || !reflect.DeepEqual(back, want) {
		t.Errorf("round trip: %v\n%+v", err, back)
	}
}

func TestParsePrefsRejects(t *testing.T) {
	for i, x := range []string{
		`<pref xmlns='urn:xmpp:archive'><auto/></pref>`,
		`<pref xmlns='urn:xmpp:archive'><auto save='maybe'/></pref>`,
		`<pref xmlns='urn:xmpp:archive'><auto save='1' scope='forever'/></pref>`,
		`<pref xmlns='urn:xmpp:archive'><default otr='concede'/></pref>`,
		`<pref xmlns='urn:xmpp:archive'><default otr='sometimes' save='body'/></pref>`,
		`<pref xmlns='urn:xmpp:archive'><default otr='concede' save='all'/></pref>`,
		`<pref xmlns='urn:xmpp:archive'><default otr='concede' save='body' expire='-5'/></pref>`,
		`<pref xmlns='urn:xmpp:archive'><default otr='concede' save='body' unset='perhaps'/></pref>`,
		`<pref xmlns='urn:xmpp:archive'><item otr='concede' save='body'/></pref>`,
		`<pref xmlns='urn:xmpp:archive'><item jid='a@b' exactmatch='x'/></pref>`,
		`<pref xmlns='urn:xmpp:archive'><session save='body'/></pref>`,
		`<pref xmlns='urn:xmpp:archive'><session thread='t' save='body' timeout='1h'/></pref>`,
		`<pref xmlns='urn:xmpp:archive'><method type='cloud' use='prefer'/></pref>`,
		`<pref xmlns='urn:xmpp:archive'><method type='auto' use='always'/></pref>`,
		`<pref xmlns='urn:xmpp:archive'><frobnicate/></pref>`,
		`<pref xmlns='urn:xmpp:archive'><auto save='1'/><auto save='0'/></pref>`,
		`<pref xmlns='urn:xmpp:archive:data'/>`,
	} {
		if _, err := ParsePrefs(mustParse(t, x)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%d: got %v", i, err)
		}
	}
	// A push may be partial; a get result must be complete.
	p, err := ParsePrefs(mustParse(t, `<pref xmlns='urn:xmpp:archive'><default otr='concede' save='false'/></pref>`))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Complete(); !errors.Is(err, ErrMalformed) {
		t.Errorf("incomplete prefs: %v", err)
	}
}

func TestPrefsValidate(t *testing.T) {
	for i, tc := range []struct {
		p  Prefs
		ok bool
	}{
		0:  {Prefs{Default: &DefaultPref{OTR: OTRPrefer, Save: SaveBody}}, true},
		1:  {Prefs{Default: &DefaultPref{OTR: OTRRequire, Save: SaveBody}}, false},
		2:  {Prefs{Default: &DefaultPref{OTR: OTRRequire, Save: SaveFalse}}, true},
		3:  {Prefs{Default: &DefaultPref{Save: SaveBody}}, false},
		4:  {Prefs{Items: []ItemPref{{JID: "romeo@montague.net", Save: SaveFalse}}}, true},
		5:  {Prefs{Items: []ItemPref{{JID: "", Save: SaveFalse}}}, false},
		6:  {Prefs{Items: []ItemPref{{JID: "a@b", OTR: OTRRequire}}}, false},
		7:  {Prefs{Sessions: []SessionPref{{Thread: "t", Save: SaveFalse}}}, true},
		8:  {Prefs{Sessions: []SessionPref{{Thread: "t", Save: SaveFalse, Timeout: time.Hour}}}, false},
		9:  {Prefs{Methods: []MethodPref{{MethodManual, UsePrefer}}}, true},
		10: {Prefs{Methods: []MethodPref{{"cloud", UsePrefer}}}, false},
		11: {Prefs{}, false},
		12: {Prefs{Auto: &Auto{Save: true}}, false},
		13: {Prefs{Default: &DefaultPref{OTR: "x", Save: SaveBody}}, false},
	} {
		err := tc.p.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%d: %v", i, err)
		}
	}
}

func TestParsePush(t *testing.T) {
	for i, tc := range []struct {
		xml  string
		want *Push
		err  bool
	}{
		{`<iq type='set' id='p'><pref xmlns='urn:xmpp:archive'><item jid='romeo@montague.net' save='body' otr='concede'/></pref></iq>`,
			&Push{Prefs: &Prefs{Items: []ItemPref{{JID: "romeo@montague.net", Save: SaveBody, OTR: OTRConcede}}}}, false},
		{`<iq type='set' id='p'><itemremove xmlns='urn:xmpp:archive'><item jid='benvolio@montague.net'/></itemremove></iq>`,
			&Push{RemovedItems: []string{"benvolio@montague.net"}}, false},
		{`<iq type='set' id='p'><sessionremove xmlns='urn:xmpp:archive'><session thread='t1'/></sessionremove></iq>`,
			&Push{RemovedSessions: []string{"t1"}}, false},
		{`<iq type='get' id='p'><pref xmlns='urn:xmpp:archive'/></iq>`, nil, false},
		{`<iq type='set' id='p'><query xmlns='jabber:iq:roster'/></iq>`, nil, false},
		{`<iq type='set' id='p'><pref xmlns='urn:xmpp:archive'><auto save='x'/></pref></iq>`, nil, true},
		{`<iq type='set' id='p'><itemremove xmlns='urn:xmpp:archive'><item/></itemremove></iq>`, nil, true},
	} {
		got, err := ParsePush(mustParse(t, tc.xml))
		if (err != nil) != tc.err || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%d: got %+v, %v", i, got, err)
		}
	}
}
