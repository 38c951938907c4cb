package lab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// renderCacheDir holds the installers' renders of earlier labs on this
// machine: `istioctl manifest generate` and `helm template` print the same
// for the same binary, charts and values, and a lab renders two or three
// manifests per cluster, so labs of the same scenario (every test of a
// suite) render once and read the rest.
func renderCacheDir() string { return filepath.Join(os.TempDir(), "meshfed-lab", "renders") }

// cachedRender returns what `tool args…` prints for input (the
// IstioOperator or the values: what, with the tool's binary and the istio
// module, decides the render), from the cache when an earlier lab ran the
// same, else by running it. Values files are named by path in args but
// keyed by content in input, so a lab's work directory does not spoil the
// key.
func (l *Lab) cachedRender(ctx context.Context, input []byte, tool string, args ...string) ([]byte, error) {
	key, err := l.renderKey(input, tool, args)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(renderCacheDir(), key+".yaml")
	if out, err := os.ReadFile(file); err == nil {
		l.tracef("render cache hit: %s %s", tool, key[:12])
		return out, nil
	}
	out, err := l.runTool(ctx, nil, tool, args...)
	if err != nil {
		return nil, err
	}
	// Best effort: a cache that cannot be written only costs the next lab
	// a render. Written aside and renamed, so that a concurrent lab never
	// reads half a file.
	if err := os.MkdirAll(renderCacheDir(), 0o700); err == nil {
		if tmp, err := os.CreateTemp(renderCacheDir(), key+".*.tmp"); err == nil {
			_, werr := tmp.Write(out)
			cerr := tmp.Close()
			if werr == nil && cerr == nil {
				_ = os.Rename(tmp.Name(), file)
			}
			_ = os.Remove(tmp.Name())
		}
	}
	return out, nil
}

// renderKey identifies a render: the tool's binary (path, size, time, so
// a rebuilt istioctl or helm renders anew), the istio module (its charts
// and profiles), the arguments that are not paths into the lab's work
// directory, and input.
func (l *Lab) renderKey(input []byte, tool string, args []string) (string, error) {
	fi, err := os.Stat(l.bin(tool))
	if err != nil {
		return "", err
	}
	istio, err := IstioModuleDir()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%d\x00%s\x00", l.bin(tool), fi.Size(), fi.ModTime().UnixNano(), istio)
	for _, a := range args {
		if rel, err := filepath.Rel(l.workDir, a); err == nil && filepath.IsLocal(rel) {
			a = "<workdir>"
		}
		fmt.Fprintf(h, "%s\x00", a)
	}
	h.Write(input)
	return hex.EncodeToString(h.Sum(nil)), nil
}
