package lab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/remotecommand"
	kubeletportforward "k8s.io/cri-streaming/pkg/streaming/portforward"
)

// The lab has no kubelet, so a node agent per node of a primary stands in
// for the one thing of a kubelet the doctor uses: its streaming
// port-forward endpoint. kube-apiserver proxies pods/portforward to
// https://<node's InternalIP>:<status.daemonEndpoints.kubeletEndpoint.Port>/portForward/<namespace>/<pod>
// with its --kubelet-client-certificate, verifying the node's serving
// certificate against --kubelet-certificate-authority; the agent serves that
// path with the kubelet's own implementation (k8s.io/cri-streaming) and
// connects each forwarded stream to the pod's port the way a container
// runtime does, from inside the pod's network: the cluster's istiod
// process stands in for its istiod pod.

// KubeletPort is the node agents' port, the kubelet's default.
const KubeletPort = 10250

// NodeAgentMode is how a node agent answers the API server.
type NodeAgentMode int

const (
	// NodeAgentServes forwards to the node's pods.
	NodeAgentServes NodeAgentMode = iota
	// NodeAgentHangs accepts the API server's request and never answers,
	// as a wedged kubelet does.
	NodeAgentHangs
	// NodeAgentDown listens no more: the API server's dial is refused.
	NodeAgentDown
)

// nodeAgent is one node's stand-in kubelet.
type nodeAgent struct {
	node, addr, ns string
	tls            *tls.Config
	release        chan struct{} // closed by Stop: hanging requests end

	mu   sync.Mutex
	mode NodeAgentMode
	ln   net.Listener
	pods map[string]podTarget // namespace/name → where its ports are
	// logs gives the log file of a pod's process (namespace/name), which
	// the agent serves as the kubelet serves a container's log.
	logs map[string]func() string
}

// podTarget connects to a port of a pod, from inside the pod's network.
type podTarget func(port int32) (net.Conn, error)

// kubeletFlags are the apiserver flags that let it reach the node agents:
// its client certificate, the CA of their serving certificates, and the
// Node address to dial (the lab's nodes have no resolvable host names).
func (l *Lab) kubeletFlags(c *cluster) ([]string, error) {
	certPEM, keyPEM, _, _, err := c.kubeCA.issue(certReq{cn: "kube-apiserver-kubelet-client", org: []string{"kubeadm:cluster-admins"}, client: true})
	if err != nil {
		return nil, err
	}
	f := func(n string) string { return filepath.Join(c.dir, n) }
	for name, b := range map[string][]byte{"kubelet-client.crt": certPEM, "kubelet-client.key": keyPEM} {
		if err := os.WriteFile(f(name), b, 0o600); err != nil {
			return nil, err
		}
	}
	return []string{
		"--kubelet-client-certificate=" + f("kubelet-client.crt"),
		"--kubelet-client-key=" + f("kubelet-client.key"),
		"--kubelet-certificate-authority=" + f("ca.crt"),
		"--kubelet-preferred-address-types=InternalIP",
	}, nil
}

// startNodeAgents runs a node agent on every node of a primary, at the
// node's InternalIP, records its port in the Node's status, and registers
// the cluster's istiod pods with the agent of their node.
func (l *Lab) startNodeAgents(ctx context.Context, c *cluster) error {
	if c.role != "primary" {
		return nil
	}
	data, err := l.templateData(c)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.kubeCA.certPEM)
	ns := l.net.ns(c.name)
	for _, n := range data.Nodes {
		if l.net.isolated {
			// The node's address, on the cluster's link like the gateway's.
			if err := ipCmd("-n", ns, "addr", "replace", n.IP+"/24", "dev", "eth0"); err != nil {
				return err
			}
		}
		certPEM, keyPEM, _, _, err := c.kubeCA.issue(certReq{cn: n.Name, org: []string{"system:nodes"}, ips: []net.IP{net.ParseIP(n.IP)}, dns: []string{n.Name}, server: true})
		if err != nil {
			return err
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return err
		}
		a := &nodeAgent{node: n.Name, addr: net.JoinHostPort(n.IP, strconv.Itoa(KubeletPort)), ns: ns, release: make(chan struct{}),
			pods: map[string]podTarget{},
			// Like a kubelet with --client-ca-file: only clients the
			// cluster's CA signed, which is the API server's.
			// The upgrade to SPDY is HTTP/1.1 only, as on a kubelet.
			tls: &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
				MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}}
		if err := a.listen(); err != nil {
			return fmt.Errorf("node agent of %s: %w", n.Name, err)
		}
		l.addCloser(a)
		l.mu.Lock()
		if l.agents == nil {
			l.agents = map[string]*nodeAgent{}
		}
		l.agents[c.name+"/"+n.Name] = a
		l.mu.Unlock()
		patch := fmt.Sprintf(`{"status":{"daemonEndpoints":{"kubeletEndpoint":{"Port":%d}}}}`, KubeletPort)
		if _, err := c.client.CoreV1().Nodes().Patch(ctx, n.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "status"); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
	}
	pods, err := c.client.CoreV1().Pods("istio-system").List(ctx, metav1.ListOptions{LabelSelector: "app=istiod"})
	if err != nil {
		return err
	}
	for _, p := range pods.Items {
		if err := l.registerPod(c, &p); err != nil {
			return err
		}
	}
	return nil
}

