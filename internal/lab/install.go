package lab

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"text/template"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// clusterTemplate is what a cluster holds before Istio is installed (its
// Nodes, the labelled istio-system, cacerts); the Istio objects come from
// the installer (installer.go).
//
//go:embed templates/cluster.yaml
var clusterTemplate string

//go:embed templates/samples.yaml
var samplesTemplate string

// TemplateData is what the cluster and samples templates and a scenario's
// objects template can read about the cluster they are rendered for.
type TemplateData struct {
	Cluster      string // also the context name
	ClusterID    string // CLUSTER_ID, the remote-secret key
	Index        int    // 1-based
	Clusters     []string
	Role         string // primary or remote
	Remote       bool
	RunsIstiod   bool
	Primary      string // for a remote: its primary
	Network      string
	MultiNetwork bool
	NetworkLabel bool
	MeshID       string
	TrustDomain  string
	Region       string
	// FailoverTo is the next cluster's region ("" with one cluster).
	FailoverTo  string
	Nodes       []NodeData
	PodPrefix   string // pod IPs of node i are PodPrefix.i.x
	Address     string // apiserver and istiod
	IstiodPodIP string // the istiod Pod's IP (a pod-CIDR address)
	// IstiodEndpoint is the address in the istiod Service's EndpointSlice:
	// the pod, or for a remote the primary's gateway (its pod IP on loopback,
	// where EndpointSlices refuse 127.x addresses).
	IstiodEndpoint     string
	HasGateway         bool
	ExposesIstiod      bool
	GatewayAddress     string // "" when pending
	GatewayPodIP       string
	NoOutlierDetection bool
	NoHTTPBinService   bool
	// NamespaceLabels are extra labels on the namespaces the lab makes
	// (istio-system, sample): the discovery-selectors fault's.
	NamespaceLabels map[string]string
	// HeadlessDB: the headless Service sample/db is in every cluster
	// (headless-db).
	HeadlessDB bool
	// PrimaryGatewayAddress is where a remote reaches its primary's istiod.
	PrimaryGatewayAddress string
	CACerts               map[string]string
	RootCert              string
	IstioTag              string
	PodSuffix             string
	RemoteClusterTimeout  string
	StartTime             string // RFC 3339, for pod status
}

// NodeData is one Node of a cluster.
type NodeData struct {
	Name, Region, Zone, PodCIDR, IP string
}

func (l *Lab) templateData(c *cluster) (*TemplateData, error) {
	sc := l.scenario
	k := c.index + 1
	region := regions[c.name]
	td := sc.TrustDomain
	for _, f := range sc.faultsFor(c.name, FaultTrustDomain) {
		td = f.Value
	}
	d := &TemplateData{
		Cluster: c.name, ClusterID: c.id, Index: k, Clusters: l.names,
		Role: c.role, Remote: c.role == "remote", RunsIstiod: c.role == "primary", Primary: c.primary,
		Network: c.network, MultiNetwork: sc.MultiNetwork, NetworkLabel: !sc.has(c.name, FaultMissingNetworkLabel),
		MeshID: sc.MeshID, TrustDomain: td, Region: region,
		PodPrefix:          fmt.Sprintf("172.%d", 16+k),
		Address:            l.net.addr(c.name),
		HasGateway:         l.hasGateway(c),
		ExposesIstiod:      sc.Topology == PrimaryRemote && c.role == "primary",
		NoOutlierDetection: sc.has(c.name, FaultNoOutlierDetection),
		NoHTTPBinService:   sc.has(c.name, FaultNoHTTPBinService),
		NamespaceLabels:    l.discoveryLabels(c),
		HeadlessDB:         sc.hasAnywhere(FaultHeadlessDB),
		IstioTag:           istioTag(),
		PodSuffix:          fmt.Sprintf("x%dq%d", k, k*7),
		// istiod's flag parser takes Go durations.
		RemoteClusterTimeout: l.cfg.RemoteClusterTimeout.String(),
		StartTime:            l.started.UTC().Format(time.RFC3339),
	}
	if len(l.names) > 1 {
		d.FailoverTo = regions[l.names[(c.index+1)%len(l.names)]]
	}
	if d.HasGateway {
		d.GatewayPodIP = d.PodPrefix + ".0.5"
		if !sc.has(c.name, FaultGatewayPending) {
			d.GatewayAddress = l.net.gatewayAddr(c.name)
		}
	}
	d.IstiodPodIP = d.PodPrefix + ".0.4"
	d.IstiodEndpoint = d.IstiodPodIP
	if c.role == "remote" {
		d.PrimaryGatewayAddress = l.net.gatewayAddr(c.primary)
		d.IstiodEndpoint = d.PrimaryGatewayAddress
		if !l.net.isolated {
			d.IstiodEndpoint = fmt.Sprintf("172.%d.0.4", 16+l.clusters[c.primary].index+1)
		}
	}
	for j, zone := range []string{"a", "b"} {
		n := NodeData{
			Name:    fmt.Sprintf("%s-node-%s", c.name, zone),
			Region:  region,
			Zone:    region + zone,
			PodCIDR: fmt.Sprintf("%s.%d.0/24", d.PodPrefix, j),
			IP:      fmt.Sprintf("%s.%d.%d", l.net.prefix(), k, 10+j),
		}
		for _, f := range sc.faultsFor(c.name, FaultNodeWithoutZone) {
			if j == 1 || f.Value == AllNodes {
				n.Zone = ""
			}
		}
		d.Nodes = append(d.Nodes, n)
	}
	if c.meshCA != nil {
		d.RootCert = string(c.meshCA.rootPEM)
		if c.role == "primary" {
			d.CACerts = map[string]string{}
			for k, v := range c.meshCA.cacertsFiles() {
				d.CACerts[k] = string(v)
			}
		}
	}
	return d, nil
}

