package esn

import (
	"errors"
	"strings"
	"testing"

	"github.com/esn-project/esn/pkg/xmltree"
)

func mustParse(t testing.TB, s string) *xmltree.Element {
	t.Helper()
	el, err := xmltree.Parse([]byte(s), xmltree.Limits{})
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return el
}

// TestNormV8 checks the digest's Appendix A vector V8.
func TestNormV8(t *testing.T) {
	in := `<x xmlns='jabber:x:data' type='form'>
  <field var='a' type='list-single' label="Bob's &amp; Alice's">
     <option label='x'><value>1</value></option>
     <required/>
  </field>
  <df:field xmlns:df='jabber:x:data' var='b'><df:value> sp aced </df:value></df:field>
</x>`
	want := `<field label="Bob's &amp; Alice's" type="list-single" var="a"><option label="x"><value>1</value></option><required></required></field><field var="b"><value> sp aced </value></field>`
	x := mustParse(t, in)
	if got := string(NormContent(x)); got != want {
		t.Fatalf("NORM:\n got %s\nwant %s", got, want)
	}
	f, err := ParseForm(x, FormLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(f.Norm()); got != want {
		t.Fatalf("Form.Norm:\n got %s\nwant %s", got, want)
	}
}

func TestNormEscapes(t *testing.T) {
	tests := []struct{ in, want string }{
		0: {`<x xmlns='jabber:x:data'><field var='a&quot;&#9;&#10;&#13;'><value>&lt;&gt;&amp;&#13;"'</value></field></x>`,
			`<field var="a&quot;&#x9;&#xA;&#xD;"><value>&lt;&gt;&amp;&#xD;"'</value></field>`},
		1: {`<x xmlns='jabber:x:data'><field var='z' label='l' type='hidden'/></x>`, `<field label="l" type="hidden" var="z"></field>`},
		2: {`<x xmlns='jabber:x:data'> <!-- c --> <field var='a'> <value>v</value> </field></x>`, `<field var="a"><value>v</value></field>`},
	}
	for i, tc := range tests {
		if got := string(NormContent(mustParse(t, tc.in))); got != tc.want {
			t.Errorf("%d: got %s want %s", i, got, tc.want)
		}
	}
}

func TestNormExclude(t *testing.T) {
	x := mustParse(t, `<x xmlns='jabber:x:data' type='result'><field var='nonce'><value>AA==</value></field><field var='identity'><value>x</value></field><field var='mac'><value>y</value></field></x>`)
	if got, want := string(NormContent(x, "identity", "mac")), `<field var="nonce"><value>AA==</value></field>`; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
}

// TestFormRoundTrip checks that a built form, serialized and parsed again,
// normalizes to the same bytes as the form as built.
func TestFormRoundTrip(t *testing.T) {
	f := NewForm(FormTypeForm).
		Add(Field{Var: "accept", Type: "boolean", Values: []string{"1"}, Required: true}).
		Add(Field{Var: "modp", Type: "list-single", Options: []Option{{Value: "14"}, {Label: "a&b", Value: "5"}}}).
		Add(Field{Var: "desc", Type: "text-single", Desc: "d<", Values: []string{"", "x"}})
	wire := f.Element().String()
	g, err := ParseForm(mustParse(t, wire), FormLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if string(g.Norm()) != string(f.Norm()) {
		t.Fatalf("norm differs:\n%s\n%s", g.Norm(), f.Norm())
	}
	if g.Type != FormTypeForm || len(g.Fields) != 4 || g.Field("modp").Options[1].Label != "a&b" || g.Field("desc").Values[1] != "x" {
		t.Fatalf("parsed form differs: %+v", g)
	}
	if v, _ := g.Value("FORM_TYPE"); v != NSSSN {
		t.Fatalf("FORM_TYPE %q", v)
	}
}

func TestParseFormRejects(t *testing.T) {
	long := strings.Repeat("A", 5000)
	many := strings.Repeat("<field var='f'/>", 1)
	var fields strings.Builder
	for i := range 65 {
		fields.WriteString("<field var='f" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + "'/>")
	}
	var values strings.Builder
	for range 65 {
		values.WriteString("<value>v</value>")
	}
	tests := []struct {
		name, in, field string
	}{
		{"wrong ns", `<x xmlns='urn:other' type='form'/>`, ""},
		{"bad type", `<x xmlns='jabber:x:data' type='bogus'/>`, ""},
		{"missing type", `<x xmlns='jabber:x:data'/>`, ""},
		{"text", `<x xmlns='jabber:x:data' type='form'>junk</x>`, ""},
		{"unknown child", `<x xmlns='jabber:x:data' type='form'><item/></x>`, ""},
		{"foreign child", `<x xmlns='jabber:x:data' type='form'><field xmlns='urn:y' var='a'/></x>`, ""},
		{"dup field", `<x xmlns='jabber:x:data' type='form'>` + many + many + `</x>`, "f"},
		{"no var", `<x xmlns='jabber:x:data' type='form'><field type='text-single'/></x>`, ""},
		{"bad field type", `<x xmlns='jabber:x:data' type='form'><field var='a' type='weird'/></x>`, "a"},
		{"value too long", `<x xmlns='jabber:x:data' type='form'><field var='a'><value>` + long + `</value></field></x>`, "a"},
		{"nested value", `<x xmlns='jabber:x:data' type='form'><field var='a'><value><b/></value></field></x>`, "a"},
		{"too many fields", `<x xmlns='jabber:x:data' type='form'>` + fields.String() + `</x>`, ""},
		{"too many values", `<x xmlns='jabber:x:data' type='form'><field var='a'>` + values.String() + `</field></x>`, "a"},
		{"option two values", `<x xmlns='jabber:x:data' type='form'><field var='a'><option><value>1</value><value>2</value></option></field></x>`, "a"},
		{"option no value", `<x xmlns='jabber:x:data' type='form'><field var='a'><option/></field></x>`, "a"},
		{"double required", `<x xmlns='jabber:x:data' type='form'><field var='a'><required/><required/></field></x>`, "a"},
		{"text in field", `<x xmlns='jabber:x:data' type='form'><field var='a'>t</field></x>`, "a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseForm(mustParse(t, tc.in), FormLimits{})
			var fe *FormError
			if !errors.As(err, &fe) || !errors.Is(err, ErrMalformedForm) {
				t.Fatalf("got %v, want *FormError", err)
			}
			if fe.Field != tc.field {
				t.Errorf("field %q, want %q", fe.Field, tc.field)
			}
		})
	}
}

func TestParseBool(t *testing.T) {
	for in, want := range map[string][2]bool{"1": {true, true}, "true": {true, true}, "0": {false, true}, "false": {false, true}, "TRUE": {false, false}, "": {false, false}} {
		v, ok := ParseBool(in)
		if v != want[0] || ok != want[1] {
			t.Errorf("ParseBool(%q) = %v %v", in, v, ok)
		}
	}
}

func TestNewThreadID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id, err := NewThreadID(randReader{})
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != 32 || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
	if _, err := NewThreadID(strings.NewReader("short")); err == nil {
		t.Fatal("short reader accepted")
	}
}

