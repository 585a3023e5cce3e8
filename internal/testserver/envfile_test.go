package testserver

import (
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func TestParseEnv(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]string
		err  string // substring of the error; "" = no error
	}{
		{name: "empty", in: "", want: map[string]string{}},
		{name: "comments and blanks", in: "# hi\n\n   # indented\n", want: map[string]string{}},
		{name: "export single-quoted", in: "export ESN_SERVER='127.0.0.1:5222'\n", want: map[string]string{"ESN_SERVER": "127.0.0.1:5222"}},
		{name: "bare", in: "A=b\n", want: map[string]string{"A": "b"}},
		{name: "empty value", in: "A=\nB=''\n", want: map[string]string{"A": "", "B": ""}},
		{name: "quote escape", in: `A='it'\''s'`, want: map[string]string{"A": "it's"}},
		{name: "double quotes", in: `A="x \"y\" \\ \$ z"`, want: map[string]string{"A": `x "y" \ $ z`}},
		{name: "backslash", in: `A=a\ b`, want: map[string]string{"A": "a b"}},
		{name: "trailing comment", in: "A='x' # note\n", want: map[string]string{"A": "x"}},
		{name: "hash inside word", in: "A=x#y\n", want: map[string]string{"A": "x#y"}},
		{name: "later wins", in: "A=1\nA=2\n", want: map[string]string{"A": "2"}},
		{name: "export as key", in: "export=1\n", want: map[string]string{"export": "1"}},
		{name: "tab after export", in: "export\tA=1\n", want: map[string]string{"A": "1"}},
		{name: "crlf-free multiple", in: "export A='1'\nexport B='two words'\n", want: map[string]string{"A": "1", "B": "two words"}},
		{name: "no equals", in: "export A\n", err: "want KEY=VALUE"},
		{name: "bad key", in: "1A=x\n", err: "invalid variable name"},
		{name: "dash key", in: "A-B=x\n", err: "invalid variable name"},
		{name: "expansion", in: "A=$HOME\n", err: "unquoted '$'"},
		{name: "command", in: "A=`id`\n", err: "unquoted '`'"},
		{name: "expansion in double quotes", in: `A="$HOME"`, err: "expansion"},
		{name: "unquoted blank", in: "A=x y\n", err: "unquoted blank"},
		{name: "unterminated single", in: "A='x\n", err: "unterminated single quote"},
		{name: "unterminated double", in: `A="x`, err: "unterminated double quote"},
		{name: "trailing backslash", in: `A=x\`, err: "backslash at end"},
		{name: "semicolon", in: "A=x;rm\n", err: "unquoted ';'"},
		{name: "glob", in: "A=*\n", err: "unquoted '*'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEnv([]byte(tt.in))
			if tt.err != "" {
				var pe *ParseError
				if err == nil || !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseEnv(%q) = %v, %v; want a *ParseError containing %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseEnv(%q): %v", tt.in, err)
			}
			if !maps.Equal(got, tt.want) {
				t.Fatalf("ParseEnv(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseEnvTooLarge(t *testing.T) {
	_, err := ParseEnv(make([]byte, MaxEnvFileSize+1))
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want *ParseError", err)
	}
}

// TestParseEnvMatchesBash checks that ParseEnv reads a file the way bash
// does, for values like the ones prosody.sh writes.
func TestParseEnvMatchesBash(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	values := map[string]string{
		"PLAIN":  "127.0.0.1:5222",
		"SPACES": "two words  here",
		"QUOTES": `it's "quoted" \ back`,
		"DOLLAR": "$HOME and `id`",
		"EMPTY":  "",
		"UTF8":   "pässwörd ✓",
	}
	var b strings.Builder
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString("export T_" + k + "=" + shellQuote(values[k]) + "\n")
	}
	file := filepath.Join(t.TempDir(), "esn.env")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ParseEnv([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		out, err := exec.Command("bash", "-c", `. "$1" && printf '%s' "${!2}"`, "bash", file, "T_"+k).Output()
		if err != nil {
			t.Fatalf("bash: %v", err)
		}
		if string(out) != values[k] || got["T_"+k] != values[k] {
			t.Errorf("%s: bash read %q, ParseEnv %q, want %q", k, out, got["T_"+k], values[k])
		}
	}
}

// FuzzParseEnv checks that ParseEnv never panics, and that what it accepts
// survives a write (single-quoted, as prosody.sh writes) and a re-read.
func FuzzParseEnv(f *testing.F) {
	seeds := []string{
		"export ESN_SERVER='127.0.0.1:5222'\nexport ESN_DOMAIN='localhost'\n",
		`A='it'\''s' B=1`,
		`A="x \"y\""`,
		"# c\nA=b # c\n",
		"A=a\\ b\n",
	}
	if data, err := os.ReadFile(filepath.Join("testdata", "esn.env")); err == nil {
		seeds = append(seeds, string(data))
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := ParseEnv(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		var b strings.Builder
		for k, v := range env {
			if strings.ContainsAny(v, "\n") {
				continue // a line-based file cannot hold these; the writer refuses them
			}
			b.WriteString("export " + k + "=" + shellQuote(v) + "\n")
		}
		again, err := ParseEnv([]byte(b.String()))
		if err != nil {
			t.Fatalf("re-reading %q: %v", b.String(), err)
		}
		for k, v := range again {
			if env[k] != v {
				t.Fatalf("%s: %q became %q", k, env[k], v)
			}
		}
	})
}
