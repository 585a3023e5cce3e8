// Package term reads secrets from the controlling terminal.
//
// Prompts and secrets go through /dev/tty (CONIN$/CONOUT$ on Windows), never
// through stdin or stdout, so that a password prompt works while stdout is
// piped and never ends up in a captured output. The prompt is erased after
// the answer is read, as filippo.io/age's internal/term does.
package term

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	xterm "golang.org/x/term"
)

// ErrNoTerminal is returned by ReadSecret when there is no controlling
// terminal to prompt on.
var ErrNoTerminal = errors.New("term: no terminal to prompt on")

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	return f != nil && xterm.IsTerminal(int(f.Fd()))
}

// ReadSecret writes prompt to the terminal, reads one line with echo off,
// erases the prompt and returns the line without its line ending. The
// caller should clear the returned bytes when done.
func ReadSecret(prompt string) ([]byte, error) {
	in, out, err := openTTY()
	if err != nil {
		return nil, err
	}
	defer in.Close()
	if out != in {
		defer out.Close()
	}
	if _, err := fmt.Fprint(out, prompt); err != nil {
		return nil, fmt.Errorf("term: write prompt: %w", err)
	}
	secret, err := xterm.ReadPassword(int(in.Fd()))
	// Erase the prompt line: return to column 0 and clear to end of line.
	fmt.Fprint(out, "\r\x1b[K")
	if err != nil {
		return nil, fmt.Errorf("term: read: %w", err)
	}
	return secret, nil
}

func openTTY() (in, out *os.File, err error) {
	if runtime.GOOS == "windows" {
		in, err = os.OpenFile("CONIN$", os.O_RDWR, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrNoTerminal, err)
		}
		out, err = os.OpenFile("CONOUT$", os.O_WRONLY, 0)
		if err != nil {
			in.Close()
			return nil, nil, fmt.Errorf("%w: %v", ErrNoTerminal, err)
		}
		return in, out, nil
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrNoTerminal, err)
	}
	if !xterm.IsTerminal(int(tty.Fd())) {
		tty.Close()
		return nil, nil, ErrNoTerminal
	}
	return tty, tty, nil
}
