//go:build !esnprofile

package main

// startProfile does nothing in release builds; see cpuprofile_on.go.
func startProfile(func(string) string) (stop func()) { return func() {} }
