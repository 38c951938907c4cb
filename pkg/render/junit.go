package render

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
)

// JUnit writes the report as JUnit XML, the test report every CI system
// shows (Jenkins, GitLab, GitHub Actions through a reporter): one testsuite
// per area, one testcase per check that ran or was selected, in the report's
// order.
//
// Inside a testcase: one <failure> per error or warning finding (type is the
// severity), one <error> per cluster the check could not look at and per
// finding that says it could not decide (type "unknown"), <skipped> for a
// check that did not run, and info findings as <system-out>. Errors come
// before failures, so the many parsers that keep only a testcase's last
// element report a check that found a problem as failed. A testcase counts
// as failed when it has a failure, else as an error when it has an error.
func JUnit(w io.Writer, r *checks.Report) error {
	doc := newJUnitDocument(r)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("rendering JUnit XML: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

type junitTestsuites struct {
	XMLName  xml.Name         `xml:"testsuites"`
	Name     string           `xml:"name,attr"`
	Tests    int              `xml:"tests,attr"`
	Failures int              `xml:"failures,attr"`
	Errors   int              `xml:"errors,attr"`
	Suites   []junitTestsuite `xml:"testsuite"`
}

type junitTestsuite struct {
	Name     string          `xml:"name,attr"`
	Tests    int             `xml:"tests,attr"`
	Failures int             `xml:"failures,attr"`
	Errors   int             `xml:"errors,attr"`
	Skipped  int             `xml:"skipped,attr"`
	Cases    []junitTestcase `xml:"testcase"`
	// SystemOut, on the first suite, lists the clusters of the mesh that
	// were not read: context for every result, not a result of its own.
	SystemOut *junitText `xml:"system-out,omitempty"`
}

type junitTestcase struct {
	Name      string         `xml:"name,attr"`
	Classname string         `xml:"classname,attr"`
	Skipped   *junitProblem  `xml:"skipped,omitempty"`
	SystemOut *junitText     `xml:"system-out,omitempty"`
	Errors    []junitProblem `xml:"error"`
	Failures  []junitProblem `xml:"failure"`
}

type junitProblem struct {
	Type    string `xml:"type,attr,omitempty"`
	Message string `xml:"message,attr"`
	// CDATA keeps the body's lines as lines in the file.
	Body string `xml:",cdata"`
}

type junitText struct {
	Text string `xml:",cdata"`
}

func newJUnitDocument(r *checks.Report) junitTestsuites {
	doc := junitTestsuites{Name: "kubectl-meshfed doctor"}
	findings := map[checks.ID][]checks.Finding{}
	for _, f := range r.Findings {
		findings[f.Check] = append(findings[f.Check], f)
	}
	for _, area := range checks.Areas {
		suite := junitTestsuite{Name: string(area)}
		for _, c := range r.Checks {
			if c.Area != area {
				continue
			}
			tc := junitCase(c, findings[c.ID])
			suite.Cases = append(suite.Cases, tc)
			suite.Tests++
			switch {
			case len(tc.Failures) > 0:
				suite.Failures++
			case len(tc.Errors) > 0:
				suite.Errors++
			case tc.Skipped != nil:
				suite.Skipped++
			}
		}
		if suite.Tests == 0 {
			continue
		}
		if len(doc.Suites) == 0 && len(r.UnreadMembers) > 0 {
			var lines []string
			for _, m := range r.UnreadMembers {
				lines = append(lines, "in the mesh, not read: "+m.ClusterID+" ("+unreadHow(m)+"); seen by "+strings.Join(m.SeenBy, "; "))
			}
			suite.SystemOut = &junitText{Text: xmlChars(strings.Join(lines, "\n"))}
		}
		doc.Suites = append(doc.Suites, suite)
		doc.Tests += suite.Tests
		doc.Failures += suite.Failures
		doc.Errors += suite.Errors
	}
	return doc
}

func junitCase(c checks.CheckResult, findings []checks.Finding) junitTestcase {
	tc := junitTestcase{Name: string(c.ID) + " " + c.Title, Classname: "meshfed." + string(c.Area)}
	if c.Status == checks.StatusNotRun {
		tc.Skipped = &junitProblem{Message: c.NotRun}
	}
	for _, u := range c.Unknown {
		tc.Errors = append(tc.Errors, junitProblem{
			Type:    checks.SeverityUnknown.String(),
			Message: fmt.Sprintf("could not look at context %s: %s", u.Context, u.Reason),
		})
	}
	var out []string
	if len(c.NotCompared) > 0 {
		out = append(out, "compared the clusters read only: "+notComparedLine(c.NotCompared))
	}
	for _, f := range findings {
		p := junitProblem{Type: f.Severity.String(), Message: f.Message, Body: xmlChars(junitBody(f))}
		switch f.Severity {
		case checks.SeverityError, checks.SeverityWarning:
			tc.Failures = append(tc.Failures, p)
		case checks.SeverityUnknown:
			tc.Errors = append(tc.Errors, p)
		default:
			out = append(out, f.Severity.String()+": "+f.Message+"\n"+p.Body)
		}
	}
	if len(out) > 0 {
		tc.SystemOut = &junitText{Text: xmlChars(strings.Join(out, "\n"))}
	}
	return tc
}

// junitBody is a finding's detail as CI systems show it under the message:
// where, the evidence, and where to read how to fix it.
func junitBody(f checks.Finding) string {
	var b strings.Builder
	b.WriteString("contexts: " + strings.Join(f.Contexts, ", ") + "\n")
	if f.Object != nil {
		b.WriteString("object: " + f.Object.String() + "\n")
	}
	for _, e := range f.Evidence {
		b.WriteString("- " + e + "\n")
	}
	b.WriteString("more: kubectl meshfed explain " + string(f.Check) + " (" + DocsBaseURL + "/docs/checks.md#" + f.Check.Anchor() + ")\n")
	return b.String()
}

// xmlChars replaces the characters XML 1.0 cannot hold (control characters
// an API server's error may carry) with U+FFFD: encoding/xml does so in
// attributes, not in CDATA, and one such character makes the file unreadable.
func xmlChars(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r',
			r >= 0x20 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
			return r
		}
		return '\uFFFD'
	}, s)
}