// FuzzParseForm checks that the parser never panics, that every error is a
// *FormError, and that a parsed form normalizes identically after a round
// trip through the wire serializer.
func FuzzParseForm(f *testing.F) {
	seeds := []string{
		`<x xmlns='jabber:x:data' type='form'><field var='a' type='list-single'><option><value>1</value></option><required/></field></x>`,
		`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:ssn</value></field><field var='accept'><value>1</value></field></x>`,
		`<x xmlns='jabber:x:data' type='result'><title>t</title><field var='b'><desc>d</desc><value>&amp;</value></field></x>`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		el, err := xmltree.Parse(data, xmltree.Limits{MaxBytes: 1 << 16})
		if err != nil {
			return
		}
		form, err := ParseForm(el, FormLimits{})
		if err != nil {
			var fe *FormError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T %v is not a *FormError", err, err)
			}
			return
		}
		n1 := form.Norm()
		again, err := xmltree.Parse([]byte(el.String()), xmltree.Limits{MaxBytes: 1 << 20})
		if err != nil {
			t.Fatalf("re-parse of %s: %v", el, err)
		}
		form2, err := ParseForm(again, FormLimits{})
		if err != nil {
			t.Fatalf("re-parse form: %v", err)
		}
		if string(form2.Norm()) != string(n1) {
			t.Fatalf("unstable normalization:\n%s\n%s", n1, form2.Norm())
		}
	})
}
