package render

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Tool names the program that wrote a report, for the formats that carry it
// (SARIF's tool.driver).
type Tool struct {
	Name    string
	Version string
	// InformationURI is the tool's home page.
	InformationURI string
}

// SARIFSchemaURI is the OASIS schema of SARIF 2.1.0 (errata 01), the one
// testdata/schema/sarif-schema-2.1.0.json is a copy of.
const SARIFSchemaURI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

// SARIF writes the report as a SARIF 2.1.0 log, the format code-scanning
// services read (GitHub code scanning, GitLab, Jenkins' warnings plugin): one
// rule per catalog entry, with its explanation, remediation and the address
// of its documentation; one result per finding. A finding is about clusters
// and Kubernetes objects, not files, so its locations are logical: one per
// context, naming the object in that context (or the cluster itself).
//
// Severities map to SARIF levels: error → error, warning → warning, info →
// note. A finding that says a check could not decide (unknown) is a result of
// kind "open" (SARIF's "could not tell whether the problem is present"),
// never a pass. Checks that could not look at a cluster, or did not run, are
// the invocation's notifications.
func SARIF(w io.Writer, r *checks.Report, cat *checks.Catalog, tool Tool) error {
	return JSON(w, newSARIFLog(r, cat, tool))
}

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool         `json:"tool"`
	Invocations []sarifInvocation `json:"invocations"`
	Results     []sarifResult     `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifRule struct {
	ID                   string            `json:"id"`
	Name                 string            `json:"name"`
	ShortDescription     sarifText         `json:"shortDescription"`
	FullDescription      sarifText         `json:"fullDescription"`
	Help                 sarifText         `json:"help"`
	HelpURI              string            `json:"helpUri"`
	DefaultConfiguration sarifRuleConfig   `json:"defaultConfiguration"`
	Properties           sarifRuleProperty `json:"properties"`
}

type sarifRuleConfig struct {
	Level string `json:"level"`
}

type sarifRuleProperty struct {
	Tags []string `json:"tags"`
	// Area and Severity are the catalog's, for consumers that group by them.
	Area     checks.Area `json:"area"`
	Severity string      `json:"severity"`
	Fixable  bool        `json:"fixable,omitempty"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Kind                string            `json:"kind"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          sarifResultProps  `json:"properties"`
}

type sarifResultProps struct {
	Severity string   `json:"severity"`
	Contexts []string `json:"contexts"`
	Evidence []string `json:"evidence,omitempty"`
}

type sarifLocation struct {
	LogicalLocations []sarifLogicalLocation `json:"logicalLocations"`
}

type sarifLogicalLocation struct {
	Name               string `json:"name"`
	FullyQualifiedName string `json:"fullyQualifiedName"`
	// Kind is "resource" for a Kubernetes object and "module" for a
	// cluster (a kubeconfig context) as a whole: SARIF's closest words.
	Kind string `json:"kind"`
}

type sarifInvocation struct {
	ExecutionSuccessful        bool                `json:"executionSuccessful"`
	ToolExecutionNotifications []sarifNotification `json:"toolExecutionNotifications,omitempty"`
}

type sarifNotification struct {
	Level      string            `json:"level"`
	Message    sarifText         `json:"message"`
	Descriptor *sarifReportingID `json:"descriptor,omitempty"`
}

type sarifReportingID struct {
	ID string `json:"id"`
}

func newSARIFLog(r *checks.Report, cat *checks.Catalog, tool Tool) sarifLog {
	ruleIndex := map[checks.ID]int{}
	rules := []sarifRule{}
	addRule := func(m checks.Meta) {
		ruleIndex[m.ID] = len(rules)
		rules = append(rules, sarifRuleOf(m))
	}
	if cat != nil {
		for _, m := range cat.Entries() {
			addRule(m)
		}
	}
	// A finding of a check the catalog does not hold still needs a rule to
	// point at; it gets one from what the report says about the check.
	for _, f := range r.Findings {
		if _, ok := ruleIndex[f.Check]; !ok {
			addRule(checks.Meta{ID: f.Check, Area: f.Area, Title: titleFromReport(r, f.Check), Severity: f.Severity})
		}
	}

	results := make([]sarifResult, 0, len(r.Findings))
	for _, f := range r.Findings {
		results = append(results, sarifResultOf(f, ruleIndex[f.Check]))
	}
	return sarifLog{
		Schema:  SARIFSchemaURI,
		Version: "2.1.0",
		Runs: []sarifRun{{
			Tool: sarifTool{Driver: sarifDriver{
				Name: tool.Name, Version: tool.Version, InformationURI: tool.InformationURI, Rules: rules,
			}},
			// The run itself completed: a cluster that could not be read is a
			// finding (MF0001), not a failed execution.
			Invocations: []sarifInvocation{{ExecutionSuccessful: true, ToolExecutionNotifications: sarifNotifications(r)}},
			Results:     results,
		}},
	}
}

func titleFromReport(r *checks.Report, id checks.ID) string {
	for _, c := range r.Checks {
		if c.ID == id && c.Title != "" {
			return c.Title
		}
	}
	return string(id)
}

func sarifRuleOf(m checks.Meta) sarifRule {
	title := m.Title
	if title == "" {
		title = string(m.ID)
	}
	full := m.Explanation
	if full == "" {
		full = title
	}
	help := full
	if m.Remediation != "" {
		help += "\n\nHow to fix:\n" + strings.TrimRight(m.Remediation, "\n")
	}
	help += "\n\nkubectl meshfed explain " + string(m.ID)
	return sarifRule{
		ID:                   string(m.ID),
		Name:                 ruleName(title),
		ShortDescription:     sarifText{Text: title},
		FullDescription:      sarifText{Text: full},
		Help:                 sarifText{Text: help},
		HelpURI:              DocLink(m),
		DefaultConfiguration: sarifRuleConfig{Level: sarifLevel(m.Severity)},
		Properties: sarifRuleProperty{
			Tags: []string{"istio", "multicluster", string(m.Area)}, Area: m.Area,
			Severity: m.Severity.String(), Fixable: m.Fixable,
		},
	}
}

// ruleName is the title in UpperCamelCase, as SARIF suggests for rule names
// ("ClustersDoNotShareARootOfTrust").
func ruleName(title string) string {
	var b strings.Builder
	for _, word := range strings.FieldsFunc(title, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		b.WriteString(strings.ToUpper(word[:1]) + word[1:])
	}
	return b.String()
}

// sarifLevel maps a severity to SARIF's level. Unknown is handled by the
// result's kind (open), which SARIF requires to have level "none".
func sarifLevel(s checks.Severity) string {
	switch s {
	case checks.SeverityError:
		return "error"
	case checks.SeverityWarning:
		return "warning"
	case checks.SeverityInfo:
		return "note"
	default:
		return "none"
	}
}

func sarifResultOf(f checks.Finding, ruleIndex int) sarifResult {
	kind, level := "fail", sarifLevel(f.Severity)
	if f.Severity == checks.SeverityUnknown {
		kind, level = "open", "none"
	}
	contexts := f.Contexts
	if contexts == nil {
		contexts = []string{}
	}
	return sarifResult{
		RuleID: string(f.Check), RuleIndex: ruleIndex, Kind: kind, Level: level,
		Message:             sarifText{Text: f.Message},
		Locations:           sarifLocations(f),
		PartialFingerprints: map[string]string{"meshfedFinding/v1": findingFingerprint(f)},
		Properties:          sarifResultProps{Severity: f.Severity.String(), Contexts: contexts, Evidence: f.Evidence},
	}
}

// sarifLocations gives one logical location per context: the object in that
// context when the finding names one, else the cluster. A finding about no
// context (rare: a check over the whole mesh) gets no location.
func sarifLocations(f checks.Finding) []sarifLocation {
	out := []sarifLocation{}
	for _, ctx := range f.Contexts {
		loc := sarifLogicalLocation{Name: ctx, FullyQualifiedName: ctx, Kind: "module"}
		if f.Object != nil {
			loc = sarifLogicalLocation{Name: f.Object.Name, FullyQualifiedName: ctx + "/" + f.Object.String(), Kind: "resource"}
		}
		out = append(out, sarifLocation{LogicalLocations: []sarifLogicalLocation{loc}})
	}
	return out
}

// findingFingerprint identifies a finding across runs, so a code-scanning
// service tracks it as the same alert: the check, the contexts and the
// object, not the message (which carries values such as fingerprints and
// dates that may change while the problem stays the same).
func findingFingerprint(f checks.Finding) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%s|%s", f.Check, strings.Join(f.Contexts, ","), f.Object.String())))
	return hex.EncodeToString(sum[:16])
}

// sarifNotifications says which checks could not look at a cluster (and
// why) and which did not run: a reader of the results alone would otherwise
// take their silence for a pass.
func sarifNotifications(r *checks.Report) []sarifNotification {
	var out []sarifNotification
	for _, m := range r.UnreadMembers {
		out = append(out, sarifNotification{
			Level:   "note",
			Message: sarifText{Text: "cluster " + m.ClusterID + " is in the mesh but was not read (" + unreadHow(m) + "): " + strings.Join(m.SeenBy, "; ")},
		})
	}
	for _, c := range r.Checks {
		for _, u := range c.Unknown {
			out = append(out, sarifNotification{
				Level:      "warning",
				Message:    sarifText{Text: fmt.Sprintf("%s could not look at context %s: %s", c.ID, u.Context, u.Reason)},
				Descriptor: &sarifReportingID{ID: string(c.ID)},
			})
		}
		if len(c.NotCompared) > 0 {
			out = append(out, sarifNotification{
				Level:      "note",
				Message:    sarifText{Text: fmt.Sprintf("%s compared the clusters read only: %s", c.ID, notComparedLine(c.NotCompared))},
				Descriptor: &sarifReportingID{ID: string(c.ID)},
			})
		}
		if c.Status == checks.StatusNotRun {
			out = append(out, sarifNotification{
				Level:      "note",
				Message:    sarifText{Text: fmt.Sprintf("%s did not run: %s", c.ID, c.NotRun)},
				Descriptor: &sarifReportingID{ID: string(c.ID)},
			})
		}
	}
	return out
}

// unreadHow says which context would read an unread member, and how it was matched.
func unreadHow(m model.Member) string {
	switch m.MatchedBy {
	case model.MatchedByServer:
		return "context " + m.Context + " reads it: same API server"
	case model.MatchedByName:
		return "context " + m.Context + " may read it: same name"
	}
	return "no context of the kubeconfig reads it"
}
