// Command lab starts and stops the meshfed lab: a real multi-cluster Istio
// control plane on this machine (see package internal/lab).
//
//	lab up   [--scenario demo] [--clusters 3]   start, print how to use it, run until Ctrl-C or `lab down`
//	lab down                                    stop the lab `lab up` started
//	lab demo [--scenario demo] [--clusters 3] --plugin .bin/kubectl-meshfed
//	                                            start, run `kubectl meshfed doctor`, stop
//	lab list                                    list the scenarios
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "up":
		err = up(os.Args[2:])
	case "down":
		err = down()
	case "demo":
		err = demo(os.Args[2:])
	case "list":
		for _, n := range lab.Scenarios() {
			s, _ := lab.LoadScenario(n)
			fmt.Printf("%-24s %s\n", n, strings.Join(strings.Fields(s.Description), " "))
		}
	case "-h", "--help", "help":
		usage()
	default:
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage:
  lab up   [--scenario NAME] [--clusters N] [--loopback]
  lab down
  lab demo [--scenario NAME] [--clusters N] [--plugin PATH] [-- doctor args...]
  lab list`)
}

type flags struct {
	scenario string
	clusters int
	plugin   string
	loopback bool
	rest     []string
}

func parse(name string, args []string) (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&f.scenario, "scenario", "demo", "scenario name (lab list)")
	fs.IntVar(&f.clusters, "clusters", 0, "number of clusters (0: the scenario's default)")
	fs.StringVar(&f.plugin, "plugin", "", "path of the kubectl-meshfed binary (demo)")
	fs.BoolVar(&f.loopback, "loopback", false, "no network namespaces")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	f.rest = fs.Args()
	return f, nil
}

// stateFile records the running `lab up` so that `lab down` can stop it.
func stateFile() string { return filepath.Join(os.TempDir(), "meshfed-lab", "up.json") }

type state struct {
	PID        int               `json:"pid"`
	Scenario   string            `json:"scenario"`
	Kubeconfig string            `json:"kubeconfig"`
	Contexts   []string          `json:"contexts"`
	Istiod     map[string]string `json:"istiod"`
}

func start(ctx context.Context, f *flags) (*lab.Lab, error) {
	return lab.Start(ctx, lab.Config{Scenario: f.scenario, Clusters: f.clusters, Loopback: f.loopback})
}

func up(args []string) error {
	f, err := parse("up", args)
	if err != nil {
		return err
	}
	if b, err := os.ReadFile(stateFile()); err == nil {
		var st state
		if json.Unmarshal(b, &st) == nil && st.PID > 0 && syscall.Kill(st.PID, 0) == nil {
			return fmt.Errorf("a lab is already up (pid %d, scenario %s); run `make lab-down` first", st.PID, st.Scenario)
		}
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer cancel()
	l, err := start(ctx, f)
	if err != nil {
		return err
	}
	defer l.Stop()
	st := state{PID: os.Getpid(), Scenario: f.scenario, Kubeconfig: l.Kubeconfig(), Contexts: l.Contexts(), Istiod: map[string]string{}}
	for _, c := range l.Primaries() {
		st.Istiod[c] = l.IstiodDebugURL(c)
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	if err := os.MkdirAll(filepath.Dir(stateFile()), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(stateFile(), b, 0o600); err != nil {
		return err
	}
	defer os.Remove(stateFile())

	rss, pss := l.MemoryUsage()
	fmt.Printf("lab %q is up: %d clusters (%s), ready in %s, memory %d MB (PSS; RSS %d MB)\n", f.scenario, len(l.Contexts()),
		strings.Join(l.Contexts(), ", "), l.ReadyAfter().Round(100*time.Millisecond), pss>>20, rss>>20)
	if !l.Isolated() {
		fmt.Printf("note: no separate networks (%s)\n", l.IsolationReason())
	}
	fmt.Printf("\nexport KUBECONFIG=%s\n\n", l.Kubeconfig())
	fmt.Printf("kubectl meshfed doctor --contexts %s\n\n", strings.Join(l.Contexts(), ","))
	for _, c := range l.Contexts() {
		gw := l.GatewayAddress(c)
		if gw == "" {
			gw = "-"
		}
		istiod := l.IstiodDebugURL(c)
		if istiod == "" {
			istiod = "-"
		}
		fmt.Printf("  %-8s apiserver %s  istiod %s  east-west gateway %s  network %s\n", c, l.APIServerURL(c), istiod, gw, l.Network(c))
	}
	fmt.Printf("\nlogs: %s\nstop with Ctrl-C or `make lab-down`\n", filepath.Join(l.WorkDir(), "logs"))
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "stopping the lab ...")
	return l.Stop()
}

func down() error {
	b, err := os.ReadFile(stateFile())
	if err != nil {
		lab.Sweep()
		fmt.Println("no lab is up")
		return nil
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return err
	}
	if st.PID > 0 && syscall.Kill(st.PID, syscall.SIGTERM) == nil {
		for i := 0; i < 300 && syscall.Kill(st.PID, 0) == nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if syscall.Kill(st.PID, 0) == nil {
			_ = syscall.Kill(st.PID, syscall.SIGKILL)
			time.Sleep(200 * time.Millisecond)
		}
	}
	_ = os.Remove(stateFile())
	lab.Sweep()
	fmt.Println("lab stopped")
	return nil
}

func demo(args []string) error {
	f, err := parse("demo", args)
	if err != nil {
		return err
	}
	kubectl, err := kubectlPath()
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	l, err := start(ctx, f)
	if err != nil {
		return err
	}
	defer l.Stop()
	fmt.Fprintf(os.Stderr, "lab %q up in %s: contexts %s\n\n", f.scenario, l.ReadyAfter().Round(100*time.Millisecond), strings.Join(l.Contexts(), ", "))

	cmdArgs := []string{"meshfed", "doctor", "--contexts", strings.Join(l.Contexts(), ",")}
	cmdArgs = append(cmdArgs, f.rest...)
	if f.plugin == "" {
		// Without a plugin: show that the lab works through kubectl itself.
		cmdArgs = []string{"get", "namespaces", "-L", "topology.istio.io/network"}
	}
	env := append(os.Environ(), "KUBECONFIG="+l.Kubeconfig())
	if f.plugin != "" {
		abs, err := filepath.Abs(f.plugin)
		if err != nil {
			return err
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("plugin %s: %w (make build)", abs, err)
		}
		// kubectl finds `kubectl meshfed` as kubectl-meshfed on PATH.
		env = append(env, "PATH="+filepath.Dir(abs)+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	fmt.Fprintf(os.Stderr, "$ kubectl %s\n", strings.Join(cmdArgs, " "))
	cmd := exec.CommandContext(ctx, kubectl, cmdArgs...)
	cmd.Env = env
	cmd.Stdin = os.Stdin
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return err
		}
		// Findings (exit 1 or 2) are the point of a demo: report the code,
		// do not fail. 3 and above mean the doctor could not do its job.
		fmt.Fprintf(os.Stderr, "\n(kubectl %s exited %d)\n", cmdArgs[0], ee.ExitCode())
		if ee.ExitCode() >= 3 || ee.ExitCode() < 0 {
			return fmt.Errorf("kubectl %s failed (exit %d)", strings.Join(cmdArgs[:2], " "), ee.ExitCode())
		}
	}
	return nil
}

func kubectlPath() (string, error) {
	dir := os.Getenv("MESHFED_LAB_BIN")
	if dir == "" {
		dir = ".bin"
	}
	p := filepath.Join(dir, "kubectl")
	if _, err := os.Stat(p); err != nil {
		if lp, err2 := exec.LookPath("kubectl"); err2 == nil {
			return lp, nil
		}
		return "", fmt.Errorf("kubectl not found in %s (tools/build.sh): %w", dir, err)
	}
	return filepath.Abs(p)
}
