package cmd

import (
	"errors"
	"fmt"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
)

func reportWith(sevs ...checks.Severity) *checks.Report {
	var res checks.Result
	for _, s := range sevs {
		res.Findings = append(res.Findings, checks.Finding{Check: "MF1001", Severity: s})
	}
	return checks.NewReport(nil, nil, res)
}

func TestReportExitCode(t *testing.T) {
	for _, tc := range []struct {
		name   string
		report *checks.Report
		failOn string
		want   int
	}{
		{"nothing found", reportWith(), "error", ExitOK},
		{"nothing found, strict", reportWith(), "warning", ExitOK},
		{"an error", reportWith(checks.SeverityError), "error", ExitFindings},
		{"an error, strict", reportWith(checks.SeverityError), "warning", ExitFindings},
		{"warnings only", reportWith(checks.SeverityWarning, checks.SeverityWarning), "error", ExitOK},
		{"warnings only, strict", reportWith(checks.SeverityWarning), "warning", ExitFindings},
		{"infos never fail", reportWith(checks.SeverityInfo), "warning", ExitOK},
		{"unknowns never fail", reportWith(checks.SeverityUnknown), "warning", ExitOK},
		{"mixed", reportWith(checks.SeverityInfo, checks.SeverityError), "error", ExitFindings},
	} {
		t.Run(tc.name, func(t *testing.T) {
			failOn, err := ParseFailOn(tc.failOn)
			if err != nil {
				t.Fatal(err)
			}
			if got := ReportExitCode(tc.report, failOn); got != tc.want {
				t.Errorf("ReportExitCode = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestParseFailOn(t *testing.T) {
	for _, bad := range []string{"", "info", "ERROR", "errors", "unknown"} {
		if _, err := ParseFailOn(bad); err == nil {
			t.Errorf("ParseFailOn(%q) accepted", bad)
		}
	}
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{&ExitError{Code: ExitFindings}, ExitFindings},
		{fmt.Errorf("wrapped: %w", &ExitError{Code: ExitFindings}), ExitFindings},
		{failed("bad flag"), ExitFailed},
		{errors.New("unknown command \"frobnicate\""), ExitFailed},
	} {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