var funcs = template.FuncMap{
	"b64":   func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
	"quote": func(s string) string { b, _ := json.Marshal(s); return string(b) },
	"join":  strings.Join,
}

// render executes a template and splits it into objects.
func render(name, text string, data any) ([]*unstructured.Unstructured, error) {
	t, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, err
	}
	return splitYAML(buf.String())
}

func splitYAML(s string) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(s, -1) {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return nil, fmt.Errorf("%w in:\n%s", err, doc)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out, nil
}

// resources maps the kinds the lab writes to their resources; anything else
// goes through discovery.
var resources = map[string]struct {
	resource   string
	namespaced bool
}{
	"Namespace": {"namespaces", false}, "Node": {"nodes", false}, "Service": {"services", true},
	"EndpointSlice": {"endpointslices", true}, "Deployment": {"deployments", true}, "Pod": {"pods", true},
	"ConfigMap": {"configmaps", true}, "Secret": {"secrets", true}, "ServiceAccount": {"serviceaccounts", true},
	"ClusterRole": {"clusterroles", false}, "ClusterRoleBinding": {"clusterrolebindings", false},
	"Role": {"roles", true}, "RoleBinding": {"rolebindings", true},
	"MutatingWebhookConfiguration":   {"mutatingwebhookconfigurations", false},
	"ValidatingWebhookConfiguration": {"validatingwebhookconfigurations", false},
	"CustomResourceDefinition":       {"customresourcedefinitions", false},
	"Gateway":                        {"gateways", true}, "DestinationRule": {"destinationrules", true},
	"VirtualService": {"virtualservices", true}, "ServiceEntry": {"serviceentries", true},
	"PeerAuthentication": {"peerauthentications", true}, "Sidecar": {"sidecars", true},
	"AuthorizationPolicy": {"authorizationpolicies", true}, "WorkloadEntry": {"workloadentries", true},
}

func (l *Lab) gvr(c *cluster, u *unstructured.Unstructured) (schema.GroupVersionResource, bool, error) {
	gvk := u.GroupVersionKind()
	if r, ok := resources[gvk.Kind]; ok {
		return gvk.GroupVersion().WithResource(r.resource), r.namespaced, nil
	}
	lists, err := c.client.Discovery().ServerResourcesForGroupVersion(gvk.GroupVersion().String())
	if err != nil {
		return schema.GroupVersionResource{}, false, err
	}
	for _, r := range lists.APIResources {
		if r.Kind == gvk.Kind && !strings.Contains(r.Name, "/") {
			return gvk.GroupVersion().WithResource(r.Name), r.Namespaced, nil
		}
	}
	return schema.GroupVersionResource{}, false, fmt.Errorf("no resource for %s", gvk)
}

