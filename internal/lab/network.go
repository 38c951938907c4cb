package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNotIsolated is returned by CutPath and HealPath when the lab runs on
// loopback (no network namespaces).
var ErrNotIsolated = errors.New("lab runs without network namespaces (loopback fallback): paths cannot be cut")

// registryDir holds one file per running lab, named by the lab's octet. The
// file is created with O_EXCL, so it is also how two labs agree on who owns
// which address range. A lab whose pid is gone is swept by the next Start.
func registryDir() string {
	return filepath.Join(os.TempDir(), "meshfed-lab", "labs")
}

// record is what a lab writes about itself so that a later lab (or `lab
// down`) can remove it when its own process is gone.
type record struct {
	PID      int      `json:"pid"`
	Octet    int      `json:"octet"`
	Isolated bool     `json:"isolated"`
	Netns    []string `json:"netns,omitempty"`
	HostLink string   `json:"hostLink,omitempty"`
	Route    string   `json:"route,omitempty"`
	WorkDir  string   `json:"workDir"`
	PIDs     []int    `json:"pids,omitempty"`
}

// network is a lab's address plan. With network namespaces (isolated), every
// cluster lives in netns "mf<octet>-<pid>-<cluster>" with address
// 10.<octet>.<k>.2 (k = cluster index + 1) and its gateway stand-in on
// 10.<octet>.<k>.3; a router netns joins them and this machine reaches the
// whole 10.<octet>.0.0/16 through it; etcd listens on 10.<octet>.0.1, this
// machine's end of the link to the router. Without namespaces the same plan
// uses 127.<octet>.<k>.2 on loopback.
type network struct {
	isolated bool
	octet    int
	pid      int
	clusters []string
	regFile  string
}

func (n *network) prefix() string {
	if n.isolated {
		return fmt.Sprintf("10.%d", n.octet)
	}
	return fmt.Sprintf("127.%d", n.octet)
}

func (n *network) index(cluster string) int {
	for i, c := range n.clusters {
		if c == cluster {
			return i
		}
	}
	return -1
}

func (n *network) hostAddr() string { return n.prefix() + ".0.1" }
func (n *network) addr(cluster string) string {
	return fmt.Sprintf("%s.%d.2", n.prefix(), n.index(cluster)+1)
}
func (n *network) gatewayAddr(cluster string) string {
	return fmt.Sprintf("%s.%d.3", n.prefix(), n.index(cluster)+1)
}
func (n *network) subnet(cluster string) string {
	return fmt.Sprintf("%s.%d.0/24", n.prefix(), n.index(cluster)+1)
}

// debugAddr is a loopback address of this machine for the cluster, where
// the lab forwards istiod's debug port (in the loopback fallback it is the
// cluster's own address).
func (n *network) debugAddr(cluster string) string {
	return fmt.Sprintf("127.%d.%d.2", n.octet, n.index(cluster)+1)
}
func (n *network) routerNS() string { return fmt.Sprintf("mf%d-%d-router", n.octet, n.pid) }
func (n *network) ns(cluster string) string {
	if !n.isolated {
		return ""
	}
	return fmt.Sprintf("mf%d-%d-%s", n.octet, n.pid, cluster)
}
func (n *network) hostLink() string { return fmt.Sprintf("mf%dh", n.octet) }

// canIsolate says whether network namespaces can be made here, and if not why.
func canIsolate() (bool, string) {
	if os.Getenv("MESHFED_LAB_LOOPBACK") != "" {
		return false, "MESHFED_LAB_LOOPBACK is set"
	}
	if runtime.GOOS != "linux" {
		return false, "network namespaces need Linux"
	}
	if os.Geteuid() != 0 {
		return false, "network namespaces need root"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return false, "iproute2's ip command is not installed"
	}
	return true, ""
}

// allocate picks an octet no other lab and no route of this machine uses and
// claims it in the registry.
func allocate(isolated bool, clusters []string, workDir string) (*network, error) {
	// Shared by every user's labs (sticky, like /tmp), so octets stay unique.
	for _, d := range []string{filepath.Dir(registryDir()), registryDir()} {
		if err := os.Mkdir(d, os.ModeSticky|0o777); err != nil && !os.IsExist(err) {
			return nil, err
		}
		_ = os.Chmod(d, os.ModeSticky|0o777) // umask, or made by an older lab; fails harmlessly if not ours
	}
	used := usedPrefixes()
	start := 64 + rand.IntN(190)
	for i := 0; i < 190; i++ {
		octet := 64 + (start-64+i)%190
		n := &network{isolated: isolated, octet: octet, pid: os.Getpid(), clusters: clusters}
		if isolated && used[octet] {
			continue
		}
		f := filepath.Join(registryDir(), strconv.Itoa(octet)+".json")
		fh, err := os.OpenFile(f, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			continue
		}
		n.regFile = f
		rec := record{PID: n.pid, Octet: octet, Isolated: isolated, WorkDir: workDir}
		_ = json.NewEncoder(fh).Encode(rec)
		fh.Close()
		return n, nil
	}
	return nil, fmt.Errorf("no free address range for a lab (all of 10.64-253.0.0/16 in use)")
}

