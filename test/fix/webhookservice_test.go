package fix

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
	"github.com/meshfed/kubectl-meshfed/internal/reporttest"
)

// Remote clusters whose injection webhook calls a Service the API server
// cannot use (issue 26): a revisioned remote whose istiod Service is not
// istiod-<revision> (istio/istio#47552), and a remote whose istiod Service
// is an ExternalName (istio/istio#45014). Each lab is made as users make
// it; the doctor must name the Service with its cause, leave the path
// checks (MF3015, MF3016) to that finding, and the remote's real API
// server must refuse a pod for the reason the finding gives.

type webhookServiceCase struct {
	scenario string
	check    string   // the finding, on west's webhook
	webhook  string   // its object
	say      []string // in its message and evidence
	// refusal is what west's API server says when it refuses a pod of
	// namespace sample.
	refusal string
}

var webhookServiceCases = []webhookServiceCase{
	{scenario: "remote-revision-without-service", check: "MF4040", webhook: "istio-sidecar-injector-canary",
		say: []string{"Service istio-system/istiod-canary, which does not exist", "rejected (failurePolicy Fail)",
			"what exists instead: Service istio-system/istiod (no selector; endpoints ", "istio.io/rev=canary"},
		refusal: `service "istiod-canary" not found`},
	{scenario: "remote-istiod-externalname", check: "MF4041", webhook: "istio-sidecar-injector",
		say: []string{"ExternalName Service istio-system/istiod", "istio-eastwestgateway.east.meshfed-lab.example:443",
			"--enable-aggregator-routing", "rejected (failurePolicy Fail)"},
		refusal: "istio-eastwestgateway.east.meshfed-lab.example"},
}

func TestRemoteWebhookServiceOnLiveLab(t *testing.T) {
	for _, tc := range webhookServiceCases {
		t.Run(tc.scenario, func(t *testing.T) {
			l := labtest.Start(t, tc.scenario, 2)
			labtest.RequireIsolation(t, l) // on loopback the lab leaves the injection webhooks out
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			if m, err := l.WaitClusterz(ctx, "east", func(m map[string]string) bool { return m["west"] == lab.Synced }); err != nil {
				t.Fatalf("east never synced west: %v (%v)", err, m)
			}

			out, stderr, code := labtest.Run(t, l, "doctor", "-o", "json", "--contexts", "east,west")
			if !strings.HasPrefix(strings.TrimSpace(out), "{") {
				t.Fatalf("doctor exited %d with no report; stderr:\n%s", code, stderr)
			}
			r := reporttest.Parse(t, out)
			for _, f := range r.Findings {
				t.Logf("%s %s %v: %s %v", f.Check, f.Severity, f.Contexts, f.Message, f.Evidence)
			}
			// MF3016 may still speak of the proxies' path (15012, the
			// istiod Service as such), never of the webhook's: the lab's
			// host name does not resolve on this machine, as an NLB's
			// would.
			for _, f := range reporttest.Of(r.Findings, "MF3016") {
				if f.Object == nil || f.Object.Kind != "Service" {
					t.Errorf("MF3016 reports the webhook's path, which is %s's: %s", tc.check, f.Message)
				}
			}
			got := reporttest.Of(r.Findings, "MF3015", "MF4040", "MF4041")
			if k := reporttest.Keys(got); !reflect.DeepEqual(k, []string{tc.check + "@west"}) {
				t.Fatalf("findings %v, want %s@west alone\nstderr: %s", k, tc.check, stderr)
			}
			f := got[0]
			if f.Severity != "error" || f.Object == nil || f.Object.Kind != "MutatingWebhookConfiguration" || f.Object.Name != tc.webhook {
				t.Errorf("%s is a %s about %+v, want an error about MutatingWebhookConfiguration %s", f.Check, f.Severity, f.Object, tc.webhook)
			}
			text := f.Message + "\n" + strings.Join(f.Evidence, "\n")
			for _, w := range tc.say {
				if !strings.Contains(text, w) {
					t.Errorf("%s does not say %q:\n%s", f.Check, w, text)
				}
			}
			if st := reporttest.CheckStatus(t, out, "MF3015"); st != "reported-elsewhere" {
				t.Errorf("MF3015 is %q, want reported-elsewhere (under %s)", st, tc.check)
			}

			// West's real API server refuses a pod of sample for that
			// reason: the finding is what happens.
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Namespace: "sample"},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}
			p, err := l.Client("west").CoreV1().Pods("sample").Create(ctx, pod, metav1.CreateOptions{})
			if err == nil {
				_ = l.Client("west").CoreV1().Pods("sample").Delete(ctx, p.Name, metav1.DeleteOptions{})
				t.Fatalf("west admitted pod %s: want it refused by the injection webhook", p.Name)
			}
			if !strings.Contains(err.Error(), tc.refusal) {
				t.Errorf("west refused the pod with %q, want it to say %q", err, tc.refusal)
			}
			t.Logf("west's API server: %v", err)

			if tc.check == "MF4040" {
				fixMissingRemoteService(ctx, t, l)
			}
		})
	}
}

