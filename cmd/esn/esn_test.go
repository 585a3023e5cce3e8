package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"esn": func() { os.Exit(esnMain()) },
	})
}

// TestScripts runs the CLI scripts in testdata/*.txt, with the commands
// of runScripts.
func TestScripts(t *testing.T) { runScripts(t, "testdata", nil) }
