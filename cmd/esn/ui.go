package main

// Output rules (after filippo.io/age's cmd/age/tui.go):
//
//   - stdout carries data only: the result of a command, as text or, with
//     --json, as one JSON object per line;
//   - everything else goes to stderr, as "esn: ..." lines in lowercase
//     without a final period: "esn: error: ...", "esn: warning: ...",
//     "esn: hint: ...", and, with -v, progress lines;
//   - password prompts go to the terminal (internal/term), never to stdout
//     or stderr;
//   - colour only when stderr is a terminal, and never with --no-color or
//     NO_COLOR.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/esn-project/esn/internal/term"
	"github.com/fatih/color"
)

// ui is safe for concurrent use: session events arrive from the runner's
// goroutine while the command's own goroutine reports progress, and every
// line must reach the stream whole.
type ui struct {
	mu             sync.Mutex // serializes writes to stdout and stderr
	stdout, stderr io.Writer
	enc            *json.Encoder // on stdout, under mu
	json           bool
	verbose        bool

	errc, warnc, hintc *color.Color
}

func newUI(stdout, stderr io.Writer, asJSON, verbose, noColor bool) *ui {
	u := &ui{
		stdout: stdout, stderr: stderr, json: asJSON, verbose: verbose,
		errc:  color.New(color.FgRed, color.Bold),
		warnc: color.New(color.FgYellow, color.Bold),
		hintc: color.New(color.FgCyan),
	}
	u.enc = json.NewEncoder(stdout)
	f, isFile := stderr.(*os.File)
	useColor := !noColor && isFile && term.IsTerminal(f)
	for _, c := range []*color.Color{u.errc, u.warnc, u.hintc} {
		if useColor {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
	}
	return u
}

func (u *ui) line(c *color.Color, label, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	u.mu.Lock()
	defer u.mu.Unlock()
	if label == "" {
		fmt.Fprintf(u.stderr, "esn: %s\n", msg)
		return
	}
	fmt.Fprintf(u.stderr, "esn: %s %s\n", c.Sprint(label+":"), msg)
}

func (u *ui) errorf(format string, args ...any) { u.line(u.errc, "error", format, args...) }
func (u *ui) warnf(format string, args ...any)  { u.line(u.warnc, "warning", format, args...) }
func (u *ui) hintf(format string, args ...any)  { u.line(u.hintc, "hint", format, args...) }

// infof prints a progress line with -v.
func (u *ui) infof(format string, args ...any) {
	if u.verbose {
		u.line(nil, "", format, args...)
	}
}

// noticef prints a line on stderr unconditionally (results of commands
// whose data is a side effect, e.g. "wrote FILE").
func (u *ui) noticef(format string, args ...any) { u.line(nil, "", format, args...) }

// printf writes data to stdout.
func (u *ui) printf(format string, args ...any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	fmt.Fprintf(u.stdout, format, args...)
}

// emitJSON writes v as one line of JSON on stdout, in one write. The
// encoder reuses its buffer: a busy receiver prints a line per message.
func (u *ui) emitJSON(v any) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON output: %w", err)
	}
	return nil
}

// hinted attaches advice for the user to an error.
type hinted struct {
	err  error
	hint string
}

func (e *hinted) Error() string { return e.err.Error() }
func (e *hinted) Unwrap() error { return e.err }

func withHint(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &hinted{err: err, hint: fmt.Sprintf(format, args...)}
}

// reportError prints err (and its hints) on stderr and, with --json, as
// {"error": ..., "exit_code": N} on stdout. It returns the exit code.
func (u *ui) reportError(err error) int {
	code := exitCode(err)
	msg := strings.ReplaceAll(err.Error(), "transport: ", "")
	u.errorf("%s", msg)
	// Hints nearest the cause are the most specific: print them first.
	var hints []string
	for e := err; e != nil; {
		var h *hinted
		if !errors.As(e, &h) {
			break
		}
		hints = append(hints, h.hint)
		e = h.err
	}
	for i := len(hints) - 1; i >= 0; i-- {
		u.hintf("%s", hints[i])
	}
	if u.json {
		_ = u.emitJSON(struct {
			Error    string `json:"error"`
			ExitCode int    `json:"exit_code"`
		}{msg, code})
	}
	return code
}
