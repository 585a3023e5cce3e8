package archive

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestCollectionRoundTrip(t *testing.T) {
	form := mustParse(t, `<x xmlns='jabber:x:data' type='submit'><field var='mood'><value>happy</value></field></x>`)
	for i, c := range []*Collection{
		{With: "juliet@capulet.com/chamber", Start: ts("2024-05-01T10:00:00Z"), Thread: "damduoeg08", Subject: "She speaks!", Entries: sampleEntries()},
		{With: "juliet@capulet.com", Start: ts("2024-05-01T10:00:00Z"), Previous: &Link{With: "juliet@capulet.com", Start: ts("2024-04-01T00:00:00Z")}, Next: &Link{}, Form: form},
		{With: "capulet.com", Start: ts("2024-05-01T10:00:00Z")},
	} {
		e, err := c.Element()
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		// Through the wire format, as the server would see it.
		back, err := ParseCollection(mustParse(t, e.String()))
		if err != nil {
			t.Fatalf("%d: parse %s: %v", i, e, err)
		}
		want := *c
		want.Version = -1
		if len(want.Entries) == 0 {
			want.Entries = nil
		}
		if want.Form != nil {
			// The form comes back as a parsed element: compare its text.
			if back.Form == nil || back.Form.String() != want.Form.String() {
				t.Errorf("%d: form %v, want %v", i, back.Form, want.Form)
			}
			want.Form, back.Form = nil, nil
		}
		if !reflect.DeepEqual(back, &want) {
			t.Errorf("%d: round trip\n got %+v\nwant %+v\n xml %s", i, back, &want, e)
		}
	}
}

func TestCollectionTimes(t *testing.T) {
	c := &Collection{With: "juliet@capulet.com/chamber", Start: ts("2024-05-01T10:00:00Z"), Entries: sampleEntries()}
	e, err := c.Element()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range e.Children() {
		a := k.Name.Local
		if v, ok := k.AttrValue("utc"); ok {
			a += " utc=" + v
		}
		if v, ok := k.AttrValue("secs"); ok {
			a += " secs=" + v
		}
		got = append(got, a)
	}
	want := []string{
		"from utc=2024-05-01T10:00:00Z", // first message: absolute, so appends land right
		"to secs=11",
		"note utc=2024-05-01T10:05:00Z", // notes do not move the running time
		"from secs=7",
		"from utc=2024-05-01T09:59:00Z", // earlier than its predecessor
		"to secs=120",
		"from secs=3",
		"note",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("attributes\n got %q\nwant %q", got, want)
	}
}

func TestSecsRunningSum(t *testing.T) {
	// Sub-second times: truncation to seconds must not accumulate drift.
	start := ts("2024-05-01T10:00:00Z")
	var entries []Entry
	for i := range 50 {
		entries = append(entries, Entry{Kind: KindFrom, Time: start.Add(time.Duration(i) * 1700 * time.Millisecond), Body: "x"})
	}
	c := &Collection{With: "a@b", Start: start, Entries: entries}
	e, err := c.Element()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseCollection(e)
	if err != nil {
		t.Fatal(err)
	}
	for i, en := range back.Entries {
		want := entries[i].Time.Truncate(time.Second)
		if !en.Time.Equal(want) {
			t.Fatalf("entry %d at %v, want %v", i, en.Time, want)
		}
	}
}

