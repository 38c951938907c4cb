package lab

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// proc is one server process of the lab. Its output goes to a log file in
// the lab's work directory, never to the caller's streams.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startProc starts bin inside network namespace ns ("" = this machine's).
// The process gets SIGKILL when the lab's process dies, so an interrupted
// test leaves no server running.
func (l *Lab) startProc(name, ns, dir, bin string, args, env []string) (*proc, error) {
	logPath := filepath.Join(l.workDir, "logs", name+".log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	var cmd *exec.Cmd
	if ns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", ns, bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = lf
	cmd.Stderr = lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	if l.net != nil {
		l.net.update(func(r *record) { r.PIDs = append(r.PIDs, cmd.Process.Pid) })
	}
	return p, nil
}

// exited returns an error with the tail of the log if the process has ended.
func (p *proc) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited (%v); last log lines:\n%s", p.name, p.err, tail(p.log, 15))
	default:
		return nil
	}
}

func (p *proc) stop(grace time.Duration) {
	if p.cmd.Process == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, _ := f.Stat()
	off := st.Size() - 8192
	if off < 0 {
		off = 0
	}
	_, _ = f.Seek(off, io.SeekStart)
	b, _ := io.ReadAll(f)
	lines := splitLines(string(b))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := ""
	for _, l := range lines {
		if len(l) > 400 {
			l = l[:400] + "…"
		}
		out += "    " + l + "\n"
	}
	return out
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// listenIn opens a TCP listener inside network namespace ns ("" = this
// machine's). The socket belongs to the namespace it was made in, so the
// lab's own process can serve inside every cluster's network.
func listenIn(ns, addr string) (net.Listener, error) {
	var l net.Listener
	err := inNetns(ns, func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	})
	return l, err
}

// dialIn connects to addr from inside network namespace ns, the way
// kubectl port-forward connects to a pod's own localhost.
func dialIn(ns, addr string) (net.Conn, error) {
	var c net.Conn
	err := inNetns(ns, func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	})
	return c, err
}

// inNetns runs f on an OS thread switched into network namespace ns.
func inNetns(ns string, f func() error) error {
	if ns == "" {
		return f()
	}
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			ch <- err
			return
		}
		defer orig.Close()
		target, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			runtime.UnlockOSThread()
			ch <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: Go ends it with this goroutine,
			// so no other goroutine ever runs in the wrong namespace.
			ch <- errors.Join(ferr, errors.New("setns back to the host namespace failed"))
			return
		}
		runtime.UnlockOSThread()
		ch <- ferr
	}()
	return <-ch
}

// stopAll stops processes in reverse start order, one layer at a time.
func stopAll(ps []*proc) {
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func(p *proc) { defer wg.Done(); p.stop(5 * time.Second) }(p)
	}
	wg.Wait()
}

// MemoryUsage sums the resident memory of the lab's server processes (not
// the calling process): RSS counts shared pages once per process, PSS splits
// them, so PSS is the lab's real share of the machine's memory. Linux only;
// zero elsewhere.
func (l *Lab) MemoryUsage() (rssBytes, pssBytes uint64) {
	l.mu.Lock()
	procs := append([]*proc(nil), l.procs...)
	l.mu.Unlock()
	for _, p := range procs {
		if p.exited() != nil || p.cmd.Process == nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", p.cmd.Process.Pid))
		if err != nil {
			continue
		}
		for _, line := range splitLines(string(b)) {
			var kb uint64
			if _, err := fmt.Sscanf(line, "Rss: %d kB", &kb); err == nil {
				rssBytes += kb << 10
			} else if _, err := fmt.Sscanf(line, "Pss: %d kB", &kb); err == nil {
				pssBytes += kb << 10
			}
		}
	}
	return rssBytes, pssBytes
}
