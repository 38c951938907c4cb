package probe

import (
	"reflect"
	"strings"
	"testing"
)

// TestLogFragments keeps the fragments that name a cause, each once, and
// nothing else of a line: not the token a line might carry, not the
// timestamps or the scopes.
func TestLogFragments(t *testing.T) {
	log := strings.Join([]string{
		`2026-12-03T14:00:00.1Z	info	ads	Push debounce stable[12] 1 for config ServiceEntry/sample/x`,
		`2026-12-03T14:00:00.5Z	info	Waiting for caches to be synced`,
		`2026-12-03T14:00:01.2Z	error	klog	k8s.io/client-go/tools/cache/reflector.go:290: "Failed to watch" err="failed to list *v1.WorkloadEntry: the server could not find the requested resource" reflector="pkg/kube/kclient/delayed.go" type="*v1.WorkloadEntry"`,
		`2026-12-03T14:00:03.2Z	error	klog	"Failed to watch" err="failed to list *v1.WorkloadEntry: the server could not find the requested resource"`,
		`2026-12-03T14:00:05.0Z	error	remote cluster west failed to sync after 5s`,
		`2026-12-03T14:00:06.0Z	error	klog	Get "https://10.9.2.2:6443/api/v1/pods?limit=500&resourceVersion=0": dial tcp 10.9.2.2:6443: i/o timeout Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.secret-looking.thing`,
		`2026-12-03T14:00:07.0Z	error	klog	pods is forbidden: User "system:serviceaccount:istio-system:istio-reader-service-account" cannot list resource "pods" in API group "" at the cluster scope`,
	}, "\n")
	got := LogFragments([]byte(log), 20)
	want := []string{
		"Waiting for caches to be synced",
		"failed to list *v1.WorkloadEntry: the server could not find the requested resource",
		"remote cluster west failed to sync after 5s",
		"dial tcp 10.9.2.2:6443: i/o timeout",
		`pods is forbidden: User "system:serviceaccount:istio-system:istio-reader-service-account" cannot list resource "pods" in API group ""`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fragments\n%q\nwant\n%q", got, want)
	}
	for _, f := range got {
		if strings.Contains(f, "eyJ") || strings.Contains(f, "Bearer") {
			t.Errorf("a fragment carries the token: %s", f)
		}
	}
	if got := LogFragments([]byte(log+"\n2026-12-03T14:00:09.0Z	info	All controller caches have been synced up in 8.5s"), 20); got[len(got)-1] != "All controller caches have been synced up in 8.5s" {
		t.Errorf("the end of istiod's start not kept: %q", got)
	}
	if got := LogFragments([]byte(log), 2); len(got) != 2 {
		t.Errorf("max 2: %d fragments", len(got))
	}
}
