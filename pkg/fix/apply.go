package fix

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Action is what applying a change did.
type Action string

const (
	// Created: the object did not exist and now does (or would, in a dry run).
	Created Action = "created"
	// Configured: the object existed and the apply changed it.
	Configured Action = "configured"
	// Unchanged: the object already held what the change sets.
	Unchanged Action = "unchanged"
	// Failed: the cluster rejected the change, or could not be asked.
	Failed Action = "failed"
	// Skipped: not attempted; Detail says why.
	Skipped Action = "skipped"
)

// ApplyOptions say how to apply a plan.
type ApplyOptions struct {
	// DryRun only runs the server-side dry run: nothing is changed.
	DryRun bool
	// ForceConflicts takes over fields another field manager owns; without
	// it such a change fails and says who owns them.
	ForceConflicts bool
	// Timeout bounds every request to a cluster.
	Timeout time.Duration
}

// Outcome is what happened to one change.
type Outcome struct {
	Key     ObjectKey
	Answers []checks.ID
	Phase   Phase
	Action  Action
	// DryRun is true when Action is what a dry run said would happen.
	DryRun bool
	// Detail is the error of a failed change, one line without secret
	// material, or why a change was skipped or validated as it was.
	Detail string
}

// Result is the outcome of every change of a plan, in the plan's order.
type Result struct {
	Outcomes []Outcome
}

// Failed reports whether any change failed or was skipped for a failure.
func (r Result) Failed() bool {
	for _, o := range r.Outcomes {
		if o.Action == Failed || (o.Action == Skipped && !o.DryRun) {
			return true
		}
	}
	return false
}

// Changed returns the outcomes that created or configured an object for real.
func (r Result) Changed() []Outcome {
	var out []Outcome
	for _, o := range r.Outcomes {
		if !o.DryRun && (o.Action == Created || o.Action == Configured) {
			out = append(out, o)
		}
	}
	return out
}

// Apply applies plan with server-side apply (field manager kubectl-meshfed).
// It first dry-runs every change on the server (DryRun=All), completed with
// what it will really send where that can be known yet; a context where any
// dry run fails gets nothing applied. Then it applies the changes of the
// other contexts, a phase everywhere before the next phase anywhere; within
// a context a failure skips the context's later changes. One cluster
// rejecting or not answering never stops the others, and every request ends
// within opts.Timeout.
func Apply(ctx context.Context, plan Plan, clients Clients, opts ApplyOptions) Result {
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	res := Result{Outcomes: make([]Outcome, len(plan.Changes))}
	byContext := map[string][]int{}
	var contexts []string
	for i, c := range plan.Changes {
		res.Outcomes[i] = Outcome{Key: KeyOf(c), Answers: c.Answers, Phase: c.Phase}
		if _, ok := byContext[c.Context]; !ok {
			contexts = append(contexts, c.Context)
		}
		byContext[c.Context] = append(byContext[c.Context], i)
	}
	appliers := map[string]*applier{}
	for _, name := range contexts {
		appliers[name] = &applier{context: name, clients: clients, opts: opts}
	}

	// The dry run, every context at once.
	eachContext(contexts, func(name string) {
		a := appliers[name]
		for _, i := range byContext[name] {
			o := &res.Outcomes[i]
			if a.broken != "" {
				o.Action, o.Detail = Skipped, a.broken
				continue
			}
			o.Action, o.Detail = a.dryRun(ctx, plan.Changes, i)
			if o.Action == Failed {
				a.failed = true
			}
		}
	})
	for i := range res.Outcomes {
		res.Outcomes[i].DryRun = true
	}
	if opts.DryRun {
		return res
	}

	for _, name := range contexts {
		if !appliers[name].failed {
			continue
		}
		for _, i := range byContext[name] {
			switch o := &res.Outcomes[i]; o.Action {
			case Failed:
			case Skipped: // keeps its own reason (a cluster that did not answer)
				o.DryRun = false
			default:
				o.Action, o.DryRun = Skipped, false
				o.Detail = "not applied: the dry run of a change in " + name + " failed, so nothing was applied there"
			}
		}
	}
	for phase := PhasePrepare; phase <= PhaseConfigure; phase++ {
		eachContext(contexts, func(name string) {
			a := appliers[name]
			if a.failed {
				return
			}
			for _, i := range byContext[name] {
				if plan.Changes[i].Phase != phase {
					continue
				}
				o := &res.Outcomes[i]
				o.DryRun = false
				if a.broken != "" {
					o.Action, o.Detail = Skipped, a.broken
					continue
				}
				o.Action, o.Detail = a.apply(ctx, plan.Changes[i])
				if o.Action == Failed {
					a.broken = "not applied: an earlier change in " + name + " failed"
				}
			}
		})
	}
	return res
}

