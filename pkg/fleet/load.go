package fleet

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	istionet "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// decoder decodes fixtures and bundles: the kinds the collector reads,
// typed (package kube's scheme); any other kind is decoded as unstructured,
// and Add names it.
var decoder = sync.OnceValue(func() runtime.Decoder { return kube.Codecs().UniversalDeserializer() })

// Add reduces an API object the way the collector does and adds it to the
// cluster. Kinds the doctor does not read are an error.
func addObject(c *model.Cluster, obj runtime.Object) error {
	switch o := obj.(type) {
	case *corev1.Namespace:
		addNamespace(c, o.ObjectMeta)
	case *corev1.Node:
		c.Nodes = append(c.Nodes, fromNode(o))
	case *corev1.Service:
		c.Services = append(c.Services, fromService(o))
	case *discoveryv1.EndpointSlice:
		c.EndpointSlices = append(c.EndpointSlices, fromEndpointSlice(o))
	case *appsv1.Deployment:
		if isIstioCSR(o.Labels) {
			c.IstioCSR = append(c.IstioCSR, fromIstioCSR(o))
		} else {
			c.Deployments = append(c.Deployments, fromDeployment(o))
		}
	case *corev1.Pod:
		c.Pods = append(c.Pods, fromPod(o))
	case *appsv1.DaemonSet:
		c.DaemonSets = append(c.DaemonSets, fromDaemonSet(o))
	case *corev1.ConfigMap:
		c.ConfigMaps = append(c.ConfigMaps, fromConfigMap(o))
	case *corev1.Secret:
		c.Secrets = append(c.Secrets, fromSecret(o))
	case *admissionv1.MutatingWebhookConfiguration:
		c.Webhooks = append(c.Webhooks, fromWebhook(o))
	case *istionet.Gateway:
		c.Gateways = append(c.Gateways, fromGateway(o))
	case *istionet.DestinationRule:
		c.DestinationRules = append(c.DestinationRules, fromDestinationRule(o))
	case *istionet.WorkloadEntry:
		c.WorkloadEntries = append(c.WorkloadEntries, fromWorkloadEntry(o))
	case *unstructured.Unstructured:
		if o.GroupVersionKind().GroupKind() == (schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}) {
			return fromCRD(c, o)
		}
		if o.GroupVersionKind().GroupKind() == (schema.GroupKind{Group: model.GatewayAPIGroupVersion.Group, Kind: "Gateway"}) {
			c.GatewayAPIGateways = append(c.GatewayAPIGateways, fromGatewayAPIGateway(o))
			return nil
		}
		if o.GroupVersionKind().GroupKind() == (schema.GroupKind{Group: model.GatewayAPIGroupVersion.Group, Kind: "GatewayClass"}) {
			c.GatewayClasses = append(c.GatewayClasses, fromGatewayClass(o))
			return nil
		}
		if _, ok := awsPCAResources[o.GetKind()]; !ok || o.GroupVersionKind().Group != model.AWSPCAGroupVersion.Group {
			return fmt.Errorf("the doctor does not read %s", o.GroupVersionKind())
		}
		c.AWSPCAIssuers = append(c.AWSPCAIssuers, fromAWSPCAIssuer(o))
	default:
		return fmt.Errorf("the doctor does not read %T", obj)
	}
	return nil
}

// StateFile is the optional file in a fixture context folder that sets what
// is not an object: the server, reachability and per-kind read failures.
const StateFile = "_state.yaml"

type clusterState struct {
	Server    string                `json:"server"`
	Reachable *bool                 `json:"reachable"`
	Error     string                `json:"error"`
	Failures  map[model.Kind]string `json:"failures"`
}

