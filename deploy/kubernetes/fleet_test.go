package kubernetes

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	"github.com/nats-io/nats-server/v2/server"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/deploy/internal/prscli"
	"github.com/parallelrun/prs/internal/jobconfig"
)

func (b built) configMap(name string) (*corev1.ConfigMap, bool) {
	for _, o := range b.each("ConfigMap") {
		if o.name == name {
			return o.typed.(*corev1.ConfigMap), true
		}
	}
	o, ok := b.get("ConfigMap", name)
	if !ok {
		return nil, false
	}
	return o.typed.(*corev1.ConfigMap), true
}

// selected returns the pod template whose labels the selector matches.
func (b built) selected(sel map[string]string) (*corev1.PodSpec, string) {
	if len(sel) == 0 {
		return nil, ""
	}
	for _, o := range b.objects {
		var l map[string]string
		var spec *corev1.PodSpec
		switch v := o.typed.(type) {
		case *appsv1.Deployment:
			l, spec = v.Spec.Template.Labels, &v.Spec.Template.Spec
		case *appsv1.StatefulSet:
			l, spec = v.Spec.Template.Labels, &v.Spec.Template.Spec
		default:
			continue
		}
		if labels.SelectorFromSet(sel).Matches(labels.Set(l)) {
			return spec, o.kind + "/" + o.name
		}
	}
	return nil, ""
}

