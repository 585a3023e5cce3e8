package xmltree

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRoundTrip(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		0: {`<a xmlns='x'/>`, `<a xmlns="x"/>`},
		1: {`<message xmlns='jabber:client' to='b@x'><body>hi &amp; &lt;bye&gt;</body></message>`,
			`<message xmlns="jabber:client" to="b@x"><body>hi &amp; &lt;bye&gt;</body></message>`},
		2: {`<a xmlns='x'><b xmlns='y' q='"'>t</b> <c/></a>`, `<a xmlns="x"><b xmlns="y" q="&quot;">t</b> <c/></a>`},
		3: {`<a xmlns='x'><![CDATA[<raw>]]>more</a>`, `<a xmlns="x">&lt;raw&gt;more</a>`},
	}
	for i, tc := range tests {
		el, err := Parse([]byte(tc.in), Limits{})
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if got := el.String(); got != tc.want {
			t.Errorf("%d: got %s, want %s", i, got, tc.want)
		}
		again, err := Parse([]byte(el.String()), Limits{})
		if err != nil || again.String() != el.String() {
			t.Errorf("%d: unstable round trip: %v %s", i, err, again)
		}
	}
}

func TestAccessors(t *testing.T) {
	el, err := Parse([]byte(`<m xmlns='jabber:client' id='1'><thread>t1</thread><c xmlns='urn:c'><data>AA</data></c></m>`), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if el.Attribute("id") != "1" || el.ChildText("", "thread") != "t1" {
		t.Errorf("accessors: id=%q thread=%q", el.Attribute("id"), el.ChildText("", "thread"))
	}
	if c := el.Child("urn:c", "c"); c == nil || c.ChildText("urn:c", "data") != "AA" {
		t.Errorf("namespaced child lookup failed")
	}
	if el.Child("urn:other", "c") != nil {
		t.Errorf("namespace mismatch matched")
	}
	if n := len(el.Children()); n != 2 {
		t.Errorf("children: %d", n)
	}
}

func TestLimits(t *testing.T) {
	deep := strings.Repeat("<a>", 40) + strings.Repeat("</a>", 40)
	wide := "<a>" + strings.Repeat("<b/>", 100) + "</a>"
	big := "<a>" + strings.Repeat("x", 5000) + "</a>"
	for name, tc := range map[string]struct {
		in  string
		lim Limits
	}{
		"depth": {deep, Limits{}},
		"nodes": {wide, Limits{MaxNodes: 50}},
		"bytes": {big, Limits{MaxBytes: 1000}},
	} {
		if _, err := Parse([]byte(tc.in), tc.lim); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: got %v, want ErrTooLarge", name, err)
		}
	}
	if _, err := Parse([]byte("<a><b>"), Limits{}); err == nil {
		t.Errorf("truncated input accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`<message xmlns='jabber:client'><body>x</body></message>`))
	f.Add([]byte(`<a xmlns='x'><b xmlns='y' q='"'>t</b> <c/></a>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		el, err := Parse(data, Limits{MaxBytes: 4096})
		if err != nil {
			return
		}
		out := el.String()
		again, err := Parse([]byte(out), Limits{MaxBytes: 1 << 20})
		if err != nil {
			t.Fatalf("re-parse of %q: %v", out, err)
		}
		if again.String() != out {
			t.Fatalf("unstable: %q != %q", again.String(), out)
		}
	})
}

// TestText: the text directly inside an element, whatever the number of
// text nodes and the elements between them.
func TestText(t *testing.T) {
	tests := []struct {
		name string
		el   *Element
		want string
	}{
		{"empty", New("", "a"), ""},
		{"one text", New("", "a").AddText("hello"), "hello"},
		{"only an element", New("", "a").AddChild(New("", "b").AddText("inner")), ""},
		{"text around an element", New("", "a").AddText("x").AddChild(New("", "b").AddText("inner")).AddText("y"), "xy"},
		{"element then text", New("", "a").AddChild(New("", "b")).AddText("z"), "z"},
		{"three texts", New("", "a").AddText("1").AddText("2").AddText("3"), "123"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.el.Text(); got != tc.want {
				t.Errorf("Text() = %q, want %q", got, tc.want)
			}
		})
	}
}