func eachContext(contexts []string, fn func(string)) {
	var wg sync.WaitGroup
	for _, name := range contexts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(name)
		}()
	}
	wg.Wait()
}

// applier applies the changes of one context, one at a time.
type applier struct {
	context string
	clients Clients
	opts    ApplyOptions

	client  *kube.Client
	dynamic dynamic.Interface
	// failed: a dry run failed, nothing is applied here.
	failed bool
	// broken: why the remaining changes are skipped (a cluster that does
	// not answer, or an earlier failed apply).
	broken string
}

// dryRun validates changes[i] on the server and says what applying it
// would do.
func (a *applier) dryRun(ctx context.Context, changes []Change, i int) (Action, string) {
	c := changes[i]
	obj, detail := c.Object, ""
	if c.Complete != nil {
		done, err := a.complete(WithDryRun(ctx), c)
		if err != nil {
			// An object this plan creates first (a service account whose
			// token the change reads) cannot be read yet: validate what
			// is known now, and complete it for real at apply time.
			detail = "validated without what is filled in at apply (" + oneLine(err.Error(), c.Object) + ")"
		} else {
			obj = done
		}
	}
	action, err := a.send(ctx, obj, true, c.TakeOver)
	if err != nil && apierrors.IsNotFound(err) && createsNamespace(changes[:i], c) {
		return Created, "validated once this plan has created namespace " + c.Object.GetNamespace()
	}
	if err != nil {
		a.noteUnanswered(err)
		return Failed, oneLine(err.Error(), obj)
	}
	return action, detail
}

// apply completes and applies one change for real.
func (a *applier) apply(ctx context.Context, c Change) (Action, string) {
	obj := c.Object
	if c.Complete != nil {
		done, err := a.complete(ctx, c)
		if err != nil {
			a.noteUnanswered(err)
			return Failed, "completing it: " + oneLine(err.Error(), c.Object)
		}
		obj = done
	}
	action, err := a.send(ctx, obj, false, c.TakeOver)
	if err != nil {
		a.noteUnanswered(err)
		return Failed, oneLine(err.Error(), obj)
	}
	return action, ""
}

func (a *applier) complete(ctx context.Context, c Change) (*unstructured.Unstructured, error) {
	ctx, cancel := context.WithTimeout(ctx, a.opts.Timeout)
	defer cancel()
	obj, err := c.Complete(ctx, a.clients)
	if err == nil && obj == nil {
		err = errors.New("completing the change returned no object")
	}
	return obj, err
}

// noteUnanswered makes a cluster that does not answer skip its remaining
// changes: each would only wait out its own timeout.
func (a *applier) noteUnanswered(err error) {
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || apierrors.IsTimeout(err) || (errors.As(err, &netErr) && netErr.Timeout()) {
		a.broken = "not attempted: " + a.context + " did not answer an earlier request within " + a.opts.Timeout.String()
	}
}

// send server-side-applies obj and says whether it created, changed or left
// the object as it was: by the resourceVersion before and after, or, in a
// dry run (which writes nothing), by comparing the object the server
// returns with the one it holds.
func (a *applier) send(ctx context.Context, obj *unstructured.Unstructured, dryRun, takeOver bool) (Action, error) {
	ctx, cancel := context.WithTimeout(ctx, a.opts.Timeout)
	defer cancel()
	ri, err := a.resource(ctx, obj)
	if err != nil {
		return Failed, err
	}
	before, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return Failed, err
	}
	exists := err == nil
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: a.opts.ForceConflicts || takeOver}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	after, err := ri.Apply(ctx, obj.GetName(), obj, opts)
	switch {
	case err != nil:
		return Failed, err
	case !exists:
		return Created, nil
	case dryRun && sameContent(before, after):
		return Unchanged, nil
	case !dryRun && before.GetResourceVersion() == after.GetResourceVersion():
		return Unchanged, nil
	}
	return Configured, nil
}

