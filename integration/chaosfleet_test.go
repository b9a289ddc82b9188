package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/parallelrun/prs/internal/broker"
)

// The chaos driver: a fleet of `prs worker` processes and the faults
// injected into it, its JetStream server and its MinIO while a job runs.

// fleet is a set of worker processes that the driver kills and replaces.
type fleet struct {
	h     *harness
	slots int

	mu      sync.Mutex
	n       int            // workers started so far (names w01, w02, ...)
	live    []*proc        // started and not ended by the test
	started map[int]*proc  // every worker, by pid
	names   map[int]string // worker name by pid
	ended   map[int]bool   // pids the test killed or terminated
	spared  map[int]bool   // pids never to kill (a stopped worker)
}

func newFleet(h *harness, workers, slots int) *fleet {
	f := &fleet{h: h, slots: slots, started: map[int]*proc{}, names: map[int]string{}, ended: map[int]bool{}, spared: map[int]bool{}}
	for range workers {
		f.start()
	}
	return f
}

// start starts one more worker.
func (f *fleet) start() *proc {
	f.mu.Lock()
	f.n++
	name := fmt.Sprintf("w%02d", f.n)
	f.mu.Unlock()
	p := f.h.workerArgs(f.slots, "--name", name)
	pid := p.cmd.Process.Pid
	f.mu.Lock()
	defer f.mu.Unlock()
	f.live = append(f.live, p)
	f.started[pid], f.names[pid] = p, name
	return p
}

// pick returns a random live worker that is not spared, or nil.
func (f *fleet) pick() *proc {
	f.mu.Lock()
	defer f.mu.Unlock()
	var c []*proc
	for _, p := range f.live {
		if !f.spared[p.cmd.Process.Pid] {
			c = append(c, p)
		}
	}
	if len(c) == 0 {
		return nil
	}
	return c[rand.IntN(len(c))]
}

// kill SIGKILLs p, waits for it to exit and starts a replacement.
func (f *fleet) kill(p *proc) error {
	f.forget(p)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("SIGKILL worker %d: %w", p.cmd.Process.Pid, err)
	}
	<-p.done
	f.start()
	return nil
}

// forget marks p as ended by the test.
func (f *fleet) forget(p *proc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended[p.cmd.Process.Pid] = true
	f.live = slices.DeleteFunc(f.live, func(q *proc) bool { return q == p })
}

// busy returns a live, unspared worker that is in the middle of a run()
// call (runs.log under state has its start and not yet its end), or any
// live one when none is.
func (f *fleet) busy(state string) *proc {
	b, _ := os.ReadFile(filepath.Join(state, "runs.log"))
	open := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		fs := strings.Fields(line)
		if len(fs) != 3 {
			continue
		}
		k := fs[1] + " " + fs[2]
		if fs[0] == "start" {
			open[k]++
		} else {
			open[k]--
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.live {
		pid := strconv.Itoa(p.cmd.Process.Pid)
		for k, n := range open {
			if n > 0 && strings.HasPrefix(k, pid+" ") && !f.spared[p.cmd.Process.Pid] {
				return p
			}
		}
	}
	for _, p := range f.live {
		if !f.spared[p.cmd.Process.Pid] {
			return p
		}
	}
	return nil
}

// name is p's worker name.
func (f *fleet) name(p *proc) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.names[p.cmd.Process.Pid]
}

// spare keeps p from being killed from now on.
func (f *fleet) spare(p *proc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.spared[p.cmd.Process.Pid] = true
}

// unexpected lists the workers that exited without the test ending them.
func (f *fleet) unexpected() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for pid, p := range f.started {
		select {
		case <-p.done:
			if !f.ended[pid] {
				b, _ := os.ReadFile(p.log)
				out = append(out, fmt.Sprintf("worker %s (pid %d) exited on its own:\n%s", f.names[pid], pid, tail(string(b), 3000)))
			}
		default:
		}
	}
	return out
}

