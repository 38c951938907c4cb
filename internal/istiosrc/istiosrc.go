// Package istiosrc reads facts of istiod's behaviour out of the
// istio.io/istio source in the Go module cache, for the generators of
// small tables the plugin links and for the tests that hold those tables
// to the source. The plugin never links it (go/parser, and the source
// itself, are not in the binary).
package istiosrc

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ModuleDir returns the directory and version of the istio.io/istio module
// the calling module requires.
func ModuleDir() (dir, version string, err error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}} {{.Version}}", "istio.io/istio").Output()
	if err != nil {
		return "", "", fmt.Errorf("go list -m istio.io/istio: %w", err)
	}
	dir, version, _ = strings.Cut(strings.TrimSpace(string(out)), " ")
	if dir == "" {
		return "", "", fmt.Errorf("istio.io/istio is not in the module cache (go mod download istio.io/istio)")
	}
	return dir, version, nil
}

// Release is the Istio release the source is of (its VERSION file: "1.31").
func Release(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "VERSION"))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// Files the facts below are read from, relative to the module.
const (
	MulticlusterFile = "pilot/pkg/serviceregistry/kube/controller/multicluster.go"
	CollectionsFile  = "pkg/config/schema/collections/collections.gen.go"
	FeaturesFile     = "pilot/pkg/features/pilot.go"
)

// Flag is an istiod feature flag: its environment variable and default.
type Flag struct {
	Env     string
	Default bool
}

// RemoteKind is a custom resource istiod lists from every remote cluster
// its multicluster controller reads, at one version, when every flag of
// Flags is on.
type RemoteKind struct {
	Group, Version, Resource, Kind string
	Flags                          []Flag
}

// RemoteKinds reads the custom resources istiod lists from each remote
// cluster: the schemas createWleConfigStore builds its config store of
// (MulticlusterFile), each at the version its collection has
// (CollectionsFile), with the feature flags of the if statements that
// guard the call in initializeCluster (FeaturesFile).
func RemoteKinds(dir string) ([]RemoteKind, error) {
	fset := token.NewFileSet()
	mc, err := parser.ParseFile(fset, filepath.Join(dir, MulticlusterFile), nil, 0)
	if err != nil {
		return nil, err
	}
	store := funcDecl(mc, "createWleConfigStore")
	caller := funcDecl(mc, "initializeCluster")
	if store == nil || caller == nil {
		return nil, fmt.Errorf("%s: createWleConfigStore or initializeCluster is gone: read how istiod watches remote clusters now", MulticlusterFile)
	}
	var schemas []string
	ast.Inspect(store.Body, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == "collections" && !slices.Contains(schemas, sel.Sel.Name) {
				schemas = append(schemas, sel.Sel.Name)
			}
		}
		return true
	})
	if len(schemas) == 0 {
		return nil, fmt.Errorf("%s: createWleConfigStore names no collection", MulticlusterFile)
	}
	features, err := guardingFeatures(caller, "createWleConfigStore")
	if err != nil {
		return nil, err
	}
	flags, err := featureFlags(dir)
	if err != nil {
		return nil, err
	}
	var guard []Flag
	for _, f := range features {
		fl, ok := flags[f]
		if !ok {
			return nil, fmt.Errorf("%s: feature %s is not registered there", FeaturesFile, f)
		}
		guard = append(guard, fl)
	}
	builders, err := collections(dir)
	if err != nil {
		return nil, err
	}
	var out []RemoteKind
	for _, s := range schemas {
		b, ok := builders[s]
		if !ok {
			return nil, fmt.Errorf("%s: no collection %s", CollectionsFile, s)
		}
		out = append(out, RemoteKind{Group: b["Group"], Version: b["Version"], Resource: b["Plural"], Kind: b["Kind"], Flags: guard})
	}
	return out, nil
}

func funcDecl(f *ast.File, name string) *ast.FuncDecl {
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == name {
			return fd
		}
	}
	return nil
}