// resource finds where obj's kind is served in this cluster: from the
// discovery document of its group version, bounded by ctx.
func (a *applier) resource(ctx context.Context, obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	if a.dynamic == nil {
		cl, err := a.clients.Client(a.context)
		if err != nil {
			return nil, err
		}
		dc, err := cl.Dynamic()
		if err != nil {
			return nil, err
		}
		a.client, a.dynamic = cl, dc
	}
	gvk := obj.GroupVersionKind()
	res, namespaced, err := a.client.Mapping(ctx, gvk)
	var noKind *meta.NoKindMatchError
	if errors.As(err, &noKind) {
		return nil, fmt.Errorf("%s is not served by this cluster: %w", gvk.GroupVersion().WithKind(gvk.Kind), err)
	}
	if err != nil {
		return nil, err
	}
	if namespaced {
		return a.dynamic.Resource(res).Namespace(obj.GetNamespace()), nil
	}
	return a.dynamic.Resource(res), nil
}

// sameContent compares two versions of an object without the fields every
// write may touch, keeping who manages which field: an apply that changes
// only managedFields (our field manager taking fields over, as on an object
// another tool created) is still a write that bumps the resourceVersion, so
// the dry run must say "configured" too, as the apply will. Each entry's
// time is left out: the dry run stamps it anew.
func sameContent(a, b *unstructured.Unstructured) bool {
	strip := func(u *unstructured.Unstructured) map[string]any {
		c := u.DeepCopy()
		for _, f := range []string{"resourceVersion", "generation"} {
			unstructured.RemoveNestedField(c.Object, "metadata", f)
		}
		if managed, ok, _ := unstructured.NestedSlice(c.Object, "metadata", "managedFields"); ok {
			for _, m := range managed {
				if entry, ok := m.(map[string]any); ok {
					delete(entry, "time")
				}
			}
			_ = unstructured.SetNestedSlice(c.Object, managed, "metadata", "managedFields")
		}
		return c.Object
	}
	return equality.Semantic.DeepEqual(strip(a), strip(b))
}

// createsNamespace reports whether one of earlier creates c's namespace in
// c's context.
func createsNamespace(earlier []Change, c Change) bool {
	ns := c.Object.GetNamespace()
	for _, e := range earlier {
		if e.Context == c.Context && e.Object.GetKind() == "Namespace" && e.Object.GroupVersionKind().Group == "" && e.Object.GetName() == ns {
			return true
		}
	}
	return false
}

// oneLine makes an error fit one line of the result and hides any value of
// obj's Secret data that the server may have echoed, showing its
// fingerprint instead.
func oneLine(msg string, obj *unstructured.Unstructured) string {
	for _, v := range secretValues(obj) {
		if len(v) >= 4 {
			msg = strings.ReplaceAll(msg, v, model.Redacted([]byte(v)))
		}
	}
	msg = strings.Join(strings.Fields(msg), " ")
	const limit = 400
	if len(msg) > limit {
		msg = msg[:limit] + "…"
	}
	return msg
}

// secretValues returns every value of a Secret's data (encoded and decoded)
// and stringData, longest first so a value is replaced before its parts.
func secretValues(obj *unstructured.Unstructured) []string {
	if obj == nil || obj.GetKind() != "Secret" || obj.GroupVersionKind().Group != "" {
		return nil
	}
	var out []string
	for _, field := range []string{"data", "stringData"} {
		values, _ := obj.Object[field].(map[string]any)
		for _, v := range values {
			s, _ := v.(string)
			out = append(out, s)
			if dec, err := base64.StdEncoding.DecodeString(s); err == nil && field == "data" {
				out = append(out, string(dec))
			}
		}
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}