// LoadDir builds a Fleet from a folder of YAML manifests, one sub-folder per
// context (DIR/<context>/*.yaml), in the order of the folder names. It is how
// checks are tested from fixtures: the objects go through the same reduction
// as a live read.
func LoadDir(dir, istioNamespace string) (*model.Fleet, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	f := &model.Fleet{IstioNamespace: istioNamespace}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c := &model.Cluster{Context: e.Name(), IstioNamespace: istioNamespace, Reachable: true, Server: "https://" + e.Name() + ".example:6443"}
		if err := loadContextDir(c, filepath.Join(dir, e.Name())); err != nil {
			return nil, err
		}
		f.Clusters = append(f.Clusters, c)
	}
	sort.Slice(f.Clusters, func(i, j int) bool { return f.Clusters[i].Context < f.Clusters[j].Context })
	// Probe results, when the fixture has them (DIR/_probes.yaml).
	if b, err := os.ReadFile(filepath.Join(dir, ProbesFile)); err == nil {
		f.Probes = &model.Probes{}
		if err := yaml.UnmarshalStrict(b, f.Probes); err != nil {
			return nil, fmt.Errorf("%s: %w", ProbesFile, err)
		}
	}
	// What the AWS APIs said, when the fixture has it (DIR/_awsnetwork.yaml).
	if b, err := os.ReadFile(filepath.Join(dir, AWSNetworkFile)); err == nil {
		f.AWSNetwork = &model.AWSNetwork{}
		if err := yaml.UnmarshalStrict(b, f.AWSNetwork); err != nil {
			return nil, fmt.Errorf("%s: %w", AWSNetworkFile, err)
		}
	}
	// What AWS Private CA said, when the fixture has it (DIR/_awspca.yaml).
	if b, err := os.ReadFile(filepath.Join(dir, AWSPrivateCAFile)); err == nil {
		f.AWSPrivateCA = &model.AWSPrivateCA{}
		if err := yaml.UnmarshalStrict(b, f.AWSPrivateCA); err != nil {
			return nil, fmt.Errorf("%s: %w", AWSPrivateCAFile, err)
		}
	}
	return f, nil
}

// AWSPrivateCAFile is the optional file at the top of a fixture folder
// holding what AWS Private CA said (an AWSPrivateCA document).
const AWSPrivateCAFile = "_awspca.yaml"

// AWSNetworkFile is the optional file at the top of a fixture folder holding
// what the AWS APIs said (an AWSNetwork document).
const AWSNetworkFile = "_awsnetwork.yaml"

// ProbesFile is the optional file at the top of a fixture folder holding
// the live probes' results (a Probes document).
const ProbesFile = "_probes.yaml"

func loadContextDir(c *model.Cluster, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		if filepath.Base(file) == StateFile {
			var st clusterState
			if err := yaml.UnmarshalStrict(b, &st); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			if st.Server != "" {
				c.Server = st.Server
			}
			if st.Reachable != nil {
				c.Reachable = *st.Reachable
			}
			c.Error, c.Failures = st.Error, st.Failures
			continue
		}
		if err := AddManifests(c, b); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
	}
	resolveRuntimeIssuers(c)
	return nil
}

// decode decodes one object: the kinds of Kubernetes and Istio typed, the
// others (custom resources the doctor reads as unstructured) as they are.
func decode(doc []byte) (runtime.Object, error) {
	obj, _, err := decoder().Decode(doc, nil, nil)
	if !runtime.IsNotRegisteredError(err) {
		return obj, err
	}
	js, yerr := yaml.YAMLToJSON(doc)
	if yerr != nil {
		return nil, err
	}
	return runtime.Decode(unstructured.UnstructuredJSONScheme, js)
}

// AddManifests decodes a multi-document YAML stream and adds every object.
func AddManifests(c *model.Cluster, manifests []byte) error {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(manifests)))
	for i := 1; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(doc)) == 0 || strings.TrimSpace(string(doc)) == "---" {
			continue
		}
		obj, err := decode(doc)
		if err != nil {
			return fmt.Errorf("document %d: %w", i, err)
		}
		if list, ok := obj.(*corev1.List); ok {
			for _, item := range list.Items {
				o, _, err := decoder().Decode(item.Raw, nil, nil)
				if err != nil {
					return fmt.Errorf("document %d: %w", i, err)
				}
				if err := addObject(c, o); err != nil {
					return err
				}
			}
			continue
		}
		if err := addObject(c, obj); err != nil {
			return fmt.Errorf("document %d: %w", i, err)
		}
	}
}
