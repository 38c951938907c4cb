package lab

import (
	"bytes"
	"strings"
	"testing"
)

// Every pki-scenario fault of the embedded scenarios names a pkitest
// scenario holding that cluster with cacerts in Istio's layout, and the lab
// installs those files unchanged (broken ones included).
func TestPKIScenarioFaultsResolve(t *testing.T) {
	n := 0
	for _, name := range Scenarios() {
		sc, err := LoadScenario(name)
		if err != nil {
			t.Fatal(err)
		}
		l := &Lab{scenario: sc}
		for _, f := range sc.Faults {
			if f.Type != FaultPKIScenario {
				continue
			}
			n++
			a, env, err := l.pkiCluster(f.Cluster)
			if err != nil {
				t.Errorf("%s: %s: %v", name, f, err)
				continue
			}
			s, _ := l.pkiScenario(f.Value)
			for _, c := range s.Clusters {
				if c.Context == f.Cluster {
					for k, v := range c.Secrets[0].Data {
						if !bytes.Equal(a.cacertsFiles()[k], v) {
							t.Errorf("%s: %s: %s is not installed as pkitest made it", name, f, k)
						}
					}
					if len(env) != len(c.IstiodEnv) {
						t.Errorf("%s: %s: istiod env %v, want %v", name, f, env, c.IstiodEnv)
					}
				}
			}
			if _, _, _, _, err := a.issue(certReq{cn: "probe", server: true}); err != nil {
				t.Errorf("%s: %s: the gateway stand-in cannot issue from this CA: %v", name, f, err)
			}
		}
	}
	if n == 0 {
		t.Fatal("no scenario uses a pki-scenario fault")
	}
	l := &Lab{scenario: &Scenario{Faults: []Fault{{Type: FaultPKIScenario, Cluster: "east", Value: "nope"}}}}
	if _, _, err := l.pkiCluster("east"); err == nil || !strings.Contains(err.Error(), "multi-root-rotation") {
		t.Errorf("an unknown pkitest scenario: %v (want the list of known ones)", err)
	}
}

func TestCAFromFilesKeepsKeysOutOfErrors(t *testing.T) {
	files := map[string][]byte{
		"ca-cert.pem": []byte("not pem"), "ca-key.pem": []byte("-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n"),
		"root-cert.pem": []byte("x"), "cert-chain.pem": []byte("x"),
	}
	_, err := caFromFiles(files)
	if err == nil || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Errorf("error %v", err)
	}
}
