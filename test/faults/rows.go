// Package faults is the fault matrix: the built kubectl-meshfed against a
// lab of two real clusters plus one cluster that misbehaves in one way per
// row (a small HTTPS server in the test, alone or in front of a lab
// cluster), or a kubeconfig that is broken in one way per row. Each row
// asserts the finding the fault gives, the exit code, the wall time (within
// the run's documented bound + 1 s), that the healthy clusters are reported
// in full, that stdout parses in every format, and that no secret is
// printed. docs/faults.md is generated from Rows (go test ./test/faults
// -run TestFaultsDoc -update, or make generate).
package faults

import (
	"fmt"
	"strings"
	"time"
)

// Timeout and ProbeTimeout are what every row runs with: the bound of a run
// is their sum (README, "Deadlines"). Each row runs three doctors at once
// beside the other test packages of make test on two cores; with istiod's
// registry and xDS asked as well, 3 s let healthy contexts' reads run out
// under that load (unknown findings on the healthy contexts), so 5 s.
const (
	Timeout      = 5 * time.Second
	ProbeTimeout = 5 * time.Second
)

// Bound is the most a row's run may take: the documented bound + 1 s.
const Bound = Timeout + ProbeTimeout + time.Second

// Target says where a row's fault is.
type Target string

const (
	// ThirdCluster: a context of its own next to the two lab clusters.
	ThirdCluster Target = "a third cluster"
	// InFront: the second lab cluster, read through the misbehaving server
	// (the first is read directly).
	InFront Target = "the second cluster, through a proxy"
	// Kubeconfig: the user's kubeconfig.
	Kubeconfig Target = "the user's kubeconfig"
)

// Row is one fault and what the tool must make of it.
type Row struct {
	Name   string // subtest name
	Target Target
	Fault  string // what is planted
	// Findings are the check IDs the fault must give, with severity, on
	// the faulty context ("MF0001 error"); empty when the run fails as a
	// whole (exit 3).
	Findings []string
	// Says is what the report (or stderr, for exit 3) says about it.
	Says string
	Exit int
	// Timeout, when set, replaces the matrix's --timeout for this row: a
	// row about an object's size, not a server's speed, whose read (16 MiB
	// decoded by the fault's proxy and again by three doctors at once)
	// outran 5 s when the machine was loaded (CI, 2026-12-04: 6.7 s;
	// 1.9–2.1 s on an idle machine). Its bound follows.
	Timeout time.Duration
}

// Timeouts are the row's --timeout and the bound of its runs.
func (r Row) Timeouts() (timeout, bound time.Duration) {
	if r.Timeout == 0 {
		return Timeout, Bound
	}
	return r.Timeout, r.Timeout + ProbeTimeout + time.Second
}

