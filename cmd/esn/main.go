// Command esn is a command-line client for XMPP Encrypted Sessions.
//
// See docs/cli.md for the commands, docs/configuration.md for flags,
// environment variables and the config file, and docs/exit-codes.md for
// the exit codes.
package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	stopProfile := startProfile(os.Getenv)
	code := esnMain()
	stopProfile()
	os.Exit(code)
}

// esnMain runs esn with the process's arguments and environment. The
// testscript tests register it as the "esn" command.
func esnMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, os.Args[1:], osGetenv, os.Stdin, os.Stdout, os.Stderr)
}

// run executes one esn invocation and returns the exit code. It touches
// no global state, so tests may call it concurrently.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	root := newRootCmd(a)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	_, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	if !a.started {
		// Cobra failed before any of our code ran: an unknown command,
		// a bad flag or a wrong number of arguments.
		var u *usageError
		if !errors.As(err, &u) {
			err = usageErr(err)
		}
		// Cobra appends "\n\nDid you mean this?\n\tNAME\n" to an unknown
		// command; turn it into a hint line.
		if msg, sugg, ok := strings.Cut(err.Error(), "\n\nDid you mean this?\n"); ok {
			err = withHint(usageErr(errors.New(msg)), "did you mean %s?", strings.Join(strings.Fields(sugg), " or "))
		}
		var h *hinted
		if !errors.As(err, &h) {
			err = withHint(err, "run 'esn --help' for usage")
		}
	}
	if a.ui == nil {
		a.ui = newUI(stdout, stderr, false, false, getenv(envNoColor) != "")
	}
	return a.ui.reportError(err)
}
