// Package aws_test keeps docs/aws-iam-policy.json honest: it must list
// exactly the IAM actions the plugin can call, and those are the methods of
// the narrow client interfaces every AWS call goes through.
package aws_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/aws/network"
	"github.com/meshfed/kubectl-meshfed/pkg/aws/pca"
)

// interfaces are the client interfaces of pkg/aws and the IAM prefix of
// their service: a method is an action the plugin may call.
var interfaces = map[string]reflect.Type{
	"acm-pca":              reflect.TypeFor[pca.API](),
	"eks":                  reflect.TypeFor[network.EKSAPI](),
	"elasticloadbalancing": reflect.TypeFor[network.ELBAPI](),
	"ec2":                  reflect.TypeFor[network.EC2API](),
}

func callable() []string {
	var out []string
	for prefix, t := range interfaces {
		for i := 0; i < t.NumMethod(); i++ {
			out = append(out, prefix+":"+t.Method(i).Name)
		}
	}
	slices.Sort(out)
	return out
}

func declared() []string {
	out := append(append([]string{}, pca.Actions...), network.Actions...)
	slices.Sort(out)
	return slices.Compact(out)
}

func documented(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "aws-iam-policy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version   string
		Statement []struct {
			Effect string
			Action []string
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("docs/aws-iam-policy.json: %v", err)
	}
	if doc.Version != "2012-10-17" {
		t.Errorf("policy Version %q, want 2012-10-17", doc.Version)
	}
	var out []string
	for _, s := range doc.Statement {
		if s.Effect != "Allow" {
			t.Errorf("statement with effect %q: the policy only allows", s.Effect)
		}
		out = append(out, s.Action...)
	}
	slices.Sort(out)
	return out
}

func TestPolicyListsExactlyTheActionsCalled(t *testing.T) {
	calls, decl, doc := callable(), declared(), documented(t)
	if !slices.Equal(calls, decl) {
		t.Errorf("the client interfaces allow %v\nbut the packages' Actions lists say %v", calls, decl)
	}
	if !slices.Equal(decl, doc) {
		t.Errorf("the code calls %v\nbut docs/aws-iam-policy.json allows %v", decl, doc)
	}
}

// TestClientsOnlyBehindInterfaces: an SDK client made anywhere else could
// call an action the interfaces (and so the policy) do not list.
func TestClientsOnlyBehindInterfaces(t *testing.T) {
	allowed := map[string]bool{"pca/pca.go": true, "network/api.go": true}
	made := regexp.MustCompile(`\b(acmpca|eks|ec2|elb|elbv2|elasticloadbalancingv2)\.(NewFromConfig|New)\(`)
	for _, root := range []string{".", filepath.Join("..", "cmd"), filepath.Join("..", "fix"), filepath.Join("..", "..", "cmd")} {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			rel := filepath.ToSlash(strings.TrimPrefix(path, "./"))
			if made.Match(b) && !allowed[rel] {
				t.Errorf("%s makes an AWS SDK client; make clients only in pkg/aws (pca.Client, network.SDKClients) behind their interfaces", path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
