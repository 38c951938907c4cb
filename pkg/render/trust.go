package render

import (
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// trustMatrix writes the report's trust matrix under the Trust checks: one
// row per issuing cluster, one column per verifying cluster, a symbol per
// cell and a legend. The verdicts are the report's; this only draws them.
func (t *textReport) trustMatrix() {
	m := t.r.Trust
	if m == nil || len(m.Contexts) == 0 {
		return
	}
	n := len(m.Contexts)
	t.b.WriteByte('\n')
	t.line(1, t.st.Bold.Render("Trust matrix")+t.st.Faint.Render(" (row: cluster that issues the workload certificate; column: cluster whose workloads verify it)"))
	rows := [][]string{append([]string{""}, m.Contexts...)}
	for i, from := range m.Contexts {
		row := []string{from}
		for j := range m.Contexts {
			row = append(row, t.trustSymbol(cellAt(m, i, j, n)))
		}
		rows = append(rows, row)
	}
	widths := ColumnWidths(rows)
	for i, row := range rows {
		cells := make([]string, len(row))
		for j, cell := range row {
			if j < len(row)-1 {
				cell = Pad(cell, widths[j])
			}
			if i == 0 || j == 0 {
				cell = t.st.Faint.Render(cell)
			}
			cells[j] = cell
		}
		t.line(2, strings.TrimRight(strings.Join(cells, "  "), " "))
	}
	t.line(2, t.st.Faint.Render(strings.Join([]string{
		t.trustSymbol(model.TrustOK) + " verifies",
		t.trustSymbol(model.TrustFail) + " rejected",
		t.trustSymbol(model.TrustUnknown) + " cannot be decided",
	}, "  ")+" (why: the findings above, or -o json)"))
}

// cellAt returns the verdict of (Contexts[i], Contexts[j]): the cell at its
// row-major place when it is that pair, otherwise found by name.
func cellAt(m *model.TrustMatrix, i, j, n int) model.TrustVerdict {
	from, to := m.Contexts[i], m.Contexts[j]
	if k := i*n + j; k < len(m.Cells) && m.Cells[k].From == from && m.Cells[k].To == to {
		return m.Cells[k].Verdict
	}
	for _, c := range m.Cells {
		if c.From == from && c.To == to {
			return c.Verdict
		}
	}
	return model.TrustUnknown
}

func (t *textReport) trustSymbol(verdict model.TrustVerdict) string {
	switch verdict {
	case model.TrustOK:
		return t.st.Pass.Render("✓")
	case model.TrustFail:
		return t.st.Error.Render("✗")
	}
	return t.st.Unknown.Render("?")
}