// usedPrefixes returns second octets of 10.x.0.0/16 ranges that overlap a
// route or address already on this machine.
func usedPrefixes() map[int]bool {
	used := map[int]bool{}
	out, _ := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	addrs, _ := exec.Command("ip", "-4", "-o", "addr").Output()
	for _, f := range strings.Fields(string(out) + " " + string(addrs)) {
		ip, ipn, err := net.ParseCIDR(f)
		if err != nil {
			ip = net.ParseIP(f)
			if ip == nil {
				continue
			}
			ipn = &net.IPNet{IP: ip, Mask: net.CIDRMask(32, 32)}
		}
		ip4 := ip.To4()
		if ip4 == nil {
			continue
		}
		ones, _ := ipn.Mask.Size()
		if ones < 16 { // a wide route (like 10.0.0.0/8) covers every candidate
			if ipn.Contains(net.IPv4(10, 64, 0, 0)) || ipn.Contains(net.IPv4(10, 253, 0, 0)) {
				for o := 0; o < 256; o++ {
					if ipn.Contains(net.IPv4(10, byte(o), 0, 0)) {
						used[o] = true
					}
				}
			}
			continue
		}
		if ip4[0] == 10 {
			used[int(ip4[1])] = true
		}
	}
	return used
}

func (n *network) record() (*record, error) {
	b, err := os.ReadFile(n.regFile)
	if err != nil {
		return nil, err
	}
	var r record
	return &r, json.Unmarshal(b, &r)
}

