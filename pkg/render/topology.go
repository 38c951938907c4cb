package render

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/topology"
)

// TopologyText draws the mesh: one box per network with its clusters and
// gateways, then the discovery edges, the probes' reachability view (when
// probes ran) and the trade-offs of the shape found.
func TopologyText(w io.Writer, t *topology.Topology) error {
	var b strings.Builder
	clusters := 0
	for _, n := range t.Networks {
		clusters += len(n.Clusters)
	}
	if n := len(t.UnreadMembers); n > 0 {
		fmt.Fprintf(&b, "Mesh: %s, %s (%s and %s read; %d more %s in the mesh not read)\n\n", t.ControlPlane, t.Networking,
			Plural(clusters, "cluster", "clusters"), Plural(len(t.Networks), "network", "networks"), n, pluralWord(n, "cluster", "clusters"))
	} else {
		fmt.Fprintf(&b, "Mesh: %s, %s (%s, %s)\n\n", t.ControlPlane, t.Networking,
			Plural(clusters, "cluster", "clusters"), Plural(len(t.Networks), "network", "networks"))
	}
	for _, n := range t.Networks {
		box(&b, topology.NetworkName(n.Name), networkLines(n))
	}
	if len(t.UnreadMembers) > 0 {
		b.WriteString("\nIn the mesh, not read (the clusters read point at them):\n")
		rows := [][]string{}
		for _, m := range t.UnreadMembers {
			rows = append(rows, []string{m.ClusterID, dash(m.Network), unreadHow(m)})
		}
		table(&b, "  ", rows)
	}
	b.WriteString("\nDiscovery: who reads whom (" + t.EdgesFrom + ")\n")
	if len(t.Edges) == 0 {
		b.WriteString("  (no discovery edges)\n")
	}
	rows := [][]string{}
	for _, e := range t.Edges {
		to := e.To
		if to == "" {
			to = "cluster " + e.ToID
		}
		detail := ""
		switch e.State {
		case topology.EdgeConfigured:
			detail = "remote secret " + e.Secret
			if len(e.Ignored) > 0 {
				detail += "; ignored duplicate " + strings.Join(e.Ignored, ", ")
			}
		case topology.EdgeMissing:
			detail = "no remote secret for cluster ID " + e.ToID
		case topology.EdgeOutside:
			detail = "remote secret " + e.Secret + " names a cluster no chosen context has"
			if slices.ContainsFunc(t.UnreadMembers, func(m model.Member) bool { return m.ClusterID == e.ToID }) {
				detail = "remote secret " + e.Secret + "; in the mesh, not read"
			}
		}
		live := ""
		if e.Istiod != "" {
			live = "istiod: " + e.Istiod
		}
		if e.Credentials != "" {
			live = strings.TrimPrefix(live+", credentials: "+e.Credentials, ", ")
		}
		rows = append(rows, []string{e.From + " → " + to, e.State, live, detail})
	}
	table(&b, "  ", rows)
	if t.Reachability != nil {
		reachability(&b, t.Reachability)
	}
	b.WriteString("\n")
	for _, l := range WrapWords(strings.Fields(t.TradeOffs), 100) {
		b.WriteString(l + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func networkLines(n topology.Network) []string {
	var rows [][]string
	for _, c := range n.Clusters {
		rows = append(rows, []string{c.Context, strings.ReplaceAll(topology.Describe(c), ", ", " · ")})
	}
	for _, g := range n.Gateways {
		addr := topology.GatewayAddress(g)
		if !g.Pending && g.Port != 0 {
			var hp []string
			for _, a := range g.Addresses {
				hp = append(hp, joinHostPort(a, g.Port))
			}
			addr = strings.Join(hp, ", ") + " (" + g.Service + " in " + g.Context + ")"
		}
		rows = append(rows, []string{"gateway", addr})
	}
	if len(n.Gateways) == 0 {
		rows = append(rows, []string{"gateway", "none"})
	}
	var sb strings.Builder
	table(&sb, "", rows)
	return strings.Split(strings.TrimRight(sb.String(), "\n"), "\n")
}

func joinHostPort(a string, port int32) string {
	if strings.Contains(a, ":") {
		return "[" + a + "]:" + strconv.Itoa(int(port))
	}
	return a + ":" + strconv.Itoa(int(port))
}

// table writes rows with aligned columns (width by runes).
func table(b *strings.Builder, indent string, rows [][]string) {
	var widths []int
	for _, r := range rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range rows {
		line := indent
		for i, c := range r {
			if i == len(r)-1 {
				line += c
			} else {
				line += c + strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2)
			}
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
}

// box draws lines inside a frame whose top border carries the title.
func box(b *strings.Builder, title string, lines []string) {
	width := utf8.RuneCountInString(title) + 2
	for _, l := range lines {
		width = max(width, utf8.RuneCountInString(l))
	}
	b.WriteString("┌─ " + title + " " + strings.Repeat("─", width-utf8.RuneCountInString(title)-1) + "┐\n")
	for _, l := range lines {
		b.WriteString("│ " + l + strings.Repeat(" ", width-utf8.RuneCountInString(l)) + " │\n")
	}
	b.WriteString("└" + strings.Repeat("─", width+2) + "┘\n")
}

// ReachabilityText writes the probes' network × network view on its own
// (the doctor's text report can show it after the findings).
func ReachabilityText(w io.Writer, m *model.ReachabilityMatrix) error {
	var b strings.Builder
	reachability(&b, m)
	_, err := io.WriteString(w, strings.TrimPrefix(b.String(), "\n"))
	return err
}

func reachability(b *strings.Builder, m *model.ReachabilityMatrix) {
	fmt.Fprintf(b, "\nReachability of the east-west gateways, probed from %s (rows: the network whose istiod hands out the address and whose roots judge the certificate; \"not probed\": no address to dial):\n", m.From)
	if m.Skipped != "" {
		b.WriteString("  (probes skipped: " + m.Skipped + ")\n")
		return
	}
	if len(m.Networks) == 0 {
		b.WriteString("  (nothing to probe: one network, or no gateway address)\n")
		return
	}
	rows := [][]string{append([]string{"from \\ to"}, m.Networks...)}
	for _, src := range m.Networks {
		row := []string{src}
		for _, dst := range m.Networks {
			switch c, ok := m.Cells[src][dst]; {
			case src == dst:
				row = append(row, "·")
			case !ok:
				row = append(row, "not probed")
			default:
				row = append(row, string(c.Outcome))
			}
		}
		rows = append(rows, row)
	}
	table(b, "  ", rows)
}

// TopologyCompact is the short form the doctor's text report can open with:
// the model, one line per network, and the trade-offs paragraph.
func TopologyCompact(w io.Writer, t *topology.Topology) error {
	var b strings.Builder
	lines := topology.Compact(t)
	b.WriteString("Mesh: " + lines[0] + "\n")
	for _, l := range lines[1:] {
		b.WriteString("  " + l + "\n")
	}
	for _, l := range WrapWords(strings.Fields(t.TradeOffs), 100) {
		b.WriteString("  " + l + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// TopologyDOT writes the topology as a Graphviz digraph: networks are
// clusters (boxes), discovery edges are arrows from reader to read.
func TopologyDOT(w io.Writer, t *topology.Topology) error {
	var b strings.Builder
	b.WriteString("digraph mesh {\n")
	fmt.Fprintf(&b, "  label=%s;\n  labelloc=t;\n  rankdir=LR;\n  compound=true;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n",
		dotQuote(t.ControlPlane+", "+t.Networking))
	for i, n := range t.Networks {
		fmt.Fprintf(&b, "  subgraph cluster_%d {\n    label=%s;\n    style=rounded;\n", i, dotQuote("network "+topology.NetworkName(n.Name)))
		for _, c := range n.Clusters {
			attrs := ""
			if !c.Reachable {
				attrs = ", style=\"rounded,dashed\", color=gray"
			}
			fmt.Fprintf(&b, "    %s [label=%s%s];\n", dotQuote(c.Context), dotQuote(c.Context+"\n"+topology.Describe(c)), attrs)
		}
		for j, g := range n.Gateways {
			color := ""
			if g.Pending {
				color = ", color=red"
			}
			fmt.Fprintf(&b, "    %s [shape=ellipse, label=%s%s];\n", dotQuote(fmt.Sprintf("gateway/%d/%d", i, j)), dotQuote("east-west gateway\n"+topology.GatewayAddress(g)), color)
		}
		b.WriteString("  }\n")
	}
	for _, e := range t.Edges {
		to := e.To
		if to == "" {
			to = "cluster " + e.ToID
			fmt.Fprintf(&b, "  %s [style=dotted, label=%s];\n", dotQuote(to), dotQuote(e.ToID+"\n(not in the chosen contexts)"))
		}
		style := ""
		switch {
		case e.State == topology.EdgeMissing:
			style = ", style=dashed, color=red"
		case e.State == topology.EdgeOutside:
			style = ", style=dotted"
		case e.Istiod != "" && e.Istiod != "synced":
			style = ", color=red"
		}
		label := "reads (" + e.State + ")"
		if e.Istiod != "" {
			label += "\nistiod: " + e.Istiod
		}
		fmt.Fprintf(&b, "  %s -> %s [label=%s%s];\n", dotQuote(e.From), dotQuote(to), dotQuote(label), style)
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func dotQuote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `"`, `\"`)
	s = strings.ReplaceAll(s, "\n", `\n`)
	return `"` + s + `"`
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