// apply writes objects with server-side apply, in order, and then their
// status where they carry one.
func (l *Lab) apply(ctx context.Context, c *cluster, objs []*unstructured.Unstructured) error {
	for _, u := range objs {
		gvr, namespaced, err := l.gvr(c, u)
		if err != nil {
			return err
		}
		var ri = c.dyn.Resource(gvr)
		var r interface {
			Apply(context.Context, string, *unstructured.Unstructured, metav1.ApplyOptions, ...string) (*unstructured.Unstructured, error)
			ApplyStatus(context.Context, string, *unstructured.Unstructured, metav1.ApplyOptions) (*unstructured.Unstructured, error)
		} = ri
		if namespaced {
			ns := u.GetNamespace()
			if ns == "" {
				ns = "default"
				u.SetNamespace(ns)
			}
			r = ri.Namespace(ns)
		}
		opts := metav1.ApplyOptions{FieldManager: "meshfed-lab", Force: true}
		status, hasStatus := u.Object["status"]
		delete(u.Object, "status")
		if _, err := r.Apply(ctx, u.GetName(), u, opts); err != nil {
			return fmt.Errorf("apply %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
		if hasStatus {
			s := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": u.GetAPIVersion(), "kind": u.GetKind(),
				"metadata": map[string]any{"name": u.GetName(), "namespace": u.GetNamespace()},
				"status":   status,
			}}
			if !namespaced {
				delete(s.Object["metadata"].(map[string]any), "namespace")
			}
			if _, err := r.ApplyStatus(ctx, u.GetName(), s, opts); err != nil {
				return fmt.Errorf("status of %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
			}
		}
	}
	return nil
}

// Apply server-side-applies a YAML stream into the cluster of context, in
// order, with each object's status, as the lab installs its own objects. A
// CustomResourceDefinition is waited for until Established, so that objects
// of its kind may follow it in the stream.
func (l *Lab) Apply(ctx context.Context, context, manifests string) error {
	c, ok := l.clusters[context]
	if !ok {
		return fmt.Errorf("no cluster %q in the lab", context)
	}
	objs, err := splitYAML(manifests)
	if err != nil {
		return err
	}
	for _, u := range objs {
		if err := l.apply(ctx, c, []*unstructured.Unstructured{u}); err != nil {
			return err
		}
		if u.GetKind() == "CustomResourceDefinition" {
			if err := waitEstablished(ctx, c, u.GetName()); err != nil {
				return err
			}
		}
	}
	return nil
}

// waitEstablished waits until the CRD of name is Established (served).
func waitEstablished(ctx context.Context, c *cluster, name string) error {
	return poll(ctx, 30*time.Second, 100*time.Millisecond, func() (bool, error) {
		crd, err := c.dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		return err == nil && established(crd), nil
	})
}

// established reports whether a CRD has the condition Established=True.
func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, cd := range conds {
		m, _ := cd.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

func (l *Lab) applyTemplate(ctx context.Context, c *cluster, name, text string, data *TemplateData) error {
	objs, err := render(name, text, data)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := l.apply(ctx, c, objs); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// installCRDs applies Istio's CRDs from the istio.io/istio module and waits
// until each is Established.
func (l *Lab) installCRDs(ctx context.Context, c *cluster) error {
	crds, err := istioCRDs()
	if err != nil {
		return err
	}
	// A plain create: server-side apply of ~1 MB of schemas costs the
	// apiserver seconds of CPU computing managed fields.
	// A few at a time: the apiserver overlaps storing one with building
	// the OpenAPI of another.
	if crds, err = l.olderCRDs(c, crds); err != nil {
		return err
	}
	errs := make([]error, len(crds))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, u := range crds {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, u *unstructured.Unstructured) {
			defer func() { <-sem; wg.Done() }()
			_, err := c.dyn.Resource(crdGVR).Create(ctx, u.DeepCopy(), metav1.CreateOptions{FieldManager: "meshfed-lab"})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				errs[i] = fmt.Errorf("create CRD %s: %w", u.GetName(), err)
			}
		}(i, u)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	l.tracef("%s: CRDs created", c.name)
	return poll(ctx, 90*time.Second, 100*time.Millisecond, func() (bool, error) {
		list, err := c.dyn.Resource(crdGVR).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		n := 0
		for i := range list.Items {
			if established(&list.Items[i]) {
				n++
			}
		}
		return n >= len(crds), nil
	})
}

var (
	istioOnce   sync.Once
	istioDir    string
	istioDirErr error
)

// IstioModuleDir is the istio.io/istio module the product pins, from the
// module cache ($MESHFED_ISTIO_DIR overrides).
func IstioModuleDir() (string, error) {
	istioOnce.Do(func() {
		if d := os.Getenv("MESHFED_ISTIO_DIR"); d != "" {
			istioDir = d
			return
		}
		root, err := ModuleRoot()
		if err != nil {
			istioDirErr = err
			return
		}
		cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "istio.io/istio")
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			istioDirErr = fmt.Errorf("go list -m istio.io/istio: %w", err)
			return
		}
		istioDir = strings.TrimSpace(string(out))
		if istioDir == "" {
			istioDirErr = fmt.Errorf("istio.io/istio is not in the module cache (go mod download istio.io/istio)")
		}
	})
	return istioDir, istioDirErr
}

