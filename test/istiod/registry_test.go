package istiod

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
	"github.com/meshfed/kubectl-meshfed/internal/reporttest"
)

// The registry checks (MF4020, MF4021) judge what each istiod replica holds
// in its registry, read through the port-forward to its pod after its
// clusterz. These tests run them where the real istiod's registry is wrong,
// made the way it goes wrong for users, and where it is right.

// registryFinding is a finding of the registry checks with its subjects.
type registryFinding struct {
	reporttest.Finding
	Subjects []struct {
		Role    string `json:"role"`
		Context string `json:"context"`
	} `json:"subjects"`
}

func (f registryFinding) subject(role string) string {
	for _, s := range f.Subjects {
		if s.Role == role {
			return s.Context
		}
	}
	return ""
}

// registryDoctor runs doctor without debug addresses (istiod is read through
// port-forwards) and returns the registry checks' findings and statuses.
func registryDoctor(t *testing.T, l *lab.Lab) (found []registryFinding, status map[string]string) {
	t.Helper()
	start := time.Now()
	out, stderr, code := labtest.Run(t, l, "doctor", "-o", "json", "--contexts", strings.Join(l.Contexts(), ","))
	t.Logf("doctor took %s, exit %d", time.Since(start).Round(time.Millisecond), code)
	if code == 3 {
		t.Fatalf("doctor could not run:\n%s", stderr)
	}
	reporttest.Parse(t, out) // the schema
	var r struct {
		Findings []registryFinding `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Findings {
		if f.Check == "MF4020" || f.Check == "MF4021" {
			found = append(found, f)
			t.Logf("%s %s %v: %s\n  evidence: %s", f.Check, f.Severity, f.Contexts, f.Message, strings.Join(f.Evidence, "\n  "))
		}
	}
	status = map[string]string{"MF4020": reporttest.CheckStatus(t, out, "MF4020"), "MF4021": reporttest.CheckStatus(t, out, "MF4021")}
	return found, status
}

// TestStaleRegistryOnLiveLab: east's remote secret for west went bad and
// was deleted (the stale-registry scenario); east's istiod no longer lists
// west in clusterz and keeps west's services and shards. MF4020 names east's
// istiod and west, and stays silent on west's; the registry is still stale
// well after PILOT_REMOTE_CLUSTER_TIMEOUT, and the restart the finding
// names clears it.
func TestStaleRegistryOnLiveLab(t *testing.T) {
	l := labtest.Start(t, "stale-registry", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if m, err := l.ClusterzMap(ctx, "east"); err != nil || m["west"] != "" {
		t.Fatalf("east's clusterz %v (%v): west must be gone", m, err)
	}
	held := func() int {
		reg, err := l.RegistryClusters(ctx, "east")
		if err != nil {
			t.Fatal(err)
		}
		return reg["west"]
	}
	t.Logf("east's registryz holds %d services of west", held())

	found, status := registryDoctor(t, l)
	if len(found) != 1 || found[0].Check != "MF4020" || found[0].Severity != "error" ||
		found[0].subject("primary") != "east" || found[0].subject("peer") != "west" {
		t.Fatalf("findings %+v, want one MF4020 error with primary east, peer west", found)
	}
	f := found[0]
	pods, err := l.IstiodPods(ctx, "east")
	if err != nil {
		t.Fatal(err)
	}
	for pod := range pods {
		if !strings.Contains(f.Message, pod) {
			t.Errorf("the finding does not name the replica to restart (%s): %s", pod, f.Message)
		}
	}
	if f.Object == nil || f.Object.Kind != "Deployment" || f.Object.Name != "istiod" {
		t.Errorf("object %+v, want east's istiod Deployment", f.Object)
	}
	if status["MF4021"] != "pass" {
		t.Errorf("MF4021 is %q: west is not synced in east's clusterz, so nothing is compared; east in west's is complete", status["MF4021"])
	}

	// How long istiod keeps it: the old controller is never closed, so it
	// stays; wait past several remote-cluster timeouts and a resync.
	const wait = 45 * time.Second
	time.Sleep(wait)
	n := held()
	t.Logf("%s later, east's registryz still holds %d services of west", wait, n)
	if n == 0 {
		t.Fatalf("east's istiod dropped west's services within %s: the scenario's premise changed", wait)
	}
	if found, _ := registryDoctor(t, l); len(found) != 1 || found[0].Check != "MF4020" {
		t.Errorf("after %s: findings %+v, want the same MF4020", wait, found)
	}

	// The remediation: restart east's istiod.
	if err := l.RestartIstiod(ctx, "east"); err != nil {
		t.Fatal(err)
	}
	if n := held(); n != 0 {
		t.Errorf("after a restart east's registryz still holds %d services of west", n)
	}
	found, status = registryDoctor(t, l)
	if len(found) != 0 || status["MF4020"] != "pass" {
		t.Errorf("after the restart: findings %+v, MF4020 %q; want none, pass", found, status["MF4020"])
	}
}

// TestMissingShardsOnLiveLab: east's discoverySelectors leave out west's
// sample namespace, labelled there and not in east (the
// discovery-label-differs scenario): east reports west synced and holds
// none of west's sample endpoints. Every endpoint missing is in that
// namespace, so MF4021 leaves it to MF4032, which names the namespace, the
// selector and the services (the field failure istio/istio#54402), and
// nothing of the registry checks fires on its own.
func TestMissingShardsOnLiveLab(t *testing.T) {
	l := labtest.Start(t, "discovery-label-differs", 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if m, err := l.ClusterzMap(ctx, "east"); err != nil || m["west"] != lab.Synced {
		t.Fatalf("east's clusterz %v (%v): west must be synced", m, err)
	}
	found, status := registryDoctor(t, l)
	if len(found) != 0 {
		t.Errorf("registry findings %+v, want none: MF4032 says why west's sample is missing", found)
	}
	if status["MF4020"] != "pass" {
		t.Errorf("MF4020 is %q, want pass", status["MF4020"])
	}
	out, _, _ := labtest.Run(t, l, "doctor", "-o", "json", "--checks", "MF4021,MF4032", "--contexts", strings.Join(l.Contexts(), ","))
	r := reporttest.Parse(t, out)
	if st := reporttest.CheckStatus(t, out, "MF4021"); st != "reported-elsewhere" {
		t.Errorf("MF4021 is %q, want reported-elsewhere (under MF4032)", st)
	}
	var dropped []string
	for _, f := range r.Findings {
		t.Logf("%s %s %v: %s", f.Check, f.Severity, f.Contexts, f.Message)
		if f.Check == "MF4032" && f.Object != nil {
			dropped = append(dropped, strings.Join(f.Contexts, ",")+" "+f.Object.Name)
		}
	}
	if !slices.Contains(dropped, "east,west sample") {
		t.Errorf("MF4032 findings %q, want east's istiod dropping west's sample", dropped)
	}
}

// TestRegistryChecksSilentOnHealthyLabs: on the healthy scenarios the real
// istiods' registries match their clusterz and hold every ready endpoint:
// both checks judged (not unknown, not not-run) and passed.
func TestRegistryChecksSilentOnHealthyLabs(t *testing.T) {
	for _, sc := range []struct {
		name     string
		clusters int
	}{{"multi-primary", 3}, {"single-network", 2}, {"primary-remote", 2}} {
		t.Run(sc.name, func(t *testing.T) {
			l := labtest.Shared(t, sc.name, sc.clusters)
			found, status := registryDoctor(t, l)
			if len(found) != 0 {
				t.Errorf("registry findings on healthy %s: %+v", sc.name, found)
			}
			for id, st := range status {
				if st != "pass" {
					t.Errorf("%s is %q on healthy %s, want pass", id, st, sc.name)
				}
			}
		})
	}
}