// istiodTarget reaches the cluster's istiod process as its pod's own
// localhost would: from inside the cluster's network on 127.0.0.1, where
// istiod serves /debug/* without authentication (on loopback, where every
// cluster shares this machine's network, at the cluster's own address).
func (l *Lab) istiodTarget(c *cluster) podTarget {
	host, ns := "127.0.0.1", l.net.ns(c.name)
	if !l.net.isolated {
		host = l.net.addr(c.name)
	}
	own := l.net.addr(c.name)
	return func(port int32) (net.Conn, error) {
		conn, err := dialIn(ns, net.JoinHostPort(host, strconv.Itoa(int(port))))
		if err != nil && host != own {
			// istiod's xDS listener (--grpcAddr) is bound to the cluster's
			// own address, where its pod would listen on every interface.
			if c, err2 := dialIn(ns, net.JoinHostPort(own, strconv.Itoa(int(port)))); err2 == nil {
				return c, nil
			}
		}
		return conn, err
	}
}

func (l *Lab) registerPod(c *cluster, p *corev1.Pod) error {
	if err := l.registerTarget(c, p.Spec.NodeName, p.Namespace+"/"+p.Name, l.istiodTarget(c)); err != nil {
		return err
	}
	// Its log is the istiod process's, whichever process runs now.
	return l.registerLog(c, p.Spec.NodeName, p.Namespace+"/"+p.Name, func() string {
		if c.istiod == nil {
			return ""
		}
		return c.istiod.log
	})
}

// registerLog tells node's agent where the log of pod (namespace/name) is.
func (l *Lab) registerLog(c *cluster, node, pod string, path func() string) error {
	l.mu.Lock()
	a := l.agents[c.name+"/"+node]
	l.mu.Unlock()
	if a == nil {
		return fmt.Errorf("pod %s: no node agent for node %q", pod, node)
	}
	a.mu.Lock()
	if a.logs == nil {
		a.logs = map[string]func() string{}
	}
	a.logs[pod] = path
	a.mu.Unlock()
	return nil
}

// registerTarget tells node's agent where the ports of pod (namespace/name) are.
func (l *Lab) registerTarget(c *cluster, node, pod string, t podTarget) error {
	l.mu.Lock()
	a := l.agents[c.name+"/"+node]
	l.mu.Unlock()
	if a == nil {
		return fmt.Errorf("pod %s: no node agent for node %q", pod, node)
	}
	a.mu.Lock()
	a.pods[pod] = t
	a.mu.Unlock()
	return nil
}

// AddIstiodPod registers one more istiod Pod of a primary, running on node,
// and returns its name. The node's agent forwards its ports to the
// cluster's istiod process, so it answers as a second replica would.
func (l *Lab) AddIstiodPod(ctx context.Context, context, node string) (string, error) {
	c := l.clusters[context]
	if c == nil || c.role != "primary" {
		return "", fmt.Errorf("%s runs no istiod", context)
	}
	pods := c.client.CoreV1().Pods("istio-system")
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "app=istiod"})
	if err != nil {
		return "", err
	}
	if len(list.Items) == 0 {
		return "", fmt.Errorf("%s has no istiod pod to copy", context)
	}
	orig := list.Items[0]
	// Without the first pod's pod-template-hash: its ReplicaSet (one
	// replica) would adopt this pod and delete one of the two.
	labels := maps.Clone(orig.Labels)
	delete(labels, "pod-template-hash")
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: orig.Namespace, Name: fmt.Sprintf("%s-r%d", orig.Name, len(list.Items)+1), Labels: labels, Annotations: orig.Annotations},
		Spec:       *orig.Spec.DeepCopy(),
	}
	p.Spec.NodeName = node
	created, err := pods.Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	created.Status = *orig.Status.DeepCopy()
	if created, err = pods.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return "", err
	}
	return created.Name, l.registerPod(c, created)
}