// fixMissingRemoteService: fix creates west's istiod-canary Service and
// EndpointSlice at the address west's istiod Service leads to (east's
// gateway), MF4040 is gone, and west's API server now resolves the Service
// and dials its cluster IP. The pod may still be refused after that, for
// reasons of the lab's, not of the Service: kube-proxy's stand-in forwards
// only the istiod Service it found at start (so the dial to the new
// Service's cluster IP fails: network is unreachable), and the lab's
// primary runs the default revision, whose istiod does not patch the canary
// webhook's caBundle.
func fixMissingRemoteService(ctx context.Context, t *testing.T, l *lab.Lab) {
	t.Helper()
	plan, code := runFix(t, l, "--only", "MF4040")
	gateway := l.GatewayAddress("east")
	for _, want := range []string{"kind: Service", "kind: EndpointSlice", "name: istiod-canary", gateway} {
		if !strings.Contains(plan, want) {
			t.Errorf("fix's plan (exit %d) does not hold %q:\n%s", code, want, plan)
		}
	}
	out, code := runFix(t, l, "--only", "MF4040", "--apply")
	if code != 0 {
		t.Fatalf("fix --apply exit %d:\n%s", code, out)
	}
	if k := doctorKeys(t, l, "MF4040", "MF3015"); len(k) != 0 {
		t.Errorf("after fix --apply: findings %v, want none", k)
	}
	if _, err := l.Client("west").CoreV1().Services("istio-system").Get(ctx, "istiod-canary", metav1.GetOptions{}); err != nil {
		t.Fatalf("west has no istiod-canary after the fix: %v", err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Namespace: "sample"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}
	p, err := l.Client("west").CoreV1().Pods("sample").Create(ctx, pod, metav1.CreateOptions{})
	if err == nil {
		_ = l.Client("west").CoreV1().Pods("sample").Delete(ctx, p.Name, metav1.DeleteOptions{})
		t.Logf("west admitted pod %s after the fix", p.Name)
		return
	}
	if strings.Contains(err.Error(), "not found") {
		t.Errorf("after the fix west still cannot resolve the webhook's Service: %v", err)
	}
	t.Logf("after the fix west's API server calls through istiod-canary: %v", err)
}

// TestRemoteWebhookServiceQuietOnHealthyLabs: on the healthy scenarios and
// the installs made by Istio's own charts and guides, MF4040 and MF4041
// find nothing, and MF3015 is not left to them.
func TestRemoteWebhookServiceQuietOnHealthyLabs(t *testing.T) {
	for _, scenario := range []string{"multi-primary", "primary-remote", "helm-guide", "istioctl-guide"} {
		t.Run(scenario, func(t *testing.T) {
			l := labtest.Shared(t, scenario, 2) // read only: shared with the other healthy-lab tests
			out, stderr, _ := labtest.Run(t, l, "doctor", "-o", "json", "--contexts", strings.Join(l.Contexts(), ","),
				"--checks", "MF3015,MF3016,MF4040,MF4041")
			if k := reporttest.Keys(reporttest.Parse(t, out).Findings); len(k) != 0 {
				t.Errorf("findings %v, want none\nstderr: %s", k, stderr)
			}
			for _, id := range []string{"MF3015", "MF4040", "MF4041"} {
				if st := reporttest.CheckStatus(t, out, id); st != "pass" {
					t.Errorf("%s is %q, want pass", id, st)
				}
			}
		})
	}
}
