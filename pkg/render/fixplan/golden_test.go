package fixplan

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with the current output")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/render/fixplan -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the output (run go test ./pkg/render/fixplan -update if the change is intended)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
