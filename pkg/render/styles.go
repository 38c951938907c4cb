// Package render turns a checks.Report (and the catalog) into what people and
// programs read: a text report, JSON or YAML. Renderers decide nothing: every
// judgement (severity, status, counts) is already in the Report.
package render

import (
	"io"
	"os"
	"strconv"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"golang.org/x/term"
)

// Styles is the only place colours live. The zero-colour Styles (NewStyles
// with color false) render every string unchanged, so text output piped to a
// file or read with NO_COLOR set holds no escape sequences.
type Styles struct {
	Error   lipgloss.Style // ✗ and error counts
	Warning lipgloss.Style // ! and warning counts
	Unknown lipgloss.Style // ? and unknown counts
	Pass    lipgloss.Style // ✓
	Info    lipgloss.Style // i
	Heading lipgloss.Style // area names, section titles
	ID      lipgloss.Style // check IDs
	Faint   lipgloss.Style // evidence, hints, secondary text
	Bold    lipgloss.Style
	// plain is set when every style renders its string unchanged: the
	// renderers then skip lipgloss, which is most of their time on a large
	// report.
	plain bool
}

// NewStyles returns the styles for output written to w. With color false
// every style is plain; with color true the terminal's own profile decides
// how many colours are used.
func NewStyles(w io.Writer, color bool) Styles {
	r := lipgloss.NewRenderer(w)
	if !color {
		r.SetColorProfile(termenv.Ascii)
	}
	st := newStyles(r)
	st.plain = !color
	return st
}

func newStyles(r *lipgloss.Renderer) Styles {
	s := r.NewStyle()
	return Styles{
		Error:   s.Foreground(lipgloss.Color("9")).Bold(true),
		Warning: s.Foreground(lipgloss.Color("11")).Bold(true),
		Unknown: s.Foreground(lipgloss.Color("13")),
		Pass:    s.Foreground(lipgloss.Color("10")),
		Info:    s.Foreground(lipgloss.Color("12")),
		// Not underlined: lipgloss underlines rune by rune, one escape each.
		Heading: s.Bold(true).Foreground(lipgloss.Color("14")),
		ID:      s.Bold(true),
		Faint:   s.Faint(true),
		Bold:    s.Bold(true),
	}
}

// ColorEnabled reports whether w should get colour: only a terminal does, and
// never when NO_COLOR is set to a non-empty value (https://no-color.org).
func ColorEnabled(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	return IsTerminal(w)
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// WidthEnv names the variable that sets the text report's width in columns,
// for tests and for piped output that should still be wrapped.
const WidthEnv = "MESHFED_COLUMNS"

// TextWidth is the width the text report wraps to: MESHFED_COLUMNS when set
// to a positive number, otherwise the terminal's width when w is one,
// otherwise 0 (no wrapping: piped output keeps each line whole for grep).
func TextWidth(w io.Writer) int {
	if n, err := strconv.Atoi(os.Getenv(WidthEnv)); err == nil && n > 0 {
		return n
	}
	f, ok := w.(interface{ Fd() uintptr })
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0
	}
	if width, _, err := term.GetSize(int(f.Fd())); err == nil && width > 0 {
		return width
	}
	return 0
}
