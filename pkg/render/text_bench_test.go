package render

import (
	"fmt"
	"io"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
)

// largeReport is mixedReport with n findings spread over its checks: the
// size a fleet of hundreds of clusters produces (README "Performance").
func largeReport(n int) *checks.Report {
	r := mixedReport()
	base := r.Findings
	r.Findings = make([]checks.Finding, 0, n)
	for i := 0; i < n; i++ {
		f := base[i%len(base)]
		f.Contexts = []string{fmt.Sprintf("cluster-%04d", i), fmt.Sprintf("cluster-%04d", i+1)}
		f.Message = fmt.Sprintf("%s (finding %d, with enough words to wrap at a narrow terminal width like a real message does)", f.Message, i)
		r.Findings = append(r.Findings, f)
	}
	return r
}

// BenchmarkText renders a 15,000-finding report: the renderer must stay
// linear in the findings.
func BenchmarkText(b *testing.B) {
	r := largeReport(15000)
	cat := mustCatalog(&testing.T{})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := Text(io.Discard, r, cat, plainStyles()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTextIncident is the default layout (-o text) of the same report
// at a 100-column terminal: wrapping must not make it slower than -o wide.
func BenchmarkTextIncident(b *testing.B) {
	r := largeReport(15000)
	cat := mustCatalog(&testing.T{})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := TextReport(io.Discard, r, cat, plainStyles(), TextOptions{Width: 100}); err != nil {
			b.Fatal(err)
		}
	}
}