// containerPort is the container port a Service port reaches.
func containerPort(spec *corev1.PodSpec, p corev1.ServicePort) (int32, bool) {
	for _, c := range spec.Containers {
		for _, cp := range c.Ports {
			switch {
			case p.TargetPort.Type == intstr.String && p.TargetPort.StrVal == cp.Name:
				return cp.ContainerPort, true
			case p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == cp.ContainerPort,
				p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == 0 && p.Port == cp.ContainerPort:
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

// prsContainer finds the container of a pod spec that runs `prs cmd`.
func prsContainer(t *testing.T, where string, spec *corev1.PodSpec, cmd string) (corev1.Container, *prscli.Invocation) {
	t.Helper()
	for _, c := range spec.Containers {
		if !isPrs(c) {
			continue
		}
		if inv := invocation(t, where, c); inv != nil && inv.Command == cmd {
			return c, inv
		}
	}
	t.Fatalf("%s: no container runs prs %s", where, cmd)
	return corev1.Container{}, nil
}

// worker is an overlay's worker pod: the Deployment's or the ScaledJob's.
func (b built) worker(t *testing.T) (string, *corev1.PodSpec, corev1.Container, *prscli.Invocation) {
	t.Helper()
	var where string
	var spec *corev1.PodSpec
	if b.scaledJob {
		sj := b.must(t, "ScaledJob", "prs-worker").typed.(*kedav1alpha1.ScaledJob)
		where, spec = "ScaledJob/prs-worker", &sj.Spec.JobTargetRef.Template.Spec
	} else {
		d := b.must(t, "Deployment", "prs-worker").typed.(*appsv1.Deployment)
		where, spec = "Deployment/prs-worker", &d.Spec.Template.Spec
	}
	c, inv := prsContainer(t, b.dir+": "+where, spec, "worker")
	return where, spec, c, inv
}

// TestWorkers: the grace period outlasts the worker's drain; prod workers
// ask for a GPU and run the CUDA image, dev ones neither.
func TestWorkers(t *testing.T) {
	for _, b := range buildAll(t) {
		where, spec, c, inv := b.worker(t)
		where = b.dir + ": " + where
		drain, err := time.ParseDuration(inv.Value(t, "drain-timeout"))
		if err != nil {
			t.Fatalf("%s: --drain-timeout: %v", where, err)
		}
		grace := 30 * time.Second
		if spec.TerminationGracePeriodSeconds != nil {
			grace = time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
		}
		if grace <= drain {
			t.Errorf("%s: terminationGracePeriodSeconds %s is not above --drain-timeout %s: the kubelet would kill a draining worker", where, grace, drain)
		}
		gpus := c.Resources.Limits["nvidia.com/gpu"]
		cuda := strings.HasSuffix(c.Image, "-cuda13")
		switch {
		case b.gpu && (gpus.Value() < 1 || !cuda):
			t.Errorf("%s: GPU workers want nvidia.com/gpu >= 1 and the CUDA image; got %s and %s", where, gpus.String(), c.Image)
		case !b.gpu && (!gpus.IsZero() || !strings.HasSuffix(c.Image, "-cpu")):
			t.Errorf("%s: CPU workers want no GPU and the CPU image; got %s and %s", where, gpus.String(), c.Image)
		}
		if b.scaledJob {
			if _, ok := inv.Flags["idle-exit"]; !ok {
				t.Errorf("%s: a ScaledJob's worker must end by itself: prs worker --idle-exit", where)
			}
		}
	}
}

// TestKEDATrigger: the workers are scaled from 0 on the work stream and
// the workers' consumer, one worker per --slots mini-batches, by a
// nats-jetstream trigger that reads a NATS server of the overlay.
func TestKEDATrigger(t *testing.T) {
	for _, b := range buildAll(t) {
		_, _, _, inv := b.worker(t)
		slots := inv.Value(t, "slots")
		var triggers []kedav1alpha1.ScaleTriggers
		var minReplicas, maxReplicas *int32
		if b.scaledJob {
			sj := b.must(t, "ScaledJob", "prs-worker").typed.(*kedav1alpha1.ScaledJob)
			triggers, minReplicas, maxReplicas = sj.Spec.Triggers, sj.Spec.MinReplicaCount, sj.Spec.MaxReplicaCount
			for _, kind := range []string{"Deployment", "ScaledObject"} {
				if _, ok := b.get(kind, "prs-worker"); ok {
					t.Errorf("%s: both a ScaledJob and a %s of workers", b.dir, kind)
				}
			}
		} else {
			so := b.must(t, "ScaledObject", "prs-worker").typed.(*kedav1alpha1.ScaledObject)
			if so.Spec.ScaleTargetRef == nil || so.Spec.ScaleTargetRef.Name != "prs-worker" ||
				(so.Spec.ScaleTargetRef.Kind != "" && so.Spec.ScaleTargetRef.Kind != "Deployment") {
				t.Errorf("%s: the ScaledObject scales %+v, not the worker Deployment", b.dir, so.Spec.ScaleTargetRef)
			}
			triggers, minReplicas, maxReplicas = so.Spec.Triggers, so.Spec.MinReplicaCount, so.Spec.MaxReplicaCount
		}
		if minReplicas == nil || *minReplicas != 0 {
			t.Errorf("%s: minReplicaCount %v, want 0 (no worker while nothing waits)", b.dir, minReplicas)
		}
		if maxReplicas == nil || *maxReplicas < 1 {
			t.Errorf("%s: maxReplicaCount %v", b.dir, maxReplicas)
		}
		if len(triggers) != 1 || triggers[0].Type != "nats-jetstream" {
			t.Fatalf("%s: triggers %+v, want one nats-jetstream", b.dir, triggers)
		}
		md := triggers[0].Metadata
		want := map[string]string{
			"stream": contracts.BatchStream, "consumer": contracts.WorkerConsumer,
			"lagThreshold": slots, "account": "$G", "activationLagThreshold": "0",
		}
		for k, v := range want {
			if md[k] != v {
				t.Errorf("%s: trigger %s = %q, want %q", b.dir, k, md[k], v)
			}
		}
		b.checkMonitoringEndpoint(t, md["natsServerMonitoringEndpoint"])
		if maxReplicas != nil {
			_, ex := b.exporter(t)
			if got := ex.Value(t, "max-workers"); got != strconv.Itoa(int(*maxReplicas)) {
				t.Errorf("%s: prs exporter --max-workers %s, KEDA's maxReplicaCount %d", b.dir, got, *maxReplicas)
			}
		}
	}
}

// checkMonitoringEndpoint: host:port names a Service of the overlay's
// namespace whose pods are NATS servers with JetStream that serve their
// monitoring endpoint there.
func (b built) checkMonitoringEndpoint(t *testing.T, endpoint string) {
	t.Helper()
	host, port, err := net.SplitHostPort(endpoint)
	if err != nil {
		t.Errorf("%s: natsServerMonitoringEndpoint %q: %v", b.dir, endpoint, err)
		return
	}
	parts := strings.SplitN(host, ".", 3)
	if len(parts) < 2 || parts[1] != b.namespace || (len(parts) == 3 && parts[2] != "svc" && parts[2] != "svc.cluster.local") {
		t.Errorf("%s: natsServerMonitoringEndpoint %q is not SERVICE.%s.svc.cluster.local:PORT (KEDA reads it from its own namespace)", b.dir, endpoint, b.namespace)
		return
	}
	opts, _ := b.natsBehind(t, parts[0], port)
	if opts != nil && (strconv.Itoa(opts.HTTPPort) != port || !opts.JetStream) {
		t.Errorf("%s: the NATS server behind %s serves monitoring on %d (JetStream %v)", b.dir, endpoint, opts.HTTPPort, opts.JetStream)
	}
}

// natsBehind returns the options of the NATS servers behind Service svc's
// port, read with nats-server's own flag and configuration parsers, and
// the number of servers.
func (b built) natsBehind(t *testing.T, svc, port string) (*server.Options, int32) {
	t.Helper()
	o, ok := b.get("Service", svc)
	if !ok {
		t.Errorf("%s: no Service %s", b.dir, svc)
		return nil, 0
	}
	s := o.typed.(*corev1.Service)
	var sp *corev1.ServicePort
	for i := range s.Spec.Ports {
		if strconv.Itoa(int(s.Spec.Ports[i].Port)) == port {
			sp = &s.Spec.Ports[i]
		}
	}
	spec, name := b.selected(s.Spec.Selector)
	if sp == nil || spec == nil {
		t.Errorf("%s: Service %s has no port %s or selects no pods", b.dir, svc, port)
		return nil, 0
	}
	cport, ok := containerPort(spec, *sp)
	if !ok {
		t.Errorf("%s: Service %s port %s reaches no container port of %s", b.dir, svc, port, name)
		return nil, 0
	}
	replicas := int32(1)
	for _, obj := range b.objects {
		if obj.kind+"/"+obj.name != name {
			continue
		}
		switch v := obj.typed.(type) {
		case *appsv1.StatefulSet:
			replicas = *v.Spec.Replicas
		case *appsv1.Deployment:
			replicas = *v.Spec.Replicas
		}
	}
	opts := b.natsOptions(t, name, spec)
	if opts != nil && strconv.Itoa(opts.HTTPPort) != strconv.Itoa(int(cport)) && strconv.Itoa(opts.Port) != strconv.Itoa(int(cport)) {
		t.Errorf("%s: Service %s port %s reaches container port %d, where %s's NATS serves neither clients (%d) nor monitoring (%d)",
			b.dir, svc, port, cport, name, opts.Port, opts.HTTPPort)
	}
	return opts, replicas
}

// natsOptions reads the nats container's options: its flags, and the
// configuration file they name (from its ConfigMap), with the container's
// environment variables set.
func (b built) natsOptions(t *testing.T, where string, spec *corev1.PodSpec) *server.Options {
	t.Helper()
	for _, c := range spec.Containers {
		if !strings.HasPrefix(c.Image, "nats:") {
			continue
		}
		// The configuration file comes from a ConfigMap: give nats-server
		// a copy of it, and the container's environment, which the file
		// may name ($VAR).
		args := append([]string{}, c.Args...)
		for i := 0; i+1 < len(args); i++ {
			if a := strings.TrimLeft(args[i], "-"); a == "c" || a == "config" {
				args[i+1] = b.mountedFile(t, where, spec, c, args[i+1])
			}
		}
		for _, e := range c.Env {
			t.Setenv(e.Name, "value-of-"+e.Name)
		}
		fs := flag.NewFlagSet("nats-server", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		opts, err := server.ConfigureOptions(fs, args, func() {}, func() {}, func() {})
		if err != nil {
			t.Errorf("%s: %s: nats-server %q: %v", b.dir, where, c.Args, err)
			return nil
		}
		if opts.Port == 0 {
			opts.Port = server.DEFAULT_PORT
		}
		return opts
	}
	t.Errorf("%s: %s runs no nats image", b.dir, where)
	return nil
}

// mountedFile writes the ConfigMap key a container sees at path to a
// temporary file and returns its name.
func (b built) mountedFile(t *testing.T, where string, spec *corev1.PodSpec, c corev1.Container, path string) string {
	t.Helper()
	for _, m := range c.VolumeMounts {
		rel, err := filepath.Rel(m.MountPath, path)
		if err != nil || strings.HasPrefix(rel, "..") || strings.Contains(rel, "/") {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			cm, ok := b.configMap(v.ConfigMap.Name)
			if !ok {
				t.Fatalf("%s: %s: no ConfigMap %s", b.dir, where, v.ConfigMap.Name)
			}
			data, ok := cm.Data[rel]
			if !ok {
				t.Fatalf("%s: %s: %s: ConfigMap %s has no key %s", b.dir, where, path, cm.Name, rel)
			}
			f := filepath.Join(t.TempDir(), rel)
			if err := os.WriteFile(f, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("%s: %s: container %s sees no ConfigMap file at %s", b.dir, where, c.Name, path)
	return ""
}

// TestNATS: prs reaches NATS at a Service of the overlay; the servers and
// prs-setup's --replicas agree; prod's users are README's permission
// block, user by user.
func TestNATS(t *testing.T) {
	readme := readmeUsers(t)
	for _, b := range buildAll(t) {
		cm, ok := b.configMap("prs-fleet")
		if !ok {
			t.Fatalf("%s: no ConfigMap prs-fleet", b.dir)
		}
		u, err := url.Parse(cm.Data["nats-url"])
		if err != nil || u.Scheme != "nats" {
			t.Fatalf("%s: nats-url %q", b.dir, cm.Data["nats-url"])
		}
		opts, servers := b.natsBehind(t, u.Hostname(), u.Port())
		if opts == nil {
			continue
		}
		if servers != int32(b.natsNodes) {
			t.Errorf("%s: %d NATS servers, want %d", b.dir, servers, b.natsNodes)
		}
		if b.natsNodes > 1 && (len(opts.Routes) != b.natsNodes || opts.Cluster.Name == "") {
			t.Errorf("%s: a NATS cluster of %d wants %d routes and a cluster name, got %d and %q", b.dir, b.natsNodes, b.natsNodes, len(opts.Routes), opts.Cluster.Name)
		}
		setup := b.must(t, "Job", "prs-setup").typed.(*batchv1.Job)
		_, inv := prsContainer(t, b.dir+": Job/prs-setup", &setup.Spec.Template.Spec, "status")
		if got := inv.Value(t, "replicas"); got != strconv.Itoa(b.natsNodes) {
			t.Errorf("%s: prs-setup makes the streams with --replicas %s on %d NATS servers", b.dir, got, b.natsNodes)
		}
		if len(opts.Users) == 0 {
			continue // no authorization (dev)
		}
		got := map[string]*server.Permissions{}
		for _, u := range opts.Users {
			got[u.Username] = u.Permissions
		}
		for _, name := range union(keys(got), keys(readme)) {
			if !reflect.DeepEqual(got[name], readme[name]) {
				t.Errorf("%s: NATS user %s differs from README's \"NATS permissions\" block:\n got %s\nwant %s", b.dir, name, perms(got[name]), perms(readme[name]))
			}
		}
		for where, spec := range b.podSpecs() {
			for _, c := range spec.Containers {
				for _, e := range c.Env {
					if e.Name == "PRS_NATS_USER" && readme[e.Value] == nil {
						t.Errorf("%s: %s connects as %q, not a user of README's block", b.dir, where, e.Value)
					}
				}
			}
		}
	}
}

// readmeUsers reads the users of README's "NATS permissions" block with
// nats-server's own parser.
func readmeUsers(t *testing.T) map[string]*server.Permissions {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(prscli.Root(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, _ := strings.Cut(string(b), "\n### NATS permissions\n")
	_, block, _ := strings.Cut(sec, "\n```conf\n")
	block, _, ok := strings.Cut(block, "\n```\n")
	if !ok {
		t.Fatal("README has no conf block under NATS permissions")
	}
	f := filepath.Join(t.TempDir(), "readme.conf")
	if err := os.WriteFile(f, []byte(block), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(f)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*server.Permissions{}
	for _, u := range opts.Users {
		out[u.Username] = u.Permissions
	}
	return out
}

// exporter is the overlay's prs exporter.
func (b built) exporter(t *testing.T) (corev1.Container, *prscli.Invocation) {
	t.Helper()
	d := b.must(t, "Deployment", "prs-exporter").typed.(*appsv1.Deployment)
	return prsContainer(t, b.dir+": Deployment/prs-exporter", &d.Spec.Template.Spec, "exporter")
}

// TestExporter: prs exporter assumes the workers' --slots, and a Service
// with Prometheus's scrape annotations reaches its --metrics-addr.
func TestExporter(t *testing.T) {
	for _, b := range buildAll(t) {
		_, _, _, w := b.worker(t)
		c, inv := b.exporter(t)
		if got, want := inv.Value(t, "slots-per-worker"), w.Value(t, "slots"); got != want {
			t.Errorf("%s: prs exporter --slots-per-worker %s, workers --slots %s", b.dir, got, want)
		}
		_, port, err := net.SplitHostPort(inv.Value(t, "metrics-addr"))
		if err != nil {
			t.Fatalf("%s: exporter --metrics-addr: %v", b.dir, err)
		}
		svc := b.must(t, "Service", "prs-exporter").typed.(*corev1.Service)
		d := b.must(t, "Deployment", "prs-exporter").typed.(*appsv1.Deployment)
		reached := false
		for _, p := range svc.Spec.Ports {
			if cp, ok := containerPort(&d.Spec.Template.Spec, p); ok && strconv.Itoa(int(cp)) == port && svc.Annotations["prometheus.io/port"] == strconv.Itoa(int(p.Port)) {
				reached = true
			}
		}
		if !reached || svc.Annotations["prometheus.io/scrape"] != "true" {
			t.Errorf("%s: Service prs-exporter does not reach %s's --metrics-addr port %s with prometheus.io/scrape and port", b.dir, c.Name, port)
		}
	}
}

// TestSubmitJob: the producer Job submits the job configuration of its
// ConfigMap, which prs's own parser accepts without a warning, with the
// entry script beside it; the script is examples/quickstart's.
func TestSubmitJob(t *testing.T) {
	example, err := os.ReadFile(filepath.Join(prscli.Root(), "examples", "quickstart", "score.py"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range buildAll(t) {
		job := b.must(t, "Job", "prs-submit").typed.(*batchv1.Job)
		spec := &job.Spec.Template.Spec
		c, inv := prsContainer(t, b.dir+": Job/prs-submit", spec, "submit")
		if inv.Value(t, "wait") != "true" || inv.Value(t, "job-id") == "" {
			t.Errorf("%s: prs-submit wants --wait (the Job succeeds when the job does) and a --job-id (a retry resumes)", b.dir)
		}
		conf := b.mountedFile(t, "Job/prs-submit", spec, c, inv.Value(t, "config"))
		data, err := os.ReadFile(conf)
		if err != nil {
			t.Fatal(err)
		}
		cfg, warnings, err := jobconfig.Parse(data)
		if err != nil || len(warnings) > 0 {
			t.Errorf("%s: the job configuration: %v %v", b.dir, err, warnings)
			continue
		}
		script := b.mountedFile(t, "Job/prs-submit", spec, c, cfg.EntryScript)
		got, err := os.ReadFile(script)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(example) {
			t.Errorf("%s: %s differs from examples/quickstart/score.py", b.dir, cfg.EntryScript)
		}
		if !strings.HasPrefix(cfg.Input, "s3://") || !strings.HasPrefix(cfg.Output, "s3://") {
			t.Errorf("%s: a fleet's job reads and writes S3, got input %q output %q", b.dir, cfg.Input, cfg.Output)
		}
	}
}

func union(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range append(a, b...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// perms prints a user's permissions for a failure message.
func perms(p *server.Permissions) string {
	if p == nil {
		return "(no such user)"
	}
	var parts []string
	if p.Publish != nil {
		parts = append(parts, fmt.Sprintf("publish allow %v deny %v", p.Publish.Allow, p.Publish.Deny))
	}
	if p.Subscribe != nil {
		parts = append(parts, fmt.Sprintf("subscribe allow %v deny %v", p.Subscribe.Allow, p.Subscribe.Deny))
	}
	return strings.Join(parts, "; ")
}
