package discovery

import (
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// TestStartUnfinished: istiod's start is unfinished only when its log shows
// the wait for caches began and not that it ended.
func TestStartUnfinished(t *testing.T) {
	view := func(frs ...string) []model.IstiodView {
		return []model.IstiodView{{Context: "east", Log: &model.IstiodLog{Pod: "istio-system/istiod-1", Lines: 2000, Fragments: frs}}}
	}
	for _, tc := range []struct {
		name string
		frs  []string
		want string
	}{
		{"waiting", []string{"Waiting for caches to be synced", "remote cluster west failed to sync after 5s"}, "Waiting for caches to be synced"},
		{"synced", []string{"Waiting for caches to be synced", "All controller caches have been synced up in 2.1s"}, ""},
		{"start not in the tail", []string{"remote cluster west failed to sync after 5s"}, ""},
	} {
		if got := logsOf(view(tc.frs...)).startUnfinished(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