func TestParseSpecRetrieve(t *testing.T) {
	c, err := ParseCollection(mustParse(t, string(readTestdata(t, "spec-retrieve.xml"))))
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != 4 || c.Subject != "She speaks!" || c.With != "juliet@capulet.com/chamber" {
		t.Errorf("header %+v", c)
	}
	want := []Entry{
		{Kind: KindFrom, Time: ts("1469-07-21T02:56:15Z"), Body: "Art thou not Romeo, and a Montague?"},
		{Kind: KindTo, Time: ts("1469-07-21T02:56:26Z"), Body: "Neither, fair saint, if either thee dislike."},
		{Kind: KindFrom, Time: ts("1469-07-21T02:56:33Z"), Body: "How cam'st thou hither, tell me, and wherefore?"},
		{Kind: KindNote, Time: ts("1469-07-21T03:04:35Z"), Body: "I think she might fancy me."},
	}
	if !reflect.DeepEqual(c.Entries, want) {
		t.Errorf("entries\n got %+v\nwant %+v", c.Entries, want)
	}
	r, err := parseSet(mustParse(t, string(readTestdata(t, "spec-retrieve.xml"))))
	if err != nil || r.FirstIndex != 0 || r.First != "0" || r.Last != "3" || r.Count != 4 {
		t.Errorf("set %+v %v", r, err)
	}
}

func TestParseCollectionRejects(t *testing.T) {
	const hdr = `<chat xmlns='urn:xmpp:archive' with='a@b' start='2024-05-01T10:00:00Z' version='1'>`
	for i, tc := range []struct {
		xml  string
		want error
	}{
		0:  {`<chat xmlns='urn:xmpp:archive' start='2024-05-01T10:00:00Z'/>`, ErrMalformed},
		1:  {`<chat xmlns='urn:xmpp:archive' with='a@b'/>`, ErrMalformed},
		2:  {`<chat xmlns='urn:xmpp:archive' with='a@b' start='yesterday'/>`, ErrMalformed},
		3:  {`<chat xmlns='urn:xmpp:archive' with='@@' start='2024-05-01T10:00:00Z'/>`, ErrMalformed},
		4:  {hdr + `<to/></chat>`, ErrMalformed},                             // empty message
		5:  {hdr + `<to secs='-1'><body>x</body></to></chat>`, ErrMalformed}, // negative secs
		6:  {hdr + `<to secs='1' utc='2024-05-01T10:00:00Z'><body>x</body></to></chat>`, ErrMalformed},
		7:  {hdr + `<bogus/></chat>`, ErrMalformed},
		8:  {hdr + `<to xmlns='jabber:client'><body>x</body></to></chat>`, ErrMalformed}, // wrong namespace
		9:  {hdr + `<to secs='1'><body>x</body></to>` + encDataXML + `</chat>`, ErrMixed},
		10: {`<chat xmlns='urn:xmpp:archive' with='a@b' start='2024-05-01T10:00:00Z' version='x'/>`, ErrMalformed},
		11: {`<chat xmlns='urn:xmpp:archive' with='a@b' start='2024-05-01T10:00:00Z' crypt='yes'/>`, ErrMalformed},
		12: {hdr + `<note><b/></note></chat>`, ErrMalformed},
		13: {`<list xmlns='urn:xmpp:archive'/>`, ErrMalformed},
		14: {hdr + `<to secs='99999999999999'><body>x</body></to></chat>`, ErrMalformed},
		15: {`<chat xmlns='urn:xmpp:archive' with='a@b' start='2024-05-01T10:00:00Z' thread='` + strings.Repeat("t", 4000) + `'/>`, ErrMalformed},
	} {
		_, err := ParseCollection(mustParse(t, tc.xml))
		if !errors.Is(err, tc.want) {
			t.Errorf("%d: got %v, want %v", i, err, tc.want)
		}
	}
}

const encDataXML = `<EncryptedData xmlns='http://www.w3.org/2001/04/xmlenc#' Type='http://www.w3.org/2001/04/xmlenc#Content'>` +
	`<EncryptionMethod Algorithm='http://www.w3.org/2009/xmlenc11#aes256-gcm'/>` +
	`<KeyInfo xmlns='http://www.w3.org/2000/09/xmldsig#'><KeyName>k1</KeyName></KeyInfo>` +
	`<CipherData><CipherValue>AAAA</CipherValue></CipherData></EncryptedData>`

