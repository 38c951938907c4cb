package logging

import "os"

// ReserveStdout keeps the process's stdout for the command's output alone
// and returns it; call it first thing in main and write the output there.
// File descriptor 1 then carries only what libraries write to it behind the
// plugin's back (a logger that opened "stdout" at init, as Istio's does,
// holds descriptor 1 itself, so no writer swap can reach it): Setup points
// it at stderr with -v, and at nothing without. Where descriptors cannot be
// moved (Windows), it returns os.Stdout unchanged.
func ReserveStdout() *os.File {
	f, ok := reserveStdout()
	if !ok {
		return os.Stdout
	}
	reserved = f
	return f
}

// reserved is the command's stdout once ReserveStdout moved it.
var reserved *os.File

// strays points descriptor 1 at stderr (verbose) or /dev/null, once
// ReserveStdout has moved the real stdout away from it.
func strays(verbose bool) {
	if reserved == nil {
		return
	}
	pointStdout(verbose)
}
