package discovery

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	"github.com/meshfed/kubectl-meshfed/pkg/kube"
)

// rootCAConfigMap is the ConfigMap kube-controller-manager publishes in every
// namespace with the cluster's CA (ca.crt).
const rootCAConfigMap = "kube-root-ca.crt"

// tokenWait bounds how long apply waits for the token controller to fill a
// service-account token secret it has just been given (istioctl waits 5 s;
// a loaded control plane may take longer).
var tokenWait = 30 * time.Second

// credentialSource says where the remote secret's token and CA come from in
// the remote cluster.
type credentialSource struct {
	context   string // the remote cluster's context
	namespace string // its Istio namespace, where the reader lives
	// tokenSecret is the service-account token secret to read; empty when
	// a TokenRequest of duration is made instead.
	tokenSecret string
	duration    time.Duration
}

func (s credentialSource) describe() string {
	if s.tokenSecret != "" {
		return fmt.Sprintf("the token and ca.crt of %s/%s (the %s token secret) in %s", s.namespace, s.tokenSecret, ReaderServiceAccount, s.context)
	}
	return fmt.Sprintf("a TokenRequest token of %s/%s in %s valid for %s, and ca.crt of %s/%s there", s.namespace, ReaderServiceAccount, s.context, s.duration, s.namespace, rootCAConfigMap)
}

// credentials fetches the token and CA from the remote cluster. Errors name
// objects, never their contents.
func (s credentialSource) credentials(ctx context.Context, kc *kube.Client) (token, ca []byte, err error) {
	if s.tokenSecret == "" {
		secs := int64(s.duration / time.Second)
		var tr authenticationv1.TokenRequest
		err := kc.Core().Post().Namespace(s.namespace).Resource("serviceaccounts").Name(ReaderServiceAccount).SubResource("token").
			Body(&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs}}).Do(ctx).Into(&tr)
		if err != nil {
			return nil, nil, fmt.Errorf("requesting a token for %s/%s in %s: %w", s.namespace, ReaderServiceAccount, s.context, err)
		}
		if tr.Status.Token == "" {
			return nil, nil, fmt.Errorf("the TokenRequest for %s/%s in %s returned no token", s.namespace, ReaderServiceAccount, s.context)
		}
		var cm corev1.ConfigMap
		err = kc.Core().Get().Namespace(s.namespace).Resource("configmaps").Name(rootCAConfigMap).Do(ctx).Into(&cm)
		if err != nil {
			return nil, nil, fmt.Errorf("reading the cluster CA from %s/%s in %s: %w", s.namespace, rootCAConfigMap, s.context, err)
		}
		if cm.Data["ca.crt"] == "" {
			return nil, nil, fmt.Errorf("%s/%s in %s has no ca.crt", s.namespace, rootCAConfigMap, s.context)
		}
		return []byte(tr.Status.Token), []byte(cm.Data["ca.crt"]), nil
	}
	deadline := time.Now().Add(tokenWait)
	for {
		var sec corev1.Secret
		err := kc.Core().Get().Namespace(s.namespace).Resource("secrets").Name(s.tokenSecret).Do(ctx).Into(&sec)
		if err != nil {
			return nil, nil, fmt.Errorf("reading token secret %s/%s in %s: %w", s.namespace, s.tokenSecret, s.context, err)
		}
		token, ca = sec.Data[corev1.ServiceAccountTokenKey], sec.Data[corev1.ServiceAccountRootCAKey]
		if len(token) > 0 && len(ca) > 0 {
			return token, ca, nil
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("token secret %s/%s in %s has no token and ca.crt after %s: is kube-controller-manager's token controller running? (--token-duration uses a TokenRequest instead)", s.namespace, s.tokenSecret, s.context, tokenWait)
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// kubeconfig is what istioctl create-remote-secret writes: cluster, user and
// context all named after the cluster ID, an inline CA and bearer token.
func kubeconfig(clusterID, server string, ca, token []byte) ([]byte, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters[clusterID] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	kc.AuthInfos[clusterID] = &clientcmdapi.AuthInfo{Token: string(token)}
	kc.Contexts[clusterID] = &clientcmdapi.Context{Cluster: clusterID, AuthInfo: clusterID}
	kc.CurrentContext = clusterID
	if err := clientcmd.Validate(*kc); err != nil {
		return nil, errors.New("the kubeconfig built for cluster " + clusterID + " does not validate")
	}
	b, err := clientcmd.Write(*kc)
	if err != nil {
		return nil, errors.New("the kubeconfig built for cluster " + clusterID + " does not encode")
	}
	return b, nil
}

// completeRemoteSecret returns the Complete function of a remote secret:
// at apply time it fetches the reader's credentials from the remote cluster
// and puts the kubeconfig under the cluster ID's key.
func completeRemoteSecret(base *unstructured.Unstructured, clusterID, server string, src credentialSource) func(context.Context, fix.Clients) (*unstructured.Unstructured, error) {
	return func(ctx context.Context, c fix.Clients) (*unstructured.Unstructured, error) {
		kc, err := c.Client(src.context)
		if err != nil {
			return nil, fmt.Errorf("client for %s: %w", src.context, err)
		}
		token, ca, err := src.credentials(ctx, kc)
		if err != nil {
			return nil, err
		}
		b, err := kubeconfig(clusterID, server, ca, token)
		if err != nil {
			return nil, err
		}
		out := base.DeepCopy()
		if err := unstructured.SetNestedStringMap(out.Object, map[string]string{clusterID: base64.StdEncoding.EncodeToString(b)}, "data"); err != nil {
			return nil, errors.New("setting the remote secret's data failed")
		}
		return out, nil
	}
}