// stopAll ends every live worker with SIGTERM (a drain) and waits.
func (f *fleet) stopAll() {
	f.mu.Lock()
	live := f.live
	f.live = nil
	for _, p := range live {
		f.ended[p.cmd.Process.Pid] = true
	}
	f.mu.Unlock()
	for _, p := range live {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range live {
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}

// descendants returns pid and the processes below it (the entry scripts
// and whatever they started), parents first, read from /proc.
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name may hold spaces: the fields after it follow the last ')'.
		s := string(b)
		fs := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fs) < 2 {
			continue
		}
		if pp, err := strconv.Atoi(fs[1]); err == nil {
			children[pp] = append(children[pp], c)
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// faultCounts is what the driver injected.
type faultCounts struct {
	kills, stops, natsRestarts, minioRestarts int
	// stoppedWorkers names the workers stopped, in order.
	stoppedWorkers []string
}

// fault kinds of the driver's schedule.
const (
	faultKill  = "kill"
	faultStop  = "stop"
	faultNATS  = "nats"
	faultMinIO = "minio"
)

// schedule is the order of the faults: every kind early, then again.
var schedule = []string{faultKill, faultStop, faultKill, faultNATS, faultKill, faultMinIO, faultKill, faultKill, faultNATS, faultKill, faultMinIO, faultKill}

// driver injects faults into a fleet while a job runs.
type driver struct {
	h       *harness
	f       *fleet
	state   string        // the job's runs.log folder
	every   time.Duration // between two faults at most
	stopFor time.Duration // how long a stopped worker stays stopped
	down    time.Duration // how long JetStream stays down

	mu     sync.Mutex
	counts faultCounts
	errs   []string
}

func (d *driver) errorf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.errs = append(d.errs, fmt.Sprintf(format, args...))
}

// run injects faults until ctx ends: the schedule once, each fault when the
// job's done count passes its share of horizon or after every, whichever
// comes first (so that every kind happens while the job runs, however fast
// the machine), then the schedule again every few seconds.
func (d *driver) run(ctx context.Context, jobID string, horizon int64) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; ; i++ {
		milestone := int64(-1)
		if i < len(schedule) {
			milestone = horizon * int64(i+1) / int64(len(schedule)+1)
		}
		if !d.pause(ctx, jobID, milestone) {
			return
		}
		switch kind := schedule[i%len(schedule)]; kind {
		case faultKill:
			if p := d.f.pick(); p != nil {
				if err := d.f.kill(p); err != nil {
					d.errorf("%v", err)
				}
				d.count(func(c *faultCounts) { c.kills++ })
			}
		case faultStop:
			if p := d.f.busy(d.state); p != nil {
				d.f.spare(p)
				wg.Add(1)
				go func() { defer wg.Done(); d.stop(p) }()
			}
		case faultNATS:
			d.restartNATS()
		case faultMinIO:
			if err := d.h.s3srv().Restart(); err != nil {
				d.errorf("restarting MinIO: %v", err)
			}
			d.count(func(c *faultCounts) { c.minioRestarts++ })
		}
	}
}

// pause waits for the next fault: a few seconds (every, less a random
// part), or until the job's done count reaches milestone (when >= 0). It
// returns false when ctx ends.
func (d *driver) pause(ctx context.Context, jobID string, milestone int64) bool {
	deadline := time.Now().Add(d.every/2 + rand.N(d.every/2))
	for time.Now().Before(deadline) {
		if milestone >= 0 {
			c, err := d.h.h.ReadCounters(ctx, jobID)
			if err == nil && c.Done >= milestone {
				break
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
	return ctx.Err() == nil
}

func (d *driver) count(fn func(*faultCounts)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fn(&d.counts)
}

// stop freezes p and the processes below it (SIGSTOP) for stopFor, longer
// than the ack wait, so that its mini-batches go to other workers, then
// lets them go on (SIGCONT): their late attempts must change nothing.
func (d *driver) stop(p *proc) {
	pids := descendants(p.cmd.Process.Pid)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGSTOP)
	}
	d.count(func(c *faultCounts) {
		c.stops++
		c.stoppedWorkers = append(c.stoppedWorkers, d.f.name(p))
	})
	time.Sleep(d.stopFor) // the fault's length, not a wait for an event
	for i := len(pids) - 1; i >= 0; i-- {
		_ = syscall.Kill(pids[i], syscall.SIGCONT)
	}
}

// restartNATS stops the JetStream server and starts it again on the same
// port and store after down: the workers, which reach it over TCP, lose
// their connections and their requests fail until it is back.
func (d *driver) restartNATS() {
	h := d.h
	h.srv.Shutdown()
	h.srv.WaitForShutdown()
	time.Sleep(d.down) // the outage's length
	srv, err := broker.StartEmbedded(broker.EmbeddedConfig{StoreDir: h.storeDir, Port: h.port})
	if err != nil {
		d.errorf("restarting JetStream: %v", err)
		return
	}
	h.srv = srv
	d.count(func(c *faultCounts) { c.natsRestarts++ })
}