// Rows is the matrix.
var Rows = []Row{
	{Name: "hung-tcp", Target: ThirdCluster, Fault: "accepts TCP, never starts TLS",
		Findings: []string{"MF0001 error"}, Says: "no answer within", Exit: 2},
	{Name: "hung-before-headers", Target: ThirdCluster, Fault: "TLS, then never answers a request",
		Findings: []string{"MF0001 error"}, Says: "no answer within", Exit: 2},
	{Name: "hung-after-headers", Target: ThirdCluster, Fault: "answers 200 and the start of a body, then stalls",
		Findings: []string{"MF0001 error"}, Says: "no answer within", Exit: 2},
	{Name: "refused", Target: ThirdCluster, Fault: "connection refused",
		Findings: []string{"MF0001 error"}, Says: "connection refused", Exit: 2},
	{Name: "unresolvable", Target: ThirdCluster, Fault: "a server name that does not resolve",
		Findings: []string{"MF0001 error"}, Says: "no such host", Exit: 2},
	{Name: "untrusted-ca", Target: ThirdCluster, Fault: "TLS certificate from a CA the kubeconfig does not trust",
		Findings: []string{"MF0001 error"}, Says: "certificate signed by unknown authority", Exit: 2},
	{Name: "401", Target: ThirdCluster, Fault: "401 Unauthorized to every request",
		Findings: []string{"MF0001 error"}, Says: "credentials rejected (401 Unauthorized)", Exit: 2},
	{Name: "403-all", Target: ThirdCluster, Fault: "403 Forbidden to every request",
		Findings: []string{"MF0001 error"}, Says: "forbidden (403)", Exit: 2},
	{Name: "500-html", Target: ThirdCluster, Fault: "500 with an HTML body (a load balancer's error page) to every request",
		Findings: []string{"MF0001 error"}, Says: "500", Exit: 2},
	{Name: "503", Target: ThirdCluster, Fault: "503 Service Unavailable to every request",
		Findings: []string{"MF0001 error"}, Says: "503", Exit: 2},
	{Name: "403-secrets", Target: InFront, Fault: "403 Forbidden on Secrets only",
		Findings: []string{"MF0002 warning"}, Says: "forbidden (403)", Exit: 0},
	{Name: "404-crd", Target: InFront, Fault: "404 for Istio's networking CRDs (not installed)",
		Findings: []string{"MF0002 warning"}, Says: "not found (404)", Exit: 0},
	{Name: "429-retry-after", Target: InFront, Fault: "429 Too Many Requests with Retry-After: 1 on the first two Secret LISTs",
		Findings: nil, Says: "", Exit: 0},
	{Name: "500-one-kind", Target: InFront, Fault: "500 with an HTML body on EndpointSlices only",
		Findings: []string{"MF0002 warning"}, Says: "500", Exit: 0},
	{Name: "body-cut-off", Target: InFront, Fault: "the Services LIST's body cut off half-way (Content-Length promises more)",
		Findings: []string{"MF0002 warning"}, Says: "services: no answer within", Exit: 0},
	{Name: "huge-object", Target: InFront, Fault: "a 16 MiB ConfigMap in Istio's namespace",
		Findings: nil, Says: "", Exit: 0, Timeout: 20 * time.Second},
	{Name: "malformed-object", Target: InFront, Fault: "a Service whose spec is a string",
		Findings: []string{"MF0002 warning"}, Says: "cannot unmarshal string", Exit: 0},
	{Name: "malformed-cacerts", Target: InFront, Fault: "cacerts whose PEM blocks do not decode",
		Findings: []string{"MF2009 error", "MF2001 error"}, Says: "no PEM certificate found", Exit: 2},
	{Name: "malformed-remote-secret", Target: InFront, Fault: "remote secrets whose kubeconfig is not YAML",
		Findings: []string{"MF4005 error"}, Says: "does not parse as a kubeconfig", Exit: 2},
	{Name: "library-logs-to-stdout", Target: InFront, Fault: "a mesh config whose extension provider Istio's validation warns about (its logger writes to stdout)",
		Findings: nil, Says: "", Exit: 0},
	{Name: "unknown-context", Target: Kubeconfig, Fault: "--contexts names a context the kubeconfig lacks (a typo)",
		Findings: nil, Says: `context "faulty" is not in the kubeconfig`, Exit: 3},
	{Name: "context-without-cluster", Target: Kubeconfig, Fault: "a context whose cluster entry is missing",
		Findings: []string{"MF0001 error"}, Says: "which the kubeconfig does not define", Exit: 2},
	{Name: "unreadable-kubeconfig", Target: Kubeconfig, Fault: "--kubeconfig names a file that cannot be read",
		Findings: nil, Says: "kubeconfig", Exit: 3},
	{Name: "malformed-kubeconfig", Target: Kubeconfig, Fault: "a kubeconfig that is not YAML",
		Findings: nil, Says: "kubeconfig", Exit: 3},
	{Name: "exec-fails", Target: Kubeconfig, Fault: "the context's exec credential plugin exits 1",
		Findings: []string{"MF0001 error"}, Says: "failed with exit code 1", Exit: 2},
	{Name: "exec-hangs", Target: Kubeconfig, Fault: "the context's exec credential plugin never returns",
		Findings: []string{"MF0001 error"}, Says: "no answer within", Exit: 2},
}

// Markdown is docs/faults.md.
func Markdown() string {
	var b strings.Builder
	b.WriteString(`# What kubectl-meshfed survives: the fault matrix

<!-- Generated from test/faults/rows.go (go test ./test/faults -run TestFaultsDoc -update); do not edit. -->

Every row is a test (` + "`test/faults`" + `, part of ` + "`make test`" + `): the built plugin runs
` + "`doctor`" + ` and ` + "`topology`" + ` against two real clusters of the lab plus the fault, with
` + fmt.Sprintf("`--timeout %s --probe-timeout %s`", Timeout, ProbeTimeout) + `, and the test asserts, for each row:

- the finding the fault gives (on the faulty context), and the exit code;
- the wall time: at most ` + fmt.Sprintf("%s", Bound) + ` (the two budgets + 1 s; README, "Deadlines");
- the other clusters reported in full: reachable, and no check unknown for them;
- stdout parses, whole and strictly, in every format (` + "`doctor -o json`, `-o yaml`, `topology -o json`" + `),
  and holds nothing but the output;
- no secret printed: no token, key or planted credential on stdout or stderr.

A row "through a proxy" reads the second cluster through a small HTTPS server in the test that forwards
to it and plants the fault in some answers; "a third cluster" is that server on its own (or an address).
The exit code is 2 where an error is found, 0 where only warnings are (the default ` + "`--fail-on error`" + `),
and 3 where the tool cannot do its job at all.

| Fault | Where | Finding | The report says | Exit |
|---|---|---|---|---|
`)
	for _, r := range Rows {
		finding := strings.Join(r.Findings, ", ")
		if finding == "" && r.Exit != 3 {
			finding = "none: read in full"
		}
		if r.Timeout != 0 {
			finding += fmt.Sprintf(" (with `--timeout %s`: the row is about size, not speed)", r.Timeout)
		}
		says := r.Says
		if says != "" {
			says = "“" + says + "”"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d |\n", r.Fault, r.Target, finding, says, r.Exit)
	}
	b.WriteString(`
Also tested: five clusters of which two hang and one refuses (the two healthy ones reported in full,
within the bound), every command and output format against a server that cuts bodies off and
answers 500 with HTML (stdout parses, nothing else on it), and the doctor on the lab while every
core of the machine is busy (no answer turned into "unknown" while time was left).
`)
	return b.String()
}
