package lab

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// findBinDir locates the lab's binaries.
func findBinDir(dir string) (string, error) {
	if dir == "" {
		dir = os.Getenv("MESHFED_LAB_BIN")
	}
	if dir == "" {
		root, err := ModuleRoot()
		if err != nil {
			return "", fmt.Errorf("no BinDir and no MESHFED_LAB_BIN: %w", err)
		}
		dir = filepath.Join(root, ".bin")
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "pilot-discovery"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("%s not found in %s (run tools/build.sh or make tools): %w", b, dir, ErrNoBinaries)
		}
	}
	return filepath.Abs(dir)
}

// ErrNoBinaries means the lab's binaries have not been built.
var ErrNoBinaries = errors.New("lab binaries missing")

// ModuleRoot finds the directory of kubectl-meshfed's go.mod from the working
// directory upwards.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/meshfed/kubectl-meshfed\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("not inside the kubectl-meshfed module")
		}
		dir = parent
	}
}

func (l *Lab) hasGateway(c *cluster) bool {
	if l.scenario.has(c.name, FaultNoGateway) {
		return false
	}
	return l.scenario.MultiNetwork || (l.scenario.Topology == PrimaryRemote && c.role == "primary")
}

// makeClusters decides roles and networks and makes every certificate.
func (l *Lab) makeClusters() error {
	sc := l.scenario
	sharedRoot, err := newRootCA("meshfed-lab root CA", "meshfed-lab "+sc.MeshID)
	if err != nil {
		return err
	}
	for i, name := range l.names {
		c := &cluster{name: name, id: name, index: i, dir: filepath.Join(l.workDir, name), role: "primary", network: "network1"}
		if sc.MultiNetwork {
			c.network = "network-" + name
		}
		for _, f := range sc.faultsFor(name, FaultClusterID) {
			c.id = f.Value
		}
		if sc.Topology == PrimaryRemote && i > 0 {
			c.role = "remote"
			c.primary = l.names[0]
		}
		if err := os.MkdirAll(filepath.Join(c.dir, "cacerts"), 0o700); err != nil {
			return err
		}
		// The cluster's own Kubernetes CA, serving cert and admin credentials.
		if c.kubeCA, err = newRootCA(name+"-kubernetes-ca", "meshfed-lab"); err != nil {
			return err
		}
		addr := net.ParseIP(l.net.addr(name))
		servCert, servKey, _, _, err := c.kubeCA.issue(certReq{
			cn: "kube-apiserver", server: true,
			ips: []net.IP{addr, net.ParseIP("127.0.0.1"), net.ParseIP(serviceIP(i))},
			dns: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"},
		})
		if err != nil {
			return err
		}
		adminCert, adminKey, _, _, err := c.kubeCA.issue(certReq{cn: "meshfed-lab-admin", org: []string{"system:masters"}, client: true})
		if err != nil {
			return err
		}
		saKey, saKeyPEM, err := newKey()
		if err != nil {
			return err
		}
		saPub, err := publicKeyPEM(saKey)
		if err != nil {
			return err
		}
		files := map[string][]byte{
			"ca.crt": c.kubeCA.certPEM, "serving.crt": servCert, "serving.key": servKey,
			"admin.crt": adminCert, "admin.key": adminKey, "sa.key": saKeyPEM, "sa.pub": saPub,
		}
		// Istio's CA: an intermediate from the shared root, or from a root
		// of its own, or none (istiod then self-signs).
		switch {
		case c.role == "remote" || sc.has(name, FaultSelfSignedCA):
		case sc.has(name, FaultPKIScenario):
			if c.meshCA, c.istiodEnv, err = l.pkiCluster(name); err != nil {
				return err
			}
		case sc.has(name, FaultOwnRoot):
			own, err := newRootCA(name+" own root CA", "meshfed-lab "+name)
			if err != nil {
				return err
			}
			if c.meshCA, err = own.intermediate(name+" intermediate CA", "meshfed-lab "+name); err != nil {
				return err
			}
		default:
			if c.meshCA, err = sharedRoot.intermediate(name+" intermediate CA", "meshfed-lab "+sc.MeshID); err != nil {
				return err
			}
		}
		if c.meshCA != nil {
			for k, v := range c.meshCA.cacertsFiles() {
				files[filepath.Join("cacerts", k)] = v
			}
			l.logf("  %s: istio CA root %s", name, Fingerprint(c.meshCA.rootPEM))
		}
		for f, b := range files {
			if err := os.WriteFile(filepath.Join(c.dir, f), b, 0o600); err != nil {
				return err
			}
		}
		c.rest = &rest.Config{
			Host: "https://" + addr.String() + ":6443",
			TLSClientConfig: rest.TLSClientConfig{
				CAData: c.kubeCA.certPEM, CertData: adminCert, KeyData: adminKey,
			},
			QPS: 200, Burst: 400, Timeout: 30 * time.Second,
		}
		if c.client, err = kubernetes.NewForConfig(c.rest); err != nil {
			return err
		}
		if c.dyn, err = dynamic.NewForConfig(c.rest); err != nil {
			return err
		}
		l.clusters[name] = c
	}
	// Remotes trust their primary's root.
	for _, c := range l.clusters {
		if c.role == "remote" {
			c.meshCA = l.clusters[c.primary].meshCA
		}
	}
	return nil
}