// SetNodeAgent makes a node's agent serve, hang or go down.
func (l *Lab) SetNodeAgent(context, node string, mode NodeAgentMode) error {
	l.mu.Lock()
	a := l.agents[context+"/"+node]
	l.mu.Unlock()
	if a == nil {
		return fmt.Errorf("no node agent for %s/%s", context, node)
	}
	a.mu.Lock()
	was := a.mode
	a.mode = mode
	a.mu.Unlock()
	switch {
	case mode == NodeAgentDown && was != NodeAgentDown:
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.ln.Close()
	case mode != NodeAgentDown && was == NodeAgentDown:
		return a.listen()
	}
	return nil
}

// IstiodPods lists the names of a cluster's istiod pods and their nodes.
func (l *Lab) IstiodPods(ctx context.Context, context string) (map[string]string, error) {
	c := l.clusters[context]
	if c == nil {
		return nil, fmt.Errorf("no cluster %q", context)
	}
	list, err := c.client.CoreV1().Pods("istio-system").List(ctx, metav1.ListOptions{LabelSelector: "app=istiod"})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, p := range list.Items {
		out[p.Name] = p.Spec.NodeName
	}
	return out, nil
}

func (a *nodeAgent) listen() error {
	ln, err := listenIn(a.ns, a.addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/portForward/{namespace}/{pod}", a.portForward)
	mux.HandleFunc("/portForward/{namespace}/{pod}/{uid}", a.portForward)
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", a.containerLogs)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, TLSConfig: a.tls,
		ErrorLog: log.New(io.Discard, "", 0)} // TLS noise of dropped connections
	a.mu.Lock()
	a.ln = ln
	a.mu.Unlock()
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	return nil
}

// Close stops the agent and ends requests it holds.
func (a *nodeAgent) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	select {
	case <-a.release:
	default:
		close(a.release)
	}
	if a.mode == NodeAgentDown {
		return nil
	}
	return a.ln.Close()
}