func TestParseEncryptedRejects(t *testing.T) {
	const x = `xmlns='http://www.w3.org/2001/04/xmlenc#'`
	const ds = `<KeyInfo xmlns='http://www.w3.org/2000/09/xmldsig#'><KeyName>k</KeyName></KeyInfo>`
	const cd = `<CipherData><CipherValue>AAAA</CipherValue></CipherData>`
	const m = `<EncryptionMethod Algorithm='a'/>`
	for i, tc := range []struct {
		xml  string
		want error
	}{
		0: {`<EncryptedData ` + x + `>` + ds + cd + `</EncryptedData>`, ErrMalformed},              // no method
		1: {`<EncryptedData ` + x + `>` + m + cd + `</EncryptedData>`, ErrMalformed},               // no KeyInfo
		2: {`<EncryptedData ` + x + `>` + m + ds + `</EncryptedData>`, ErrMalformed},               // no CipherData
		3: {`<EncryptedData ` + x + `>` + m + ds + cd + cd + `</EncryptedData>`, ErrMalformed},     // two
		4: {`<EncryptedData ` + x + ` Type='x'>` + m + ds + cd + `</EncryptedData>`, ErrMalformed}, // wrong Type
		5: {`<EncryptedData ` + x + `>` + m + ds + `<CipherData><CipherValue>!!</CipherValue></CipherData></EncryptedData>`, ErrMalformed},
		6: {`<EncryptedData ` + x + `>` + m + ds + `<CipherData><CipherReference URI='x'/></CipherData></EncryptedData>`, ErrMalformed},
		7: {`<EncryptedKey ` + x + `>` + m + ds + cd + `</EncryptedKey>`, ErrMalformed}, // no CarriedKeyName
		8: {`<EncryptedKey ` + x + `>` + m + ds + `<CipherData><CipherValue>` + strings.Repeat("AAAA", 700) + `</CipherValue></CipherData><CarriedKeyName>d</CarriedKeyName></EncryptedKey>`, ErrTooLarge},
		9: {`<EncryptedKey ` + x + `><EncryptionMethod Algorithm='a'><Foo/></EncryptionMethod>` + ds + cd + `<CarriedKeyName>d</CarriedKeyName></EncryptedKey>`, ErrMalformed},
	} {
		e := mustParse(t, tc.xml)
		var err error
		if e.Name.Local == "EncryptedData" {
			_, err = ParseEncryptedData(e)
		} else {
			_, err = ParseEncryptedKey(e)
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%d: got %v, want %v", i, err, tc.want)
		}
	}
}

