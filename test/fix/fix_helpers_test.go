package fix

import (
	"context"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
	"github.com/meshfed/kubectl-meshfed/internal/reporttest"
)

// Helpers for the fix e2e tests: run fix on every context of a lab, read
// the resourceVersions of the objects a fix touches, and assert that fix
// has nothing left to do.

// objectRef names one object in one lab context.
type objectRef struct {
	Context   string
	GVR       schema.GroupVersionResource
	Namespace string // empty for cluster-scoped objects
	Name      string
}

func (o objectRef) String() string {
	return o.Context + ":" + o.GVR.Resource + "/" + o.Namespace + "/" + o.Name
}

// refsInEveryContext names the same object in each of the lab's contexts.
func refsInEveryContext(l *lab.Lab, gvr schema.GroupVersionResource, namespace, name string) []objectRef {
	var out []objectRef
	for _, c := range l.Contexts() {
		out = append(out, objectRef{Context: c, GVR: gvr, Namespace: namespace, Name: name})
	}
	return out
}

// resourceVersions reads each object's resourceVersion ("absent" when it
// does not exist): equal before and after means nothing was written.
func resourceVersions(t *testing.T, l *lab.Lab, objs ...objectRef) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, o := range objs {
		dyn, err := dynamic.NewForConfig(l.RESTConfig(o.Context))
		if err != nil {
			t.Fatal(err)
		}
		u, err := dyn.Resource(o.GVR).Namespace(o.Namespace).Get(context.Background(), o.Name, metav1.GetOptions{})
		if err != nil {
			out[o.String()] = "absent"
			continue
		}
		out[o.String()] = u.GetResourceVersion()
	}
	return out
}

func runFix(t *testing.T, l *lab.Lab, args ...string) (string, int) {
	return labtest.Fix(t, l, args...)
}

// expectNothingToDo asserts that fix (with args) plans nothing, and that
// fix --apply exits 0 without writing any of objs.
func expectNothingToDo(t *testing.T, l *lab.Lab, objs []objectRef, args ...string) {
	t.Helper()
	out, code := runFix(t, l, args...)
	if code != 0 || !strings.Contains(out, "# nothing to do") {
		t.Errorf("fix %v: exit %d, want 0 and nothing to do\n%s", args, code, out)
	}
	before := resourceVersions(t, l, objs...)
	out, code = runFix(t, l, append([]string{"--apply"}, args...)...)
	if code != 0 || !strings.Contains(out, "# nothing to do") {
		t.Errorf("fix --apply %v: exit %d, want 0 and nothing to do\n%s", args, code, out)
	}
	if after := resourceVersions(t, l, objs...); !reflect.DeepEqual(before, after) {
		t.Errorf("fix --apply with nothing to do wrote: %v → %v", before, after)
	}
}

// doctorKeys runs doctor on every context of the lab, only the given checks,
// and returns their findings as check@contexts, sorted.
func doctorKeys(t *testing.T, l *lab.Lab, checks ...string) []string {
	t.Helper()
	out, stderr, _ := labtest.Run(t, l, "doctor", "-o", "json", "--contexts", strings.Join(l.Contexts(), ","), "--checks", strings.Join(checks, ","))
	if out == "" {
		t.Fatalf("doctor wrote no report: %s", stderr)
	}
	return reporttest.Keys(reporttest.Parse(t, out).Findings)
}
