package testserver

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// MaxEnvFileSize bounds the env files ParseEnv accepts.
const MaxEnvFileSize = 1 << 20

// ParseError reports a line of an env file that ParseEnv cannot read.
type ParseError struct {
	Line int    // 1-based
	Msg  string // what is wrong
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("testserver: env file line %d: %s", e.Line, e.Msg)
}

// ParseEnv reads the shell file that scripts/prosody.sh writes (DIR/esn.env):
// lines of the form
//
//	export KEY='value'
//	KEY=value
//
// with blank lines and # comments. Values are shell words without expansion:
// single-quoted parts, double-quoted parts (with \" \\ \$ \` escapes),
// backslash escapes and plain characters. Anything a shell would expand or
// interpret ($, `, ;, |, &, <, >, (, ), unquoted *?[ ...) is an error, so a
// file that parses here means the same when sourced by a shell. A later
// assignment to the same key wins, as in a shell.
func ParseEnv(data []byte) (map[string]string, error) {
	if len(data) > MaxEnvFileSize {
		return nil, &ParseError{Line: 0, Msg: fmt.Sprintf("file is %d bytes, more than %d", len(data), MaxEnvFileSize)}
	}
	env := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxEnvFileSize+1)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || line[0] == '#' {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "export"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			line = strings.TrimLeft(rest, " \t")
		}
		eq := strings.IndexByte(line, '=')
		if eq < 0 {
			return nil, &ParseError{Line: n, Msg: "want KEY=VALUE"}
		}
		key := line[:eq]
		if !validKey(key) {
			return nil, &ParseError{Line: n, Msg: fmt.Sprintf("invalid variable name %q", key)}
		}
		val, err := parseWord(line[eq+1:])
		if err != nil {
			return nil, &ParseError{Line: n, Msg: fmt.Sprintf("%s: %v", key, err)}
		}
		env[key] = val
	}
	if err := sc.Err(); err != nil {
		return nil, &ParseError{Line: 0, Msg: err.Error()}
	}
	return env, nil
}

func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// parseWord reads one shell word followed by optional blanks and an optional
// comment.
func parseWord(s string) (string, error) {
	var b strings.Builder
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			rest := strings.TrimLeft(s[i:], " \t")
			if rest != "" && rest[0] != '#' {
				return "", fmt.Errorf("unquoted blank in value (quote it)")
			}
			return b.String(), nil
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return "", fmt.Errorf("unterminated single quote")
			}
			b.WriteString(s[i+1 : i+1+end])
			i += end + 2
		case c == '"':
			i++
			closed := false
			for i < len(s) {
				d := s[i]
				if d == '"' {
					closed = true
					i++
					break
				}
				if d == '$' || d == '`' {
					return "", fmt.Errorf("expansion %q inside double quotes is not supported", d)
				}
				if d == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				b.WriteByte(d)
				i++
			}
			if !closed {
				return "", fmt.Errorf("unterminated double quote")
			}
		case c == '\\':
			if i+1 >= len(s) {
				return "", fmt.Errorf("backslash at end of line")
			}
			b.WriteByte(s[i+1])
			i += 2
		case strings.IndexByte("$`;&|<>()*?[]{}~!", c) >= 0:
			return "", fmt.Errorf("unquoted %q (quote the value)", c)
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

// shellQuote quotes s as one single-quoted shell word, as scripts/prosody.sh
// does.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