func TestParseSpecEncrypted(t *testing.T) {
	// XEP-0241 §5's example (CipherValues padded to valid base64).
	c, err := ParseCollection(mustParse(t, string(readTestdata(t, "spec-encrypted.xml"))))
	if err != nil {
		t.Fatal(err)
	}
	if !c.IsEncrypted() || len(c.Encrypted) != 1 || len(c.Keys) != 1 {
		t.Fatalf("got %+v", c)
	}
	d, k := c.Encrypted[0], c.Keys[0]
	if d.Algorithm != AlgAES128CBC || d.KeyName != "dataKey1" || k.Algorithm != AlgRSA15 ||
		k.CarriedKeyName != "dataKey1" || k.KeyName != "romeoPublicKey1fingerprint" {
		t.Errorf("got %+v %+v", d, k)
	}
	// Round trip of the encrypted elements.
	e, err := c.Element()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseCollection(mustParse(t, e.String()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Encrypted, c.Encrypted) || !reflect.DeepEqual(back.Keys, c.Keys) {
		t.Errorf("round trip differs:\n%+v\n%+v", back.Keys[0], c.Keys[0])
	}
}

func TestElementRefuses(t *testing.T) {
	for i, c := range []*Collection{
		{Start: ts("2024-05-01T10:00:00Z")},
		{With: "a@b"},
		{With: "a@b", Start: ts("2024-05-01T10:00:00Z"), Entries: []Entry{{Kind: KindTo, Time: ts("2024-05-01T10:00:00Z")}},
			Encrypted: []*EncryptedData{{}}},
		{With: "a@b", Start: ts("2024-05-01T10:00:00Z"), Entries: []Entry{{Kind: KindTo}}},
		{With: "a@b", Start: ts("2024-05-01T10:00:00Z"), Entries: []Entry{{Kind: Kind(9), Time: ts("2024-05-01T10:00:00Z")}}},
	} {
		if _, err := c.Element(); err == nil {
			t.Errorf("%d: no error", i)
		}
	}
}

func TestParseListAndModified(t *testing.T) {
	cols, r, err := ParseList(mustParse(t, string(readTestdata(t, "list.xml"))))
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) != 2 || !cols[0].Crypt || cols[0].Version != 0 || cols[1].Thread != "damduoeg08" || cols[1].Version != 4 {
		t.Errorf("cols %+v %+v", cols[0], cols[1])
	}
	if r.Count != 1372 || r.FirstIndex != 0 || r.Last != "1469-07-21T03:16:37Zbalcony@house.capulet.com" {
		t.Errorf("set %+v", r)
	}
	ch, r, err := ParseModified(mustParse(t, string(readTestdata(t, "modified.xml"))))
	if err != nil {
		t.Fatal(err)
	}
	want := []Change{
		{With: "juliet@capulet.com/chamber", Start: ts("1469-07-21T02:56:15Z"), Version: 0},
		{With: "balcony@house.capulet.com", Start: ts("1469-07-21T03:16:37Z"), Version: 3, Removed: true},
	}
	if !reflect.DeepEqual(ch, want) || r.Count != 2 || r.FirstIndex != -1 {
		t.Errorf("got %+v %+v", ch, r)
	}
	for i, bad := range []string{
		`<list xmlns='urn:xmpp:archive'><chat with='a@b' start='2024-05-01T10:00:00Z'/></list>`, // no version
		`<list xmlns='urn:xmpp:archive'><chat with='a@b' start='2024-05-01T10:00:00Z' version='1'><to/></chat></list>`,
		`<list xmlns='urn:xmpp:archive'><chat with='a@b' start='2024-05-02T10:00:00Z' version='1'/><chat with='a@b' start='2024-05-01T10:00:00Z' version='1'/></list>`,
		`<list xmlns='urn:xmpp:archive'><set xmlns='http://jabber.org/protocol/rsm'><count>-3</count></set></list>`,
		`<list xmlns='urn:xmpp:archive'><item/></list>`,
	} {
		if _, _, err := ParseList(mustParse(t, bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("list %d: got %v", i, err)
		}
	}
	if _, _, err := ParseModified(mustParse(t, `<modified xmlns='urn:xmpp:archive'><changed with='a@b' start='2024-05-01T10:00:00Z'/></modified>`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("modified without version: %v", err)
	}
}

func TestPageElement(t *testing.T) {
	for i, tc := range []struct {
		p    Page
		want string
		ok   bool
	}{
		{Page{Max: 30}, `<set xmlns="http://jabber.org/protocol/rsm"><max>30</max></set>`, true},
		{Page{Max: 5, After: "x<y"}, `<set xmlns="http://jabber.org/protocol/rsm"><max>5</max><after>x&lt;y</after></set>`, true},
		{Page{Before: "b"}, `<set xmlns="http://jabber.org/protocol/rsm"><before>b</before></set>`, true},
		{Page{Max: -1}, "", false},
		{Page{Max: MaxPage + 1}, "", false},
		{Page{After: "a", Before: "b"}, "", false},
	} {
		e, err := tc.p.element()
		if (err == nil) != tc.ok {
			t.Errorf("%d: error %v", i, err)
			continue
		}
		if tc.ok && e.String() != tc.want {
			t.Errorf("%d: %s, want %s", i, e, tc.want)
		}
	}
}
