package probe

import (
	"fmt"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

//go:generate go run gen_reader_rules.go

// ReaderChart is where Istio's reader ClusterRole lives in the istio.io/istio
// module: the rules istioctl create-remote-secret's service account gets,
// and so what istiod needs of a remote cluster.
const ReaderChart = "manifests/charts/istio-control/istio-discovery/templates/reader-clusterrole.yaml"

// Access is one permission: a verb on a resource of an API group ("" is
// the core group).
type Access struct {
	Group    string
	Resource string
	Verb     string
}

func (a Access) String() string {
	g := a.Group
	if g == "" {
		g = "core"
	}
	return a.Verb + " " + g + "/" + a.Resource
}

// ParseReaderRules reads the rules of the reader ClusterRole chart template
// as a primary installs it: the MCS API group at the chart's default, the
// extras of an istiod-remote (config cluster) install left out. Each rule is
// expanded to its (group, resource, verb) triples, sorted and unique.
func ParseReaderRules(chart []byte) ([]Access, error) {
	s := string(chart)
	i := strings.Index(s, "\nrules:\n")
	if i < 0 {
		return nil, fmt.Errorf("%s: no rules", ReaderChart)
	}
	rules := s[i+1:]
	if j := strings.Index(rules, "{{- if .Values.istiodRemote.enabled }}"); j >= 0 {
		rules = rules[:j]
	}
	const mcs = `{{ $mcsAPIGroup := or .Values.env.MCS_API_GROUP "multicluster.x-k8s.io" }}`
	if !strings.Contains(s, mcs) {
		return nil, fmt.Errorf("%s: the MCS API group is no longer defaulted as expected", ReaderChart)
	}
	rules = strings.ReplaceAll(rules, "{{ $mcsAPIGroup }}", "multicluster.x-k8s.io")
	var lines []string
	for _, l := range strings.Split(rules, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "{{") && strings.HasSuffix(strings.TrimSpace(l), "}}") {
			continue // the template's closing {{- end }} lines
		}
		if strings.Contains(l, "{{") {
			return nil, fmt.Errorf("%s: unexpected template in the rules: %s", ReaderChart, strings.TrimSpace(l))
		}
		lines = append(lines, l)
	}
	var doc struct {
		Rules []struct {
			APIGroups []string `json:"apiGroups"`
			Resources []string `json:"resources"`
			Verbs     []string `json:"verbs"`
		} `json:"rules"`
	}
	if err := yaml.UnmarshalStrict([]byte(strings.Join(lines, "\n")), &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", ReaderChart, err)
	}
	seen := map[Access]bool{}
	var out []Access
	for _, r := range doc.Rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					a := Access{Group: g, Resource: res, Verb: v}
					if !seen[a] {
						seen[a] = true
						out = append(out, a)
					}
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no rules", ReaderChart)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		if a.Resource != b.Resource {
			return a.Resource < b.Resource
		}
		return a.Verb < b.Verb
	})
	return out, nil
}