// istioTag is the image tag a build of the pinned istio commit carries.
func istioTag() string {
	d, err := IstioModuleDir()
	if err != nil {
		return "1.31-dev"
	}
	v := filepath.Base(d)
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return "1.31-alpha." + v[i+1:]
	}
	return "1.31-dev"
}

// parseCRDVersions reads a crd-versions fault's value:
// "<crd>=<version>,<version>…".
func parseCRDVersions(v string) (crd string, versions []string, err error) {
	crd, list, ok := strings.Cut(v, "=")
	if ok {
		for _, s := range strings.Split(list, ",") {
			if s = strings.TrimSpace(s); s != "" {
				versions = append(versions, s)
			}
		}
	}
	if crd == "" || len(versions) == 0 {
		return "", nil, fmt.Errorf("crd-versions %q: want <crd>=<version>,<version>…", v)
	}
	return crd, versions, nil
}

// olderCRDs applies the cluster's crd-versions faults to the pinned CRDs:
// each named CRD keeps only the versions listed (the first stored), its
// schemas the pinned release's for those versions, as an older release's
// CRD serves them. The CRD is created that way, as installing the older
// base chart does: an update could not drop a version already stored.
func (l *Lab) olderCRDs(c *cluster, crds []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	faults := l.scenario.faultsFor(c.name, FaultCRDVersions)
	if len(faults) == 0 {
		return crds, nil
	}
	out := slices.Clone(crds)
	for _, f := range faults {
		name, keep, err := parseCRDVersions(f.Value)
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(out, func(u *unstructured.Unstructured) bool { return u.GetName() == name })
		if i < 0 {
			return nil, fmt.Errorf("crd-versions: no CRD %s among Istio's", name)
		}
		u := out[i].DeepCopy()
		versions, _, _ := unstructured.NestedSlice(u.Object, "spec", "versions")
		var kept []any
		for _, want := range keep {
			found := false
			for _, v := range versions {
				m := v.(map[string]any)
				if m["name"] == want {
					m["served"], m["storage"] = true, len(kept) == 0
					kept, found = append(kept, m), true
				}
			}
			if !found {
				return nil, fmt.Errorf("crd-versions: CRD %s has no version %s to keep", name, want)
			}
		}
		if err := unstructured.SetNestedSlice(u.Object, kept, "spec", "versions"); err != nil {
			return nil, err
		}
		out[i] = u
		l.logf("  %s: CRD %s serves %s only (fault %s)", c.name, name, strings.Join(keep, ", "), f)
	}
	return out, nil
}

var (
	crdOnce sync.Once
	crdObjs []*unstructured.Unstructured
	crdErr  error
)

func istioCRDs() ([]*unstructured.Unstructured, error) {
	crdOnce.Do(func() {
		d, err := IstioModuleDir()
		if err != nil {
			crdErr = err
			return
		}
		b, err := os.ReadFile(filepath.Join(d, "manifests/charts/base/files/crd-all.gen.yaml"))
		if err != nil {
			crdErr = err
			return
		}
		crdObjs, crdErr = splitYAML(string(b))
		if crdErr == nil && len(crdObjs) == 0 {
			crdErr = fmt.Errorf("no CRDs in crd-all.gen.yaml")
		}
	})
	return crdObjs, crdErr
}
