package consumer

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Resource monitoring: every resource_monitor_interval seconds a worker
// adds a row per file under logs/perf/<host>/ of each job it serves:
// node_resource_usage.csv (CPU, memory, and each NVIDIA GPU's use where
// nvidia-smi answers), processes_resource_usage.csv (the worker and every
// process under it: the entry scripts) and node_disk_usage.csv (the
// worker's folder). Several workers on one host share these files; each
// rewrites them with its own rows.

func perfKey(host, name string) string { return path.Join("logs/perf", host, name) }

// monitor samples until ctx ends.
func (w *Worker) monitor(ctx context.Context, jr *jobRun, every time.Duration) {
	var prev cpuTimes
	first := true
	for {
		l := jr.log.Load()
		if l == nil {
			return
		}
		now := time.Now().UTC().Format(time.RFC3339)
		cur, err := readCPU()
		if err == nil {
			if first {
				l.append(perfKey(w.cfg.Host, "node_resource_usage.csv"),
					[]byte("time,cpu_percent,memory_total_mb,memory_used_mb,gpu,gpu_utilization_percent,gpu_memory_used_mb,gpu_memory_total_mb\n"))
				l.append(perfKey(w.cfg.Host, "processes_resource_usage.csv"), []byte("time,pid,ppid,command,cpu_seconds,rss_mb\n"))
				l.append(perfKey(w.cfg.Host, "node_disk_usage.csv"), []byte("time,path,total_gb,used_gb,available_gb,used_percent\n"))
			}
			cpu := ""
			if !first {
				cpu = fmt.Sprintf("%.1f", cur.percentSince(prev))
			}
			prev = cur
			total, used := readMemory()
			gpus := readGPUs(ctx)
			if len(gpus) == 0 {
				gpus = []string{",,,"}
			}
			for _, g := range gpus {
				l.append(perfKey(w.cfg.Host, "node_resource_usage.csv"), fmt.Appendf(nil, "%s,%s,%d,%d,%s\n", now, cpu, total, used, g))
			}
			for _, p := range processTree(os.Getpid()) {
				l.append(perfKey(w.cfg.Host, "processes_resource_usage.csv"),
					fmt.Appendf(nil, "%s,%d,%d,%s,%.2f,%.1f\n", now, p.pid, p.ppid, csvField(p.comm), p.cpuSeconds, p.rssMB))
			}
			var fs syscall.Statfs_t
			if syscall.Statfs(w.workDir, &fs) == nil {
				gb := float64(fs.Bsize) / (1 << 30)
				tot, used, avail := float64(fs.Blocks)*gb, float64(fs.Blocks-fs.Bfree)*gb, float64(fs.Bavail)*gb
				l.append(perfKey(w.cfg.Host, "node_disk_usage.csv"),
					fmt.Appendf(nil, "%s,%s,%.2f,%.2f,%.2f,%.1f\n", now, csvField(w.workDir), tot, used, avail, 100*used/max(used+avail, 1e-9)))
			}
			first = false
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

type cpuTimes struct{ busy, total uint64 }

func (c cpuTimes) percentSince(p cpuTimes) float64 {
	if c.total <= p.total {
		return 0
	}
	return 100 * float64(c.busy-p.busy) / float64(c.total-p.total)
}

func readCPU() (cpuTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return cpuTimes{}, fmt.Errorf("unexpected /proc/stat")
	}
	var t cpuTimes
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		t.total += n
		if i != 3 && i != 4 { // idle, iowait
			t.busy += n
		}
	}
	return t, nil
}

// readMemory returns total and used memory in MB.
func readMemory() (int64, int64) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	var total, avail int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		n, _ := strconv.ParseInt(strings.Fields(v + " 0")[0], 10, 64)
		switch k {
		case "MemTotal":
			total = n
		case "MemAvailable":
			avail = n
		}
	}
	return total / 1024, (total - avail) / 1024
}

// readGPUs returns "index,utilization,memory used,memory total" per GPU, or
// nothing where nvidia-smi is missing or fails.
func readGPUs(ctx context.Context) []string {
	if _, err := exec.LookPath("nvidia-smi"); err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nvidia-smi", "--query-gpu=index,utilization.gpu,memory.used,memory.total",
		"--format=csv,noheader,nounits").Output()
	if err != nil {
		return nil
	}
	var rows []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" {
			rows = append(rows, strings.ReplaceAll(line, " ", ""))
		}
	}
	return rows
}

type proc struct {
	pid, ppid  int
	comm       string
	cpuSeconds float64
	rssMB      float64
}

// processTree returns root and every process under it.
func processTree(root int) []proc {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	all := map[int]proc{}
	children := map[int][]int{}
	tick := 100.0 // USER_HZ on Linux
	page := float64(os.Getpagesize())
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open {
			continue
		}
		f := strings.Fields(s[close+1:])
		if len(f) < 22 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		rss, _ := strconv.ParseFloat(f[21], 64)
		all[pid] = proc{pid: pid, ppid: ppid, comm: s[open+1 : close], cpuSeconds: (ut + st) / tick, rssMB: rss * page / (1 << 20)}
		children[ppid] = append(children[ppid], pid)
	}
	var out []proc
	var walk func(int)
	walk = func(pid int) {
		if p, ok := all[pid]; ok {
			out = append(out, p)
		}
		for _, c := range children[pid] {
			walk(c)
		}
	}
	walk(root)
	return out
}

func csvField(s string) string {
	if strings.ContainsAny(s, ",\"\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}
