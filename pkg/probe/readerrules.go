package probe

import (
	"fmt"
	"slices"
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
// extras of an istiod-remote install left out. Each rule is expanded to its
// (group, resource, verb) triples, sorted and unique.
func ParseReaderRules(chart []byte) ([]Access, error) {
	base, _, err := readerRuleTexts(chart)
	if err != nil {
		return nil, err
	}
	return parseRules(base)
}

// ParseRemoteControlRules reads what the chart adds to the reader
// ClusterRole of a remote cluster (values.istiodRemote.enabled): the writes a
// primary's istiod makes there when it controls the remote (the
// istio-ca-root-cert ConfigMaps and leader election, the webhooks' caBundle),
// without the permissions the reader has anyway.
func ParseRemoteControlRules(chart []byte) ([]Access, error) {
	base, extras, err := readerRuleTexts(chart)
	if err != nil {
		return nil, err
	}
	if extras == "" {
		return nil, fmt.Errorf("%s: no istiodRemote rules", ReaderChart)
	}
	reader, err := parseRules(base)
	if err != nil {
		return nil, err
	}
	all, err := parseRules("rules:" + extras)
	if err != nil {
		return nil, err
	}
	var out []Access
	for _, a := range all {
		if !slices.Contains(reader, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

const remoteBlock = "{{- if .Values.istiodRemote.enabled }}"

// readerRuleTexts splits the chart's rules into the reader's and the
// istiod-remote extras, with the templates they use resolved.
func readerRuleTexts(chart []byte) (base, extras string, err error) {
	s := string(chart)
	i := strings.Index(s, "\nrules:\n")
	if i < 0 {
		return "", "", fmt.Errorf("%s: no rules", ReaderChart)
	}
	rules := s[i+1:]
	if j := strings.Index(rules, remoteBlock); j >= 0 {
		rules, extras = rules[:j], rules[j+len(remoteBlock):]
	}
	const mcs = `{{ $mcsAPIGroup := or .Values.env.MCS_API_GROUP "multicluster.x-k8s.io" }}`
	if !strings.Contains(s, mcs) {
		return "", "", fmt.Errorf("%s: the MCS API group is no longer defaulted as expected", ReaderChart)
	}
	resolve := func(text string) (string, error) {
		text = strings.ReplaceAll(text, "{{ $mcsAPIGroup }}", "multicluster.x-k8s.io")
		var lines []string
		for _, l := range strings.Split(text, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "{{") && strings.HasSuffix(strings.TrimSpace(l), "}}") {
				continue // the template's closing {{- end }} lines
			}
			if strings.Contains(l, "{{") {
				return "", fmt.Errorf("%s: unexpected template in the rules: %s", ReaderChart, strings.TrimSpace(l))
			}
			lines = append(lines, l)
		}
		return strings.Join(lines, "\n"), nil
	}
	if base, err = resolve(rules); err != nil {
		return "", "", err
	}
	if extras, err = resolve(extras); strings.TrimSpace(extras) == "" {
		extras = ""
	}
	return base, extras, err
}

// ReaderRule is one rule of the reader ClusterRole as the chart writes it.
type ReaderRule struct {
	APIGroups []string `json:"apiGroups"`
	Resources []string `json:"resources"`
	Verbs     []string `json:"verbs"`
}

// ParseReaderPolicy reads the same rules as ParseReaderRules in the chart's
// own grouping and order, and, separately, the istiodRemote block's rules
// as written: what an install puts into the ClusterRole, so that a fixer
// writing it again changes nothing there (the rules are one atomic field).
func ParseReaderPolicy(chart []byte) (reader, remoteControl []ReaderRule, err error) {
	base, extras, err := readerRuleTexts(chart)
	if err != nil {
		return nil, nil, err
	}
	if reader, err = parsePolicy(base); err != nil {
		return nil, nil, err
	}
	if extras == "" {
		return nil, nil, fmt.Errorf("%s: no istiodRemote rules", ReaderChart)
	}
	remoteControl, err = parsePolicy("rules:" + extras)
	return reader, remoteControl, err
}

// parsePolicy reads a "rules:" YAML list as it is written.
func parsePolicy(text string) ([]ReaderRule, error) {
	var doc struct {
		Rules []ReaderRule `json:"rules"`
	}
	if err := yaml.UnmarshalStrict([]byte(text), &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", ReaderChart, err)
	}
	return doc.Rules, nil
}

// parseRules expands a "rules:" YAML list to sorted, unique accesses.
func parseRules(text string) ([]Access, error) {
	rules, err := parsePolicy(text)
	if err != nil {
		return nil, err
	}
	seen := map[Access]bool{}
	var out []Access
	for _, r := range rules {
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