func (n *network) update(f func(*record)) {
	r, err := n.record()
	if err != nil {
		return
	}
	f(r)
	b, _ := json.Marshal(r)
	_ = os.WriteFile(n.regFile+".tmp", b, 0o600)
	_ = os.Rename(n.regFile+".tmp", n.regFile)
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// setup makes the namespaces, links and routes.
func (n *network) setup() error {
	if !n.isolated {
		return nil
	}
	r := n.routerNS()
	hl := n.hostLink()
	p := n.prefix()
	var names []string
	names = append(names, r)
	for _, c := range n.clusters {
		names = append(names, n.ns(c))
	}
	n.update(func(rec *record) {
		rec.Netns = names
		rec.HostLink = hl
		rec.Route = p + ".0.0/16"
	})
	cmds := [][]string{
		{"netns", "add", r},
		{"link", "add", hl, "type", "veth", "peer", "name", "host", "netns", r},
		{"addr", "add", p + ".0.1/30", "dev", hl},
		{"link", "set", hl, "up"},
		{"-n", r, "link", "set", "lo", "up"},
		{"-n", r, "addr", "add", p + ".0.2/30", "dev", "host"},
		{"-n", r, "link", "set", "host", "up"},
		{"netns", "exec", r, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"},
		{"route", "add", p + ".0.0/16", "via", p + ".0.2", "dev", hl},
	}
	for i, c := range n.clusters {
		k := strconv.Itoa(i + 1)
		ns := n.ns(c)
		link := "to-" + k
		cmds = append(cmds,
			[]string{"netns", "add", ns},
			[]string{"link", "add", link, "netns", r, "type", "veth", "peer", "name", "eth0", "netns", ns},
			[]string{"-n", r, "addr", "add", p + "." + k + ".1/24", "dev", link},
			[]string{"-n", r, "link", "set", link, "up"},
			[]string{"-n", ns, "link", "set", "lo", "up"},
			[]string{"-n", ns, "addr", "add", p + "." + k + ".2/24", "dev", "eth0"},
			[]string{"-n", ns, "addr", "add", p + "." + k + ".3/24", "dev", "eth0"},
			[]string{"-n", ns, "link", "set", "eth0", "up"},
			[]string{"-n", ns, "route", "add", "default", "via", p + "." + k + ".1"},
		)
	}
	for _, c := range cmds {
		if c[0] == "netns" && c[1] == "exec" {
			if out, err := exec.Command("ip", c...).CombinedOutput(); err != nil {
				return fmt.Errorf("ip %s: %v: %s", strings.Join(c, " "), err, out)
			}
			continue
		}
		if err := ipCmd(c...); err != nil {
			return err
		}
	}
	return nil
}

// cut makes from's namespace drop new connections to to's apiserver: a
// policy-routing blackhole rule for TCP to to's address on port 6443. Only
// that direction: replies to connections to opened into from still flow, so
// to's istiod keeps reading from's apiserver, and this machine reaches both.
func (n *network) cut(from, to string) error {
	args, err := n.cutRule(from, to)
	if err != nil {
		return err
	}
	err = ipCmd(append([]string{"-n", n.ns(from), "rule", "add"}, args...)...)
	if err != nil && strings.Contains(err.Error(), "File exists") {
		return nil
	}
	return err
}

func (n *network) cutRule(from, to string) ([]string, error) {
	if !n.isolated {
		return nil, ErrNotIsolated
	}
	if n.index(from) < 0 || n.index(to) < 0 || from == to {
		return nil, fmt.Errorf("cannot cut %s -> %s", from, to)
	}
	return []string{"to", n.addr(to) + "/32", "ipproto", "tcp", "dport", "6443", "blackhole",
		"priority", strconv.Itoa(100 + n.index(to))}, nil
}

func (n *network) heal(from, to string) error {
	args, err := n.cutRule(from, to)
	if err != nil {
		return err
	}
	err = ipCmd(append([]string{"-n", n.ns(from), "rule", "del"}, args...)...)
	if err != nil && strings.Contains(err.Error(), "No such file") {
		return nil
	}
	return err
}

// teardown removes what setup made and the registry entry.
func (n *network) teardown() error {
	rec, err := n.record()
	if err != nil {
		rec = &record{}
	}
	errs := cleanRecord(rec)
	_ = os.Remove(n.regFile)
	return errors.Join(errs...)
}

// cleanRecord kills a lab's leftover processes and removes its namespaces,
// host link and route.
func cleanRecord(rec *record) []error {
	var errs []error
	for _, pid := range rec.PIDs {
		if ownedBy(pid, rec.WorkDir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for _, ns := range rec.Netns {
		if _, err := os.Stat(filepath.Join("/run/netns", ns)); err != nil {
			continue
		}
		killNetnsPids(ns)
		if err := ipCmd("netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	if rec.HostLink != "" {
		if _, err := net.InterfaceByName(rec.HostLink); err == nil {
			// Deleting the router's namespace removes the link's peer, and the
			// kernel then removes the link itself, asynchronously: it may be
			// gone between the lookup and the delete.
			if err := ipCmd("link", "del", rec.HostLink); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

func killNetnsPids(ns string) {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	// Give the kernel a moment to release the namespace's sockets.
	for i := 0; i < 20; i++ {
		out, _ := exec.Command("ip", "netns", "pids", ns).Output()
		if len(strings.TrimSpace(string(out))) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ownedBy reports whether pid runs a command line that mentions dir (so a
// recycled pid is never killed).
func ownedBy(pid int, dir string) bool {
	if dir == "" {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(b), dir)
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

var netnsName = regexp.MustCompile(`^mf\d+-(\d+)-`)

// Sweep removes what labs whose process is gone left behind: processes,
// network namespaces, links, routes, work directories and registry entries.
// Start calls it; it is safe to call at any time.
func Sweep() {
	ents, _ := os.ReadDir(registryDir())
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		f := filepath.Join(registryDir(), e.Name())
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var rec record
		if json.Unmarshal(b, &rec) != nil {
			// A half-written file: only remove it when old.
			if fi, err := os.Stat(f); err == nil && time.Since(fi.ModTime()) > time.Minute {
				_ = os.Remove(f)
			}
			continue
		}
		if alive(rec.PID) {
			continue
		}
		cleanRecord(&rec)
		if rec.WorkDir != "" && strings.Contains(rec.WorkDir, "meshfed-lab") {
			_ = os.RemoveAll(rec.WorkDir)
		}
		_ = os.Remove(f)
	}
	// Work directories kept for their logs, after a day.
	live := map[string]bool{}
	ents, _ = os.ReadDir(registryDir())
	for _, e := range ents {
		if b, err := os.ReadFile(filepath.Join(registryDir(), e.Name())); err == nil {
			var rec record
			if json.Unmarshal(b, &rec) == nil {
				live[rec.WorkDir] = true
			}
		}
	}
	if dirs, err := filepath.Glob(filepath.Join(os.TempDir(), "meshfed-lab-*")); err == nil {
		for _, d := range dirs {
			fi, err := os.Stat(d)
			if err == nil && fi.IsDir() && !live[d] && time.Since(fi.ModTime()) > 24*time.Hour {
				_ = os.RemoveAll(d)
			}
		}
	}
	// Namespaces whose record is gone but whose name says which pid made them.
	nss, _ := os.ReadDir("/run/netns")
	for _, e := range nss {
		m := netnsName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		if pid, _ := strconv.Atoi(m[1]); !alive(pid) {
			killNetnsPids(e.Name())
			_ = ipCmd("netns", "del", e.Name())
		}
	}
}
