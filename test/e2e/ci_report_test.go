package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/joshdk/go-junit"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
)

// The schemas pkg/render ships as test data (see its testdata/schema/README.md).
const (
	sarifSchemaFile = "../../pkg/render/testdata/schema/sarif-schema-2.1.0.json"
	junitSchemaFile = "../../pkg/render/testdata/schema/junit-10.xsd"
	sarifSchemaURI  = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)

// TestCIReportsOnLab runs doctor -o sarif and -o junit on a lab whose roots
// differ, validates both against their published schemas, and checks they
// say what -o json says: one SARIF result per finding, one failed JUnit
// testcase per check with an error or warning finding.
func TestCIReportsOnLab(t *testing.T) {
	l := labtest.Start(t, "different-roots", 2)

	out, stderr, code := labtest.Run(t, l, "doctor", "--all-contexts", "-o", "json")
	if code != 2 {
		t.Fatalf("doctor -o json: exit code %d, want 2\nstderr: %s", code, stderr)
	}
	r := parseReport(t, out)
	var wantRules []string
	failing := map[string]bool{}
	for _, f := range r.Findings {
		wantRules = append(wantRules, f.Check)
		if f.Severity == "error" || f.Severity == "warning" {
			failing[f.Check] = true
		}
	}
	if !failing["MF2001"] {
		t.Fatalf("the lab's roots differ but -o json has no MF2001: %v", wantRules)
	}

	t.Run("sarif", func(t *testing.T) {
		out, stderr, code := labtest.Run(t, l, "doctor", "--all-contexts", "-o", "sarif")
		if code != 2 {
			t.Errorf("exit code %d, want 2 as with -o json\nstderr: %s", code, stderr)
		}
		if err := validateJSONSchema(t, []byte(out)); err != nil {
			t.Fatalf("-o sarif does not match the SARIF 2.1.0 schema: %v", err)
		}
		var log struct {
			Runs []struct {
				Tool struct {
					Driver struct {
						Rules []struct {
							ID      string `json:"id"`
							HelpURI string `json:"helpUri"`
						} `json:"rules"`
					} `json:"driver"`
				} `json:"tool"`
				Results []struct {
					RuleID    string            `json:"ruleId"`
					Locations []json.RawMessage `json:"locations"`
				} `json:"results"`
			} `json:"runs"`
		}
		if err := json.Unmarshal([]byte(out), &log); err != nil {
			t.Fatal(err)
		}
		run := log.Runs[0]
		var gotRules []string
		for _, res := range run.Results {
			gotRules = append(gotRules, res.RuleID)
		}
		sort.Strings(gotRules)
		sort.Strings(wantRules)
		if strings.Join(gotRules, ",") != strings.Join(wantRules, ",") {
			t.Errorf("results %v, want one per finding of -o json %v", gotRules, wantRules)
		}
		if len(run.Tool.Driver.Rules) < 50 {
			t.Errorf("%d rules, want the whole catalog", len(run.Tool.Driver.Rules))
		}
		for _, rule := range run.Tool.Driver.Rules {
			if !strings.HasSuffix(rule.HelpURI, "docs/checks.md#"+strings.ToLower(rule.ID)) {
				t.Errorf("rule %s help %s", rule.ID, rule.HelpURI)
			}
		}
	})

	t.Run("junit", func(t *testing.T) {
		out, stderr, code := labtest.Run(t, l, "doctor", "--all-contexts", "-o", "junit")
		if code != 2 {
			t.Errorf("exit code %d, want 2 as with -o json\nstderr: %s", code, stderr)
		}
		if err := validateXSD(t, []byte(out)); err != nil {
			t.Fatalf("-o junit does not match junit-10.xsd:\n%v", err)
		}
		suites, err := junit.Ingest([]byte(out))
		if err != nil {
			t.Fatal(err)
		}
		gotFailing := map[string]bool{}
		tests := 0
		for _, s := range suites {
			for _, tc := range s.Tests {
				tests++
				if tc.Status == junit.StatusFailed {
					gotFailing[strings.Fields(tc.Name)[0]] = true
				}
			}
		}
		if len(gotFailing) != len(failing) {
			t.Errorf("failed testcases %v, want the checks with error or warning findings %v", gotFailing, failing)
		}
		for id := range failing {
			if !gotFailing[id] {
				t.Errorf("%s has an error or warning finding but its testcase did not fail", id)
			}
		}
		if tests < 50 {
			t.Errorf("%d testcases, want one per check run", tests)
		}
	})
}

// TestVersionNamesCommitAndIstio: the built binary names its commit (or
// says it is unknown) and the Istio modules its checks were written
// against, at go.mod's pins.
func TestVersionNamesCommitAndIstio(t *testing.T) {
	out, err := exec.Command(labtest.Plugin(t), "version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("version -o json: %v", err)
	}
	var v struct {
		Version string `json:"version"`
		Commit  string `json:"commit"`
		Istio   struct {
			Release string `json:"release"`
			Modules []struct {
				Path    string `json:"path"`
				Version string `json:"version"`
			} `json:"modules"`
		} `json:"istio"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if v.Commit != "unknown" {
		if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(v.Commit) {
			t.Errorf("commit %q is neither a full git hash nor \"unknown\"", v.Commit)
		} else if err := exec.Command("git", "cat-file", "-e", v.Commit+"^{commit}").Run(); err != nil {
			t.Errorf("commit %s is not a commit of this repository", v.Commit)
		}
	}
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Istio.Modules) != 3 {
		t.Fatalf("istio modules %+v, want istio.io/istio, api and client-go", v.Istio.Modules)
	}
	for _, m := range v.Istio.Modules {
		if !bytes.Contains(gomod, []byte("\t"+m.Path+" "+m.Version+"\n")) {
			t.Errorf("%s %s is not go.mod's pin", m.Path, m.Version)
		}
	}
	if !regexp.MustCompile(`^1\.[0-9]+$`).MatchString(v.Istio.Release) {
		t.Errorf("istio release %q", v.Istio.Release)
	}
}

func validateJSONSchema(t *testing.T, doc []byte) error {
	t.Helper()
	f, err := os.Open(sarifSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	schemaDoc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(sarifSchemaURI, schemaDoc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(sarifSchemaURI)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

func validateXSD(t *testing.T, doc []byte) error {
	t.Helper()
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatal("xmllint is not installed: apt-get install libxml2-utils (make test installs it)")
	}
	path := filepath.Join(t.TempDir(), "report.xml")
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(xmllint, "--noout", "--schema", junitSchemaFile, path).CombinedOutput(); err != nil {
		return &xmllintFailure{string(out)}
	}
	return nil
}

type xmllintFailure struct{ out string }

func (e *xmllintFailure) Error() string { return e.out }