// serviceIP is the first address of a cluster's service range (the
// kubernetes Service's ClusterIP).
func serviceIP(i int) string { return fmt.Sprintf("10.%d.0.1", i+1) }

func serviceRange(i int) string { return fmt.Sprintf("10.%d.0.0/16", i+1) }

// writeKubeconfig writes the lab's kubeconfig (all contexts) and one
// single-context kubeconfig per cluster for its own processes.
func (l *Lab) writeKubeconfig() error {
	all := clientcmdapi.NewConfig()
	for _, name := range l.names {
		c := l.clusters[name]
		one := clientcmdapi.NewConfig()
		for _, cfg := range []*clientcmdapi.Config{all, one} {
			cfg.Clusters[name] = &clientcmdapi.Cluster{Server: c.rest.Host, CertificateAuthorityData: c.rest.CAData}
			cfg.AuthInfos[name+"-admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: c.rest.CertData, ClientKeyData: c.rest.KeyData}
			cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name + "-admin"}
		}
		one.CurrentContext = name
		if err := clientcmd.WriteToFile(*one, filepath.Join(c.dir, "kubeconfig")); err != nil {
			return err
		}
	}
	all.CurrentContext = l.names[0]
	return clientcmd.WriteToFile(*all, l.Kubeconfig())
}

func (l *Lab) bin(name string) string { return filepath.Join(l.binDir, name) }

func (l *Lab) startEtcd(ctx context.Context) error {
	host := l.net.hostAddr()
	dir := filepath.Join(l.workDir, "etcd")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	client := "http://" + host + ":2379"
	peer := "http://" + host + ":2380"
	p, err := l.startProc("etcd", "", dir, l.bin("etcd"), []string{
		"--name", "lab", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "lab=" + peer,
		"--unsafe-no-fsync", "--quota-backend-bytes", "4294967296",
		"--listen-metrics-urls", "http://" + host + ":2381",
		"--log-level", "warn",
	}, []string{"GOMAXPROCS=2"})
	if err != nil {
		return err
	}
	return poll(ctx, 20*time.Second, 50*time.Millisecond, func() (bool, error) {
		if err := p.exited(); err != nil {
			return false, err
		}
		resp, err := http.Get(client + "/health")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == 200, nil
	})
}

