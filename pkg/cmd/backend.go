package cmd

import (
	"context"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/diagnosis"
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	fixall "github.com/meshfed/kubectl-meshfed/pkg/fix/all"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/probe"
)

// Target is what the user asked a command to look at: the diagnosis's
// request, filled from the flags.
type Target = diagnosis.Request

// Backend is everything the commands need from the rest of the program. The
// commands only wire flags to it and hand its results to a renderer; tests
// replace its parts with hand-made fleets and a test catalog.
type Backend struct {
	// Catalog is the catalog checks, explain and --checks/--skip read.
	Catalog func() *checks.Catalog
	// Diagnosis runs doctor's, topology's and fix's reads and checks.
	Diagnosis diagnosis.Service
	// Fixers are the fixers fix plans with (nil: none).
	Fixers func() []fix.Fixer
	// Apply applies (or server-side dry-runs) a plan: fix.Apply.
	Apply func(ctx context.Context, p fix.Plan, c fix.Clients, o fix.ApplyOptions) fix.Result
	// SidecarViews asks istiod what it sends sidecars (endpoints;
	// nil: probe.SidecarViews).
	SidecarViews func(ctx context.Context, f *model.Fleet, opts probe.Options, asks []probe.SidecarAsk) []model.SidecarView
}

// DefaultBackend wires the commands to the live diagnosis, the catalog's
// checks and the fixers.
func DefaultBackend() Backend {
	return Backend{Catalog: checks.DefaultCatalog, Diagnosis: diagnosis.Live(), Fixers: fixall.Fixers, Apply: fix.Apply, SidecarViews: probe.SidecarViews}
}
