// Package fix turns the doctor's findings into a Plan: per context, the
// objects to create or change, each with the findings it answers and the
// reason in plain words. Printing a plan and applying it are two renderings
// of the same Plan, so what is printed is what --apply does.
//
// Fixers are pure over what was read (the Fleet and the findings) and the
// user's options; the only live step is applying, and a change whose content
// can only be known then (a token the remote cluster issues) says so and
// completes itself at apply time.
package fix

import (
	"context"
	"crypto/x509"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// FieldManager is the server-side-apply field manager of every change.
const FieldManager = "kubectl-meshfed"

// Phase orders changes across contexts: a change of a lower phase is applied
// everywhere before any change of a higher one (the remote cluster's reader
// identity before the primary's secret that uses it).
type Phase int

const (
	// PhasePrepare: namespaces and labels other objects rely on.
	PhasePrepare Phase = iota
	// PhaseIdentity: service accounts, roles, bindings, token secrets, CA material.
	PhaseIdentity
	// PhaseConfigure: the objects that use them (remote secrets, gateways, rules).
	PhaseConfigure
)

// Change is one object to create or change in one context.
type Change struct {
	// Context is the kubeconfig context the object is applied to.
	Context string
	// Object is the apply configuration: apiVersion, kind, metadata.name
	// (and namespace) and only the fields meshfed owns. A Secret's data is
	// never rendered, only its keys and fingerprints.
	Object *unstructured.Unstructured
	// Answers are the check IDs of the findings this change answers.
	Answers []checks.ID
	// Reason says, in plain words, why this change and these values.
	Reason string
	Phase  Phase
	// Complete, when set, fills in what only the live clusters know at apply
	// time (a service-account token) and returns the object to apply.
	// Pending says, for the printed plan, what will be filled in and from where.
	// Apply calls it for the server-side dry run too, with a context for
	// which IsDryRun is true: it must then leave nothing behind outside the
	// clusters (no key file written, nothing issued by a billed CA); an
	// error there only makes the dry run validate the known part.
	Complete func(ctx context.Context, c Clients) (*unstructured.Unstructured, error)
	Pending  string
	// TakeOver applies the change with force, taking over the fields other
	// field managers own, without --force-conflicts: for an object whose
	// replacement is the change itself (a CA secret another tool wrote,
	// replaced only with the user's consent), which would otherwise always
	// conflict. The Reason must say so.
	TakeOver bool
}

type dryRunKey struct{}

// WithDryRun marks ctx as a server-side dry run's.
func WithDryRun(ctx context.Context) context.Context {
	return context.WithValue(ctx, dryRunKey{}, true)
}

// IsDryRun tells a Complete called for the server-side dry run.
func IsDryRun(ctx context.Context) bool {
	v, _ := ctx.Value(dryRunKey{}).(bool)
	return v
}

// Note is a step the user must take that no object change does (a restart,
// a migration in stages), printed with the plan.
type Note struct {
	Context string // empty: the whole mesh
	Answers []checks.ID
	Text    string
}

// Refusal is a finding fix will not act on by itself, and why (replacing a
// trust root without --allow-root-change, a loopback API server address).
type Refusal struct {
	Context string
	Answers []checks.ID
	Reason  string
}

// Plan is everything one fix run would do.
type Plan struct {
	Changes []Change
	Notes   []Note
	Refused []Refusal
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return len(p.Changes) == 0 }

// Add appends another plan's parts.
func (p *Plan) Add(o Plan) {
	p.Changes = append(p.Changes, o.Changes...)
	p.Notes = append(p.Notes, o.Notes...)
	p.Refused = append(p.Refused, o.Refused...)
}

// Input is what a fixer plans from.
type Input struct {
	Fleet *model.Fleet
	// Findings are the diagnosis's findings the user asked to fix (--only
	// already applied), of any check; a fixer picks those it answers.
	Findings []checks.Finding
	Options  Options
}

// FindingsOf returns the findings of the given checks.
func (in Input) FindingsOf(ids ...checks.ID) []checks.Finding {
	var out []checks.Finding
	for _, f := range in.Findings {
		for _, id := range ids {
			if f.Check == id {
				out = append(out, f)
			}
		}
	}
	return out
}

// Options are the user's choices that fixers need.
type Options struct {
	// Root is the mesh root to issue intermediates from (--root-cert,
	// --root-key); nil when none was given.
	Root *Root
	// Issuer, when set, signs the intermediates instead of Root (the AWS
	// Private CA source); Root is then unused.
	Issuer pki.Issuer
	// AllowRootChange permits replacing a cluster's existing, different root.
	AllowRootChange bool
	// IntermediateKeyDir, when set, also receives each issued intermediate's
	// private key (mode 0600); otherwise keys go only into the clusters.
	IntermediateKeyDir string
	// TokenDuration, when non-zero, makes remote secrets use a TokenRequest
	// token of that lifetime instead of a service-account token secret.
	TokenDuration time.Duration
	// Servers overrides, per context, the API server address written into
	// remote secrets that point at that context's cluster.
	Servers map[string]string
	// Networks names, per context, the network a cluster is on
	// (--network), for clusters whose own evidence does not say.
	Networks map[string]string
	// AWSLoadBalancer is "", "internal" or "internet-facing": the NLB
	// scheme annotation for east-west gateway Services.
	AWSLoadBalancer string
	// Now is the instant certificates are issued at.
	Now time.Time
}

// Root is a CA that can sign intermediates.
type Root struct {
	Cert *x509.Certificate
	// Chain is the certificates between Cert and the root, if Cert is itself
	// an intermediate; empty when Cert is the root.
	Chain []*x509.Certificate
	Key   *pki.Key
}

// Clients gives apply-time code access to the live clusters: each
// context's client (package kube), whose REST clients read and write the
// kinds the plugin knows and whose dynamic client any other.
type Clients interface {
	Client(context string) (*kube.Client, error)
}

// Fixer plans the changes that answer some checks' findings.
type Fixer interface {
	// Answers lists the check IDs whose findings this fixer acts on.
	Answers() []checks.ID
	// Plan returns the changes, notes and refusals for in's findings. An
	// error means the fixer could not plan at all (bad options).
	Plan(in Input) (Plan, error)
}
