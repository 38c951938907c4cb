package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDumpThenDoctorFrom(t *testing.T) {
	m := &fakeMesh{t: t}
	m.cluster("east", nil)
	m.cluster("west", nil)
	dir := t.TempDir()
	path := filepath.Join(dir, "mesh.tar.gz")
	r := run(t, m.backend(), "dump", "--contexts", "east,west", "-o", path)
	r.expect(t, ExitOK, "")
	if r.stdout != "" || !strings.Contains(r.stderr, "Wrote "+path+": 2 clusters") {
		t.Errorf("dump: stdout %q, stderr %q; want nothing on stdout and the file named on stderr", r.stdout, r.stderr)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".mesh.tar.gz.*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	r = run(t, DefaultBackend(), "doctor", "--bundle", path, "-o", "json", "--checks", "general")
	r.expect(t, ExitOK, "")
	var rep struct {
		Clusters []struct{ Context string }
		Offline  *struct {
			LiveResults string
			Bundles     []struct {
				File     string
				Contexts []string
			}
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(rep.Clusters) != 2 || rep.Offline == nil || len(rep.Offline.Bundles) != 1 || rep.Offline.Bundles[0].File != path ||
		!strings.Contains(rep.Offline.LiveResults, "from the bundle, observed at") {
		t.Errorf("doctor --from: %+v; want both clusters and the bundle accounted for", rep)
	}
	if !strings.Contains(r.stderr, "from bundle "+path) {
		t.Errorf("stderr does not say where the clusters came from:\n%s", r.stderr)
	}
	run(t, DefaultBackend(), "topology", "--bundle", path, "-o", "json").expect(t, ExitOK, "")
	// --from FILE stays doctor's and topology's alias of --bundle.
	alias := run(t, DefaultBackend(), "doctor", "--from", path, "-o", "json", "--checks", "general")
	alias.expect(t, ExitOK, "")
	if alias.stdout != r.stdout {
		t.Errorf("doctor --from FILE differs from doctor --bundle FILE:\n%s\nwant\n%s", alias.stdout, r.stdout)
	}
	run(t, DefaultBackend(), "topology", "--from", path, "-o", "json").expect(t, ExitOK, "")

	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "cut.tar.gz")
	if err := os.WriteFile(truncated, whole[:len(whole)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"doctor", "--bundle", truncated}, "truncated or altered bundle"},
		{[]string{"doctor", "--bundle", path, "--bundle", truncated}, truncated},
		{[]string{"doctor", "--bundle", path, "--from", truncated}, truncated}, // one list, alias or not
		{[]string{"doctor", "--from", truncated}, "truncated or altered bundle"},
		{[]string{"doctor", "--from", filepath.Join(dir, "none.tar.gz")}, "no such file"},
		{[]string{"doctor", "--from", path, "--contexts", "east"}, "--contexts cannot be used with --bundle"},
		{[]string{"topology", "--bundle", truncated}, "truncated or altered bundle"},
		{[]string{"dump"}, "-o FILE is required"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := run(t, DefaultBackend(), tc.args...)
			r.expect(t, ExitFailed, tc.err)
			if r.stdout != "" {
				t.Errorf("a report on stdout: %s", r.stdout)
			}
		})
	}
}
