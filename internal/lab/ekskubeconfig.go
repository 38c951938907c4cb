package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// EKSAccount is the AWS account of the lab's EKS-shaped kubeconfig.
const EKSAccount = "111122223333"

// EKSKubeconfig writes (once) and returns a kubeconfig shaped like the one
// `aws eks update-kubeconfig --name <cluster> --alias <cluster>` writes for
// every cluster of the lab: contexts named like the lab's, cluster and user
// entries named by the cluster's ARN (arn:aws:eks:<region>:EKSAccount:
// cluster/<name>), no namespace, and users that run `aws --region <region>
// eks get-token --cluster-name <name> --output json` (exec,
// client.authentication.k8s.io/v1beta1). Run it with EKSPath() first on
// PATH: the lab's `aws` stands in for the AWS CLI and answers get-token
// with an ExecCredential holding the cluster's admin client certificate,
// which is what the lab's apiservers accept (they know no IAM).
func (l *Lab) EKSKubeconfig() (string, error) {
	dir := filepath.Join(l.workDir, "eks")
	path := filepath.Join(dir, "kubeconfig")
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o700); err != nil {
		return "", err
	}
	kc := clientcmdapi.NewConfig()
	for _, name := range l.names {
		c := l.clusters[name]
		region := regions[name]
		arn := fmt.Sprintf("arn:aws:eks:%s:%s:cluster/%s", region, EKSAccount, name)
		kc.Clusters[arn] = &clientcmdapi.Cluster{Server: c.rest.Host, CertificateAuthorityData: c.rest.CAData}
		kc.AuthInfos[arn] = &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{
			APIVersion:      "client.authentication.k8s.io/v1beta1",
			Command:         "aws",
			Args:            []string{"--region", region, "eks", "get-token", "--cluster-name", name, "--output", "json"},
			InteractiveMode: clientcmdapi.IfAvailableExecInteractiveMode,
		}}
		kc.Contexts[name] = &clientcmdapi.Context{Cluster: arn, AuthInfo: arn}
		cred, err := json.Marshal(map[string]any{
			"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1", "spec": map[string]any{},
			"status": map[string]any{"clientCertificateData": string(c.rest.CertData), "clientKeyData": string(c.rest.KeyData)},
		})
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, name+".json"), cred, 0o600); err != nil {
			return "", err
		}
	}
	kc.CurrentContext = l.names[0]
	// `aws ... eks get-token --cluster-name <name> ...`: the credential of <name>.
	script := strings.Join([]string{
		"#!/bin/sh",
		"# The lab's stand-in for the AWS CLI's eks get-token (see lab.EKSKubeconfig).",
		"name=",
		`while [ $# -gt 0 ]; do [ "$1" = --cluster-name ] && name=$2; shift; done`,
		`[ -n "$name" ] && [ -f "` + dir + `/$name.json" ] || { echo "aws (lab): no EKS cluster named '$name'" >&2; exit 255; }`,
		`echo "$name" >> "` + dir + `/get-token.log"`,
		`cat "` + dir + `/$name.json"`,
		"",
	}, "\n")
	if err := os.WriteFile(filepath.Join(dir, "bin", "aws"), []byte(script), 0o700); err != nil {
		return "", err
	}
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return "", err
	}
	return path, nil
}

// EKSTokenRequests lists the clusters the lab's `aws eks get-token` was
// asked for, in order.
func (l *Lab) EKSTokenRequests() []string {
	b, _ := os.ReadFile(filepath.Join(l.workDir, "eks", "get-token.log"))
	return strings.Fields(string(b))
}

// EKSPath is the folder holding the lab's `aws` (see EKSKubeconfig), to put
// first on PATH.
func (l *Lab) EKSPath() string { return filepath.Join(l.workDir, "eks", "bin") }