// guardingFeatures returns the features.X a call to callee is guarded by
// in fn: those named in the condition of every if (or else if) whose
// branch holds the call.
func guardingFeatures(fn *ast.FuncDecl, callee string) ([]string, error) {
	var found []string
	var walk func(n ast.Node, conds []ast.Expr) bool
	var walkIf func(s *ast.IfStmt, conds []ast.Expr) bool
	walkIf = func(s *ast.IfStmt, conds []ast.Expr) bool {
		if walk(s.Body, append(slices.Clip(conds), s.Cond)) {
			return true
		}
		switch e := s.Else.(type) {
		case *ast.IfStmt: // else if: the conditions before it were false, which guards nothing
			return walkIf(e, conds)
		case *ast.BlockStmt:
			return walk(e, conds)
		}
		return false
	}
	walk = func(n ast.Node, conds []ast.Expr) bool {
		hit := false
		ast.Inspect(n, func(m ast.Node) bool {
			if hit {
				return false
			}
			switch m := m.(type) {
			case *ast.IfStmt:
				hit = walkIf(m, conds)
				return false
			case *ast.CallExpr:
				if id, ok := m.Fun.(*ast.Ident); ok && id.Name == callee {
					for _, c := range conds {
						ast.Inspect(c, func(x ast.Node) bool {
							if sel, ok := x.(*ast.SelectorExpr); ok {
								if id, ok := sel.X.(*ast.Ident); ok && id.Name == "features" && !slices.Contains(found, sel.Sel.Name) {
									found = append(found, sel.Sel.Name)
								}
							}
							return true
						})
					}
					hit = true
					return false
				}
			}
			return true
		})
		return hit
	}
	if !walk(fn.Body, nil) {
		return nil, fmt.Errorf("%s: %s does not call %s", MulticlusterFile, fn.Name.Name, callee)
	}
	return found, nil
}

var registerRE = regexp.MustCompile(`(?m)^\s*(\w+)\s*=\s*env\.Register(?:BoolVar)?\(\s*"([A-Z0-9_]+)",\s*(true|false),`)

// featureFlags maps pilot's feature variables to their environment
// variable and default, for the boolean ones registered in FeaturesFile.
func featureFlags(dir string) (map[string]Flag, error) {
	b, err := os.ReadFile(filepath.Join(dir, FeaturesFile))
	if err != nil {
		return nil, err
	}
	out := map[string]Flag{}
	for _, m := range registerRE.FindAllStringSubmatch(string(b), -1) {
		def, _ := strconv.ParseBool(m[3])
		out[m[1]] = Flag{Env: m[2], Default: def}
	}
	return out, nil
}

// collections reads the string fields of every resource.Builder literal
// of CollectionsFile, by the variable it is assigned to.
func collections(dir string) (map[string]map[string]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join(dir, CollectionsFile), nil, 0)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || len(vs.Values) != 1 {
			return true
		}
		ast.Inspect(vs.Values[0], func(m ast.Node) bool {
			cl, ok := m.(*ast.CompositeLit)
			if !ok {
				return true
			}
			if sel, ok := cl.Type.(*ast.SelectorExpr); !ok || sel.Sel.Name != "Builder" {
				return true
			}
			fields := map[string]string{}
			for _, e := range cl.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				k, _ := kv.Key.(*ast.Ident)
				lit, _ := kv.Value.(*ast.BasicLit)
				if k != nil && lit != nil && lit.Kind == token.STRING {
					fields[k.Name], _ = strconv.Unquote(lit.Value)
				}
			}
			out[vs.Names[0].Name] = fields
			return false
		})
		return false
	})
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no resource.Builder found", CollectionsFile)
	}
	return out, nil
}

// RemoteKindsTable renders the Go source of package pkg's generated table
// (pkg/istioapi/remotekinds_gen.go) from the module's source.
func RemoteKindsTable(pkg string) ([]byte, error) {
	dir, version, err := ModuleDir()
	if err != nil {
		return nil, err
	}
	release, err := Release(dir)
	if err != nil {
		return nil, err
	}
	kinds, err := RemoteKinds(dir)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by gen_remote_kinds.go from istio.io/istio@%s %s, %s, %s; DO NOT EDIT.\n\n", version, MulticlusterFile, CollectionsFile, FeaturesFile)
	fmt.Fprintf(&b, "package %s\n\n", pkg)
	fmt.Fprintf(&b, "// Release is the Istio release the table is read from (the module's VERSION).\nconst Release = %q\n\n", release)
	fmt.Fprintf(&b, "// RemoteKinds are the custom resources istiod lists from every remote cluster: the schemas of\n// createWleConfigStore (%s), at their collection's version.\nvar RemoteKinds = []RemoteKind{\n", MulticlusterFile)
	for _, k := range kinds {
		fmt.Fprintf(&b, "\t{Group: %q, Version: %q, Resource: %q, Kind: %q, Flags: []Flag{", k.Group, k.Version, k.Resource, k.Kind)
		for i, f := range k.Flags {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "{Env: %q, Default: %t}", f.Env, f.Default)
		}
		b.WriteString("}},\n")
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}
