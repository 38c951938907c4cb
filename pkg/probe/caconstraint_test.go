package probe

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/pki"
	"github.com/meshfed/kubectl-meshfed/pkg/pki/pkitest"
)

// TestCAConstraintRefusal: a leaf under an intermediate whose name
// constraint excludes its trust domain is refused for that constraint, not
// for its root; a leaf from a root the verifier does not trust is not.
func TestCAConstraintRefusal(t *testing.T) {
	now := time.Now()
	root := pkitest.NewRoot("root", pkitest.Opts{})
	excl := root.Issue("excludes cluster.local", pkitest.Opts{ExcludedURIDomains: []string{"cluster.local"}})
	leaf, _, err := pki.IssueLeaf(excl.Cert, excl.Key, pki.SPIFFEID("cluster.local", "default", "default"), nil, now)
	if err != nil {
		t.Fatal(err)
	}
	err = verifyChain([]*x509.Certificate{leaf, excl.Cert}, []*x509.Certificate{root.Cert}, now)
	if err == nil || !caConstraintRefusal(err) {
		t.Errorf("name-constrained chain: %v, refusal by constraint %v", err, caConstraintRefusal(err))
	}
	other := pkitest.NewRoot("other", pkitest.Opts{})
	if err := verifyChain([]*x509.Certificate{leaf, excl.Cert}, []*x509.Certificate{other.Cert}, now); err == nil || caConstraintRefusal(err) {
		t.Errorf("unknown root: %v is not a constraint's refusal", err)
	}
}