func (a *nodeAgent) portForward(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	mode := a.mode
	target := a.pods[r.PathValue("namespace")+"/"+r.PathValue("pod")]
	a.mu.Unlock()
	if mode == NodeAgentHangs {
		select {
		case <-r.Context().Done():
		case <-a.release:
		}
		return
	}
	if target == nil {
		http.Error(w, fmt.Sprintf("pod %s/%s is not on node %s", r.PathValue("namespace"), r.PathValue("pod"), a.node), http.StatusNotFound)
		return
	}
	opts := &kubeletportforward.V4Options{}
	if r.URL.Query().Has(corev1.PortHeader) {
		var err error
		if opts, err = kubeletportforward.NewV4Options(r); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	kubeletportforward.ServePortForward(w, r, forwarder(target), r.PathValue("pod"), r.PathValue("uid"), opts,
		4*time.Hour, // the kubelet's --streaming-connection-idle-timeout
		remotecommand.DefaultStreamCreationTimeout,
		[]string{kubeletportforward.ProtocolV1Name})
}

// forwarder copies a forwarded stream to a pod's port, as a container
// runtime's PortForward does.
type forwarder podTarget

func (f forwarder) PortForward(ctx context.Context, pod, _ string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	conn, err := podTarget(f)(port)
	if err != nil {
		return fmt.Errorf("failed to connect to localhost:%d inside the network of pod %s: %w", port, pod, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	go func() {
		_, _ = io.Copy(conn, stream)
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite() // the client has sent all it will
		}
	}()
	// Until the pod's side closes (istiod closes after its answer).
	if _, err := io.Copy(stream, conn); err != nil && !errors.Is(err, net.ErrClosed) && ctx.Err() == nil {
		return err
	}
	return nil
}

// istiodReplicaOffset shifts every port of a second istiod process in a
// cluster's network, which the first already listens on.
const istiodReplicaOffset = 100

// StartIstiodReplica starts a second istiod process for a primary, as a
// second replica of its Deployment: the first one's command and
// environment, its own pod name and ports, and an istiod Pod on node whose
// node agent forwards the pod's ports (15014, 8080, …) to this process. It
// returns the pod's name once the replica serves /debug/clusterz. The
// replica reads the remote secrets anew, so, started after CutPath, it
// cannot reach the cut peer while the first replica still reports it synced.
func (l *Lab) StartIstiodReplica(ctx context.Context, context, node string) (string, error) {
	c := l.clusters[context]
	if c == nil || c.role != "primary" || c.istiod == nil {
		return "", fmt.Errorf("%s runs no istiod", context)
	}
	args, env, err := replicaCommand(c.istiod.cmd.Args, c.istiod.cmd.Env, istiodReplicaOffset)
	if err != nil {
		return "", err
	}
	pod, err := l.AddIstiodPod(ctx, context, node)
	if err != nil {
		return "", err
	}
	env = append(env, "POD_NAME="+pod)
	work := filepath.Join(c.dir, "istiod-"+pod)
	if err := os.MkdirAll(work, 0o700); err != nil {
		return "", err
	}
	// exec.Cmd.Env keeps the last value of a variable: POD_NAME is the pod's.
	p, err := l.startProc("istiod-"+pod, l.net.ns(c.name), work, l.bin("pilot-discovery"), args, env)
	if err != nil {
		return "", err
	}
	first := l.istiodTarget(c)
	target := func(port int32) (net.Conn, error) { return first(port + istiodReplicaOffset) }
	if err := l.registerTarget(c, node, "istio-system/"+pod, target); err != nil {
		return "", err
	}
	if err := l.registerLog(c, node, "istio-system/"+pod, func() string { return p.log }); err != nil {
		return "", err
	}
	err = poll(ctx, 90*time.Second, 200*time.Millisecond, func() (bool, error) {
		if err := p.exited(); err != nil {
			return false, err
		}
		conn, err := target(15014)
		if err != nil {
			return false, nil
		}
		conn.Close()
		return true, nil
	})
	return pod, err
}

// replicaCommand derives a second istiod's arguments (after the binary) and
// environment from the first's: every listening port moved by offset, and
// the addresses on the cluster's loopback or own address, where the first
// listens on all (":8080"), so the two never collide.
func replicaCommand(cmdArgs, cmdEnv []string, offset int) ([]string, []string, error) {
	i := slices.Index(cmdArgs, "discovery")
	if i < 0 {
		return nil, nil, fmt.Errorf("not an istiod command: %v", cmdArgs)
	}
	args := slices.Clone(cmdArgs[i:])
	shift := func(hostPort string) (string, error) {
		host, port, err := net.SplitHostPort(hostPort)
		if err != nil {
			return "", err
		}
		n, err := strconv.Atoi(port)
		if err != nil {
			return "", err
		}
		if host == "" {
			host = "127.0.0.1"
		}
		return net.JoinHostPort(host, strconv.Itoa(n+offset)), nil
	}
	for j := 0; j+1 < len(args); j++ {
		var err error
		switch args[j] {
		case "--httpAddr", "--grpcAddr", "--secureGRPCAddr", "--httpsAddr", "--monitoringAddr":
			args[j+1], err = shift(args[j+1])
		case "--ctrlz_port":
			var n int
			if n, err = strconv.Atoi(args[j+1]); err == nil {
				args[j+1] = strconv.Itoa(n + offset)
			}
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s %s: %w", args[j], args[j+1], err)
		}
	}
	env := slices.DeleteFunc(slices.Clone(cmdEnv), func(v string) bool { return strings.HasPrefix(v, "POD_NAME=") })
	return args, env, nil
}

// containerLogs serves a pod's log as the kubelet's /containerLogs does
// for pods/log: the process's output, its last tailLines lines, at most
// limitBytes bytes of them (from their start, as the kubelet cuts).
func (a *nodeAgent) containerLogs(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	mode := a.mode
	path := a.logs[r.PathValue("namespace")+"/"+r.PathValue("pod")]
	a.mu.Unlock()
	if mode == NodeAgentHangs {
		<-a.release
		return
	}
	file := ""
	if path != nil {
		file = path()
	}
	if file == "" {
		http.Error(w, "no such pod on this node", http.StatusNotFound)
		return
	}
	b, err := os.ReadFile(file)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if n, err := strconv.Atoi(r.URL.Query().Get("tailLines")); err == nil && n >= 0 {
		lines := strings.SplitAfter(string(b), "\n")
		if len(lines) > 0 && lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		b = []byte(strings.Join(lines, ""))
	}
	if n, err := strconv.Atoi(r.URL.Query().Get("limitBytes")); err == nil && n >= 0 && len(b) > n {
		b = b[:n]
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write(b)
}
