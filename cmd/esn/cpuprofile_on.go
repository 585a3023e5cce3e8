//go:build esnprofile

package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// startProfile writes a CPU profile of the whole process to the file named
// by ESN_CPUPROFILE, and an allocation profile at exit to the file named by
// ESN_MEMPROFILE, for builds with -tags esnprofile (scripts/bench.sh -p;
// docs/performance.md). Release builds have no such hook.
func startProfile(getenv func(string) string) (stop func()) {
	stopCPU := startCPUProfile(getenv("ESN_CPUPROFILE"))
	mem := getenv("ESN_MEMPROFILE")
	return func() {
		stopCPU()
		if mem != "" {
			writeAllocs(mem)
		}
	}
}

func writeAllocs(name string) {
	f, err := os.Create(name)
	if err != nil {
		fmt.Fprintf(os.Stderr, "esn: allocation profile: %v\n", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		fmt.Fprintf(os.Stderr, "esn: allocation profile: %v\n", err)
	}
}

func startCPUProfile(name string) (stop func()) {
	if name == "" {
		return func() {}
	}
	f, err := os.Create(name)
	if err != nil {
		fmt.Fprintf(os.Stderr, "esn: cpu profile: %v\n", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "esn: cpu profile: %v\n", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
