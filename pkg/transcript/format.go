package transcript

import (
	"fmt"
	"io"
	"strings"
)

// WriteText writes the step for people: a heading line, then one indented
// line per value, each line starting with prefix. Text from the peer
// (bodies, reasons) is quoted.
func (s *Step) WriteText(w io.Writer, prefix string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s[%d]", prefix, s.N)
	if s.Dir != "" {
		fmt.Fprintf(&b, " %s", s.Dir)
	}
	fmt.Fprintf(&b, " %s", s.Kind)
	if s.Thread != "" {
		fmt.Fprintf(&b, " thread %s", short(s.Thread, 16))
	}
	if s.From != "" || s.To != "" {
		fmt.Fprintf(&b, " %s -> %s", orDefault(s.From, "?"), orDefault(s.To, "?"))
	}
	if s.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", s.Line)
	}
	b.WriteByte('\n')
	width := 0
	for _, v := range s.Values {
		width = max(width, len(v.Name))
	}
	for _, v := range s.Values {
		fmt.Fprintf(&b, "%s    %-*s", prefix, width, v.Name)
		if v.Value != "" {
			fmt.Fprintf(&b, " = %s", v.Value)
		}
		switch v.Check {
		case OK:
			b.WriteString("  [ok]")
		case Failed:
			b.WriteString("  [FAILED]")
		case NeedsKey:
			b.WriteString("  [not checked]")
		}
		if v.Note != "" {
			fmt.Fprintf(&b, "  (%s)", v.Note)
		}
		b.WriteByte('\n')
	}
	if s.Body != "" {
		fmt.Fprintf(&b, "%s    body = %q\n", prefix, s.Body)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