// poll calls f until it returns true or an error, or the timeout passes.
func poll(ctx context.Context, timeout, every time.Duration, f func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var lastErr error
	for {
		ok, err := f()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("%w: %v", ctx.Err(), lastErr)
			}
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

// bootCluster starts the apiserver and controller manager of one cluster and
// installs Istio's CRDs and objects.
func (l *Lab) bootCluster(ctx context.Context, c *cluster) error {
	addr := l.net.addr(c.name)
	ns := l.net.ns(c.name)
	f := func(n string) string { return filepath.Join(c.dir, n) }
	kubelet, err := l.kubeletFlags(c) // pods/portforward through the node agents
	if err != nil {
		return err
	}
	c.apiserver, err = l.startProc("kube-apiserver-"+c.name, ns, c.dir, l.bin("kube-apiserver"), append([]string{
		"--etcd-servers=http://" + l.net.hostAddr() + ":2379",
		"--etcd-prefix=/registry-" + c.name,
		"--bind-address=" + addr, "--advertise-address=" + addr, "--secure-port=6443",
		"--tls-cert-file=" + f("serving.crt"), "--tls-private-key-file=" + f("serving.key"),
		"--client-ca-file=" + f("ca.crt"),
		"--service-account-key-file=" + f("sa.pub"),
		"--service-account-signing-key-file=" + f("sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--api-audiences=https://kubernetes.default.svc.cluster.local,istio-ca",
		"--authorization-mode=RBAC",
		"--endpoint-reconciler-type=none",
		"--service-cluster-ip-range=" + serviceRange(c.index),
		"--allow-privileged=true",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--cert-dir=" + f("apiserver-certs"),
		"--v=1",
	}, kubelet...), append([]string{"GOMAXPROCS=2"}, splitEnv(os.Getenv("MESHFED_LAB_APISERVER_ENV"))...))
	if err != nil {
		return err
	}
	if err := poll(ctx, 120*time.Second, 100*time.Millisecond, func() (bool, error) {
		if err := c.apiserver.exited(); err != nil {
			return false, err
		}
		b, err := c.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(b) == "ok", nil
	}); err != nil {
		return fmt.Errorf("apiserver not ready: %w", err)
	}
	l.logf("  %s: apiserver ready after %s", c.name, l.since())
	data, err := l.templateData(c)
	if err != nil {
		return err
	}
	var objs []*unstructured.Unstructured
	for _, t := range []struct {
		name, text string
		data       any
	}{
		{"cluster", clusterTemplate, data}, {"samples", samplesTemplate, l.workloadData(c, data)}, {"scenario objects", l.scenario.Objects, data},
	} {
		o, err := render(t.name, t.text, t.data)
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		objs = append(objs, o...)
	}
	stale, err := l.staleRootObjects(c)
	if err != nil {
		return err
	}
	objs = append(objs, stale...)
	in, err := l.install(ctx, c, data)
	if err != nil {
		return fmt.Errorf("install with %s: %w", l.scenario.Installer, err)
	}
	c.installed = in
	objs = append(objs, in.objects...)
	webhooks := in.webhooks
	// Kubernetes' own kinds go in while the apiserver is still establishing
	// Istio's CRDs; Istio's kinds follow once they are served.
	var core, istio []*unstructured.Unstructured
	for _, o := range objs {
		if strings.Contains(o.GetAPIVersion(), "istio.io/") {
			istio = append(istio, o)
		} else {
			core = append(core, o)
		}
	}
	crdDone := make(chan error, 1)
	go func() { crdDone <- l.installCRDs(ctx, c) }()
	coreErr := l.apply(ctx, c, core)
	l.tracef("%s: core objects applied", c.name)
	if err := <-crdDone; err != nil {
		return fmt.Errorf("istio CRDs: %w", err)
	}
	if coreErr != nil {
		return coreErr
	}
	l.tracef("%s: CRDs established", c.name)
	if err := l.apply(ctx, c, istio); err != nil {
		return err
	}
	if err := l.apply(ctx, c, webhooks); err != nil {
		return err
	}
	l.tracef("%s: istio objects applied", c.name)
	// Controllers start once the stand-ins are adopted (workloads.go).
	if err := l.adoptStandIns(ctx, c); err != nil {
		return err
	}
	c.kcm, err = l.startProc("kube-controller-manager-"+c.name, ns, c.dir, l.bin("kube-controller-manager"), []string{
		"--kubeconfig=" + f("kubeconfig"),
		"--controllers=" + strings.Join(kcmControllers, ","),
		"--service-account-private-key-file=" + f("sa.key"),
		"--root-ca-file=" + f("ca.crt"),
		"--use-service-account-credentials=false",
		"--leader-elect=false",
		"--secure-port=0",
		"--v=1",
	}, []string{"GOMAXPROCS=1"})
	if err != nil {
		return err
	}
	if err := l.startPodRunner(ctx, c); err != nil {
		return err
	}
	if err := l.startServiceProxy(ctx, c); err != nil {
		return err
	}
	if err := l.startNodeAgents(ctx, c); err != nil {
		return err
	}
	if l.scenario.remoteSecretsByIstioctl() {
		return nil // istioctl create-remote-secret makes the reader's token
	}
	// The reader token, filled by kube-controller-manager's token controller.
	return poll(ctx, 60*time.Second, 100*time.Millisecond, func() (bool, error) {
		if err := c.kcm.exited(); err != nil {
			return false, err
		}
		s, err := c.client.CoreV1().Secrets("istio-system").Get(ctx, "istio-reader-service-account-istio-remote-secret-token", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		if t := s.Data["token"]; len(t) > 0 {
			c.token = string(t)
			return true, nil
		}
		return false, nil
	})
}

// remoteSecretName is the name istioctl create-remote-secret gives.
func remoteSecretName(cluster string) string {
	return "istio-remote-secret-" + strings.ToLower(cluster)
}

// writeRemoteSecrets gives every primary a secret for every other cluster,
// the way `istioctl create-remote-secret --name=<peer> | kubectl apply` does,
// except where the scenario leaves one out or spoils it.
func (l *Lab) writeRemoteSecrets(ctx context.Context) error {
	return l.forEach(func(p *cluster) error {
		if p.role != "primary" {
			return nil
		}
		for _, peerName := range l.names {
			peer := l.clusters[peerName]
			if peer == p {
				continue
			}
			if l.scenario.hasFor(p.name, peer.name, FaultMissingRemoteSecret) {
				l.logf("  %s: no remote secret for %s (fault)", p.name, peer.name)
				continue
			}
			token := peer.token
			if l.scenario.hasFor(p.name, peer.name, FaultBadRemoteSecret) || l.scenario.duplicateSecret(p.name, peer.name) == DuplicateBadFirst {
				token = spoilToken(token)
				l.logf("  %s: remote secret for %s carries a rejected token (fault)", p.name, peer.name)
			}
			if err := l.writeRemoteSecret(ctx, p, peer, token); err != nil {
				return err
			}
		}
		return nil
	})
}

// writeDuplicateSecret writes the second remote secret of a
// duplicate-remote-secret fault: a stale copy with a rejected token
// (good-first) or a good copy (bad-first). It is written once p's istiod
// has registered peer from istioctl's secret, as a second
// create-remote-secret run later does: istiod keeps the cluster it
// registered and warns "cluster has already been registered" for the
// duplicate. Written beside istioctl's before istiod started, the two
// came in either order (the API server's list order is not the names'):
// CI saw istiod register the -new copy first.
func (l *Lab) writeDuplicateSecret(ctx context.Context, p, peer *cluster) error {
	if l.scenario.duplicateSecret(p.name, peer.name) == "" {
		return nil
	}
	if _, err := l.WaitClusterz(ctx, p.name, func(m map[string]string) bool { _, ok := m[peer.id]; return ok }); err != nil {
		return fmt.Errorf("%s's istiod never registered %s from istioctl's secret: %w", p.name, peer.name, err)
	}
	switch l.scenario.duplicateSecret(p.name, peer.name) {
	case DuplicateGoodFirst:
		l.logf("  %s: a second remote secret for %s, %s-old, carries a rejected token (fault)", p.name, peer.name, remoteSecretName(peer.id))
		return l.writeRemoteSecretNamed(ctx, p, peer, spoilToken(peer.token), remoteSecretName(peer.id)+"-old")
	case DuplicateBadFirst:
		l.logf("  %s: a second remote secret for %s, %s-new, is good (fault)", p.name, peer.name, remoteSecretName(peer.id))
		return l.writeRemoteSecretNamed(ctx, p, peer, peer.token, remoteSecretName(peer.id)+"-new")
	}
	return nil
}

func (l *Lab) writeRemoteSecret(ctx context.Context, p, peer *cluster, token string) error {
	return l.writeRemoteSecretNamed(ctx, p, peer, token, remoteSecretName(peer.id))
}

func (l *Lab) writeRemoteSecretNamed(ctx context.Context, p, peer *cluster, token, name string) error {
	b, err := remoteKubeconfig(peer, token)
	if err != nil {
		return err
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: "istio-system",
			Labels:    map[string]string{"istio/multiCluster": "true"},
			Annotations: map[string]string{
				"networking.istio.io/cluster": peer.id,
			},
		},
		Data: map[string][]byte{peer.id: b},
	}
	if _, err := p.client.CoreV1().Secrets("istio-system").Create(ctx, s, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("remote secret for %s: %w", peer.name, err)
	}
	return nil
}

// ReaddRemoteSecret deletes primary's remote secret for peer and writes it
// again (with a good token), as re-running istioctl create-remote-secret
// would: istiod drops the cluster and connects to it anew. After CutPath
// this is how istiod's clusterz comes to show the cut ("timeout").
func (l *Lab) ReaddRemoteSecret(ctx context.Context, primary, peer string) error {
	p, q := l.clusters[primary], l.clusters[peer]
	if p == nil || q == nil || p.role != "primary" || p == q {
		return fmt.Errorf("no remote secret of %s for %s", primary, peer)
	}
	// istiod tears a peer down right after its clusterz turns to timeout
	// ("remote cluster west failed to sync" and "sync failed" in its log);
	// a deletion of the secret racing that teardown wedges its secret
	// controller, which then processes no event of the secret again (seen
	// in CI: "Deleting cluster_id=west" interleaved with "sync failed", then
	// three re-creations of the secret that istiod never read). Let the
	// teardown finish first.
	if m, err := l.ClusterzMap(ctx, primary); err == nil && m[q.id] == Timeout {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(3 * time.Second):
		}
	}
	secrets := p.client.CoreV1().Secrets("istio-system")
	err := secrets.Delete(ctx, remoteSecretName(q.id), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	// Let istiod see the deletion before the new secret arrives.
	if _, err := l.WaitClusterz(ctx, primary, func(m map[string]string) bool { _, ok := m[q.id]; return !ok }); err != nil {
		return err
	}
	return l.writeRemoteSecret(ctx, p, q, q.token)
}

// remoteKubeconfig is the kubeconfig of a remote secret for peer, as
// istioctl create-remote-secret writes it.
func remoteKubeconfig(peer *cluster, token string) ([]byte, error) {
	kc := clientcmdapi.NewConfig()
	// istioctl names everything in the kubeconfig after the cluster ID (--name).
	kc.Clusters[peer.id] = &clientcmdapi.Cluster{Server: peer.rest.Host, CertificateAuthorityData: peer.kubeCA.certPEM}
	kc.AuthInfos[peer.id] = &clientcmdapi.AuthInfo{Token: token}
	kc.Contexts[peer.id] = &clientcmdapi.Context{Cluster: peer.id, AuthInfo: peer.id}
	kc.CurrentContext = peer.id
	return clientcmd.Write(*kc)
}

// spoilToken keeps a token's shape but breaks its signature, as a token
// from another cluster or a rotated key would look.
func spoilToken(t string) string {
	i := strings.LastIndexByte(t, '.')
	if i < 0 || i+8 > len(t) {
		return "invalid-token"
	}
	sig := []byte(t[i+1:])
	for j := 0; j < 8; j++ {
		if sig[j] == 'A' {
			sig[j] = 'B'
		} else {
			sig[j] = 'A'
		}
	}
	return t[:i+1] + string(sig)
}

// startIstiod runs pilot-discovery for a primary inside its network.
func (l *Lab) startIstiod(ctx context.Context, c *cluster) error {
	addr := l.net.addr(c.name)
	// What istiod's pod would mount from the installer's ConfigMap istio.
	mesh, networks := c.installed.mesh, c.installed.meshNetworks
	if err := os.WriteFile(filepath.Join(c.dir, "mesh.yaml"), []byte(mesh), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.dir, "networks.yaml"), []byte(networks), 0o600); err != nil {
		return err
	}
	// In its own namespace, like in a pod (Istio's chart: --monitoringAddr=:15014).
	httpAddr, monitoringAddr := ":8080", ":15014"
	if !l.net.isolated {
		httpAddr, monitoringAddr = addr+":8080", addr+":15014"
	}
	work := filepath.Join(c.dir, "istiod")
	if err := os.MkdirAll(work, 0o700); err != nil {
		return err
	}
	var extraEnv []string
	for k, v := range c.istiodEnv {
		extraEnv = append(extraEnv, k+"="+v)
	}
	var err error
	c.istiod, err = l.startProc("istiod-"+c.name, l.net.ns(c.name), work, l.bin("pilot-discovery"), []string{
		"discovery",
		"--kubeconfig", filepath.Join(c.dir, "kubeconfig"),
		"--clusterID", c.id,
		"--domain", "cluster.local",
		"--meshConfig", filepath.Join(c.dir, "mesh.yaml"),
		"--networksConfig", filepath.Join(c.dir, "networks.yaml"),
		"--httpAddr", httpAddr,
		"--grpcAddr", addr + ":15010",
		"--secureGRPCAddr", addr + ":15012",
		"--httpsAddr", addr + ":15017",
		"--monitoringAddr", monitoringAddr,
		"--ctrlz_port", "9876",
		"--ctrlz_address", addr,
		"--log_output_level", "default:info",
	}, append(append(renderedEnv(c), // the lab's own below win (exec keeps the last of a key)
		"POD_NAMESPACE=istio-system",
		"POD_NAME=istiod-"+c.name,
		"REVISION=default",
		"CLUSTER_ID="+c.id,
		"INJECTION_WEBHOOK_CONFIG_NAME=istio-sidecar-injector",
		"VALIDATION_WEBHOOK_CONFIG_NAME=",
		"PILOT_REMOTE_CLUSTER_TIMEOUT="+l.cfg.RemoteClusterTimeout.String(),
		"ROOT_CA_DIR="+filepath.Join(c.dir, "cacerts"),
		"ISTIOD_CUSTOM_HOST="+l.istiodHosts(c),
		"PILOT_ENABLE_ANALYSIS=false",
		"GOMAXPROCS=2",
		"KUBECONFIG=",
	), extraEnv...))
	if err != nil {
		return err
	}
	if err := l.startDebugForward(c); err != nil {
		return err
	}
	err = poll(ctx, 90*time.Second, 100*time.Millisecond, func() (bool, error) {
		if err := c.istiod.exited(); err != nil {
			return false, err
		}
		resp, err := debugClient.Get(l.IstiodDebugURL(c.name) + "/debug/clusterz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == 200, nil
	})
	if exitErr := c.istiod.exited(); err != nil && exitErr != nil && l.mayRefuseCA(c) {
		// The CA was installed broken on purpose; istiod refusing it is
		// what a real cluster would show, so the lab reports it.
		c.istiodErr = exitErr
		l.logf("  %s: istiod refused its CA and exited: %s", c.name, lastLines(exitErr.Error(), 1))
		return l.reportIstiodDown(ctx, c, exitErr)
	}
	return err
}

// istiodHosts are the addresses istiod's own certificate names besides
// istiod.istio-system.svc: the cluster's address, and for the primary of
// primary-remote its gateway's (the one the lab gives it, or will give it
// through ProvisionGateways): the address the remotes' istiod Service
// endpoints name, and a webhook URL would (injectionURL, the external
// control plane guide's form; the lab's remotes call istiod through their
// Service, verifying istiod.istio-system.svc).
func (l *Lab) istiodHosts(c *cluster) string {
	hosts := l.net.addr(c.name)
	if l.scenario.Topology == PrimaryRemote && c.role == "primary" {
		hosts += "," + l.net.gatewayAddr(c.name)
	}
	return hosts
}

// expectedIDs lists the cluster IDs a primary's clusterz will show: its own
// and those of the peers it has a remote secret for (a secret keyed with
// its own ID is ignored by istiod).
func (l *Lab) expectedIDs(p *cluster) []string {
	out := []string{p.id}
	for _, n := range l.names {
		q := l.clusters[n]
		if q != p && q.id != p.id && !l.scenario.hasFor(p.name, n, FaultMissingRemoteSecret) && !contains(p.secretsGone, n) {
			out = append(out, q.id)
		}
	}
	return out
}

// waitSettled waits until every istiod lists every cluster it has a secret
// for, none of them still syncing.
func (l *Lab) waitSettled(ctx context.Context) error {
	return l.forEach(func(c *cluster) error {
		if c.role != "primary" || c.istiodErr != nil {
			return nil // exited at start (IstiodExited): nothing to settle
		}
		return l.settle(ctx, c)
	})
}

// settle waits until the primary's istiod lists every cluster it has a
// secret for, none of them still syncing.
func (l *Lab) settle(ctx context.Context, c *cluster) error {
	want := l.expectedIDs(c)
	var last []ClusterStatus
	err := poll(ctx, 60*time.Second+2*l.cfg.RemoteClusterTimeout, 200*time.Millisecond, func() (bool, error) {
		if err := c.istiod.exited(); err != nil {
			return false, err
		}
		st, err := l.Clusterz(ctx, c.name)
		if err != nil {
			return false, nil
		}
		last = st
		seen := map[string]string{}
		for _, s := range st {
			seen[s.ID] = s.SyncStatus
		}
		for _, w := range want {
			if s, ok := seen[w]; !ok || s == "syncing" {
				return false, nil
			}
		}
		if c.meshCA == nil {
			// Self-signed: wait for istiod to publish its root.
			_, err := c.client.CoreV1().ConfigMaps("sample").Get(ctx, "istio-ca-root-cert", metav1.GetOptions{})
			return err == nil, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("istiod did not settle (clusterz %v): %w", last, err)
	}
	if l.scenario.IstiodUnready {
		l.logf("  %s: istiod left unready, as the scenario makes it: 15012 and 15017 not waited for", c.name)
		return nil
	}
	return l.waitSecurePorts(ctx, c)
}

// waitSecurePorts waits until istiod completes TLS on 15012 (xDS) and
// 15017 (webhook): those servers start once istiod has its own
// certificate, a moment after /ready, and a remote cluster's proxies and
// webhook reach istiod there (through the gateway stand-in).
func (l *Lab) waitSecurePorts(ctx context.Context, c *cluster) error {
	for _, port := range []string{"15012", "15017"} {
		addr := net.JoinHostPort(l.net.addr(c.name), port)
		var last error
		err := poll(ctx, 30*time.Second, 200*time.Millisecond, func() (bool, error) {
			d := tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Second},
				Config: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}} //nolint:gosec // only whether TLS completes
			conn, err := d.DialContext(ctx, "tcp", addr)
			if last = err; err != nil {
				return false, nil
			}
			_ = conn.Close()
			return true, nil
		})
		if err != nil {
			return fmt.Errorf("istiod of %s does not serve TLS on %s: %v (%w)", c.name, addr, last, err)
		}
	}
	return nil
}

func splitEnv(s string) []string { return strings.Fields(s) }
