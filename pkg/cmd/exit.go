package cmd

import (
	"errors"
	"fmt"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
)

// Exit codes, documented in the README and stable across releases.
const (
	// ExitOK: nothing at or above --fail-on was found.
	ExitOK = 0
	// ExitFindings: at least one finding at or above --fail-on.
	ExitFindings = 2
	// ExitFailed: the tool could not do its job (bad flags, unknown check,
	// no context to read, no cluster reachable).
	ExitFailed = 3
	// ExitNotApplied: fix --apply (or --dry-run=server) could not make
	// every change: a cluster rejected one, or it was skipped after an
	// earlier failure in its context. The result says which, where; the
	// other clusters' changes were applied.
	ExitNotApplied = 4
)

// ExitError carries the process exit code up to main, the only place that
// calls os.Exit. Err is what main prints; a nil Err prints nothing (the
// report has already said everything).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit code %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// failed wraps an error that stopped the tool from doing its job.
func failed(format string, args ...any) error {
	return &ExitError{Code: ExitFailed, Err: fmt.Errorf(format, args...)}
}

// ExitCode maps what a command returned to the process exit code. Any error
// that is not an ExitError (a flag cobra could not parse, an unknown command)
// means the tool did not do its job.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var e *ExitError
	if errors.As(err, &e) {
		return e.Code
	}
	return ExitFailed
}

// ParseFailOn reads the --fail-on value: the lowest severity that fails the run.
func ParseFailOn(s string) (checks.Severity, error) {
	switch s {
	case "error":
		return checks.SeverityError, nil
	case "warning":
		return checks.SeverityWarning, nil
	}
	return 0, fmt.Errorf("--fail-on must be error or warning, not %q", s)
}

// ReportExitCode is the exit code a report earns: ExitFindings when any
// finding is at or above failOn. Unknowns never fail a run on their own (an
// unreachable cluster does, through its own MF0 finding).
func ReportExitCode(r *checks.Report, failOn checks.Severity) int {
	if r.Worst() >= failOn {
		return ExitFindings
	}
	return ExitOK
}
