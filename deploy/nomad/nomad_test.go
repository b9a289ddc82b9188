// Package nomad holds prs's Nomad job files; its tests read them with
// HashiCorp's HCL parser and a schema of the blocks prs uses (the Nomad
// module itself is not imported) and check them against prs's code.
package nomad

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"

	"github.com/parallelrun/prs/deploy/internal/prscli"
	"github.com/parallelrun/prs/internal/exporter"
	"github.com/parallelrun/prs/internal/jobconfig"
)

// The schema of the blocks and attributes prs's job files use. Content
// (not PartialContent) is used throughout, so that a misspelt attribute
// or block is an error, as Nomad would make it one.
var (
	fileSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "job", LabelNames: []string{"name"}}}}
	jobSchema  = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "type", Required: true}, {Name: "datacenters"}, {Name: "namespace"}, {Name: "priority"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "group", LabelNames: []string{"name"}}},
	}
	groupSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "count"}},
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "scaling"}, {Type: "network"}, {Type: "service"}, {Type: "restart"}, {Type: "reschedule"},
			{Type: "task", LabelNames: []string{"name"}},
		},
	}
	scalingSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "enabled"}, {Name: "min", Required: true}, {Name: "max", Required: true}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "policy"}},
	}
	policySchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "evaluation_interval"}, {Name: "cooldown"}, {Name: "on_check_error"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "check", LabelNames: []string{"name"}}},
	}
	checkSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "source", Required: true}, {Name: "query", Required: true}, {Name: "query_window"}, {Name: "on_error"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "strategy", LabelNames: []string{"name"}}},
	}
	networkSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "port", LabelNames: []string{"label"}}}}
	portSchema    = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "static"}, {Name: "to"}}}
	serviceSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "name", Required: true}, {Name: "port", Required: true}, {Name: "provider"}, {Name: "tags"}}}
	restartSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "attempts"}, {Name: "mode"}, {Name: "interval"}, {Name: "delay"}}}
	reschedSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "attempts"}, {Name: "interval"}, {Name: "unlimited"}, {Name: "delay"}}}
	taskSchema    = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "driver", Required: true}, {Name: "kill_timeout"}, {Name: "kill_signal"}, {Name: "user"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "config"}, {Type: "env"}, {Type: "template"}, {Type: "resources"}},
	}
	configSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "image", Required: true}, {Name: "args"}, {Name: "ports"}}}
	tmplSchema   = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "destination", Required: true}, {Name: "data", Required: true}, {Name: "env"}, {Name: "change_mode"}}}
	resSchema    = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "cpu"}, {Name: "memory"}, {Name: "memory_max"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "device", LabelNames: []string{"name"}}},
	}
	deviceSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "count"}}}
)

// block is a decoded block: its labels, attribute values and sub-blocks.
type block struct {
	labels []string
	attrs  map[string]cty.Value
	blocks map[string][]*block
}

// schemas says which schema each block type has; a block type absent here
// has an empty body (strategy "pass-through" {}) or free-form attributes
// (env).
var schemas = map[string]*hcl.BodySchema{
	"job": jobSchema, "group": groupSchema, "scaling": scalingSchema, "policy": policySchema, "check": checkSchema,
	"network": networkSchema, "port": portSchema, "service": serviceSchema, "restart": restartSchema,
	"reschedule": reschedSchema, "task": taskSchema, "config": configSchema, "template": tmplSchema,
	"resources": resSchema, "device": deviceSchema, "strategy": {},
}

func decode(t *testing.T, typ string, labels []string, body hcl.Body) *block {
	t.Helper()
	b := &block{labels: labels, attrs: map[string]cty.Value{}, blocks: map[string][]*block{}}
	if typ == "env" { // a map of names to values
		attrs, diags := body.JustAttributes()
		fail(t, diags)
		for n, a := range attrs {
			b.attrs[n] = value(t, a)
		}
		return b
	}
	schema, ok := schemas[typ]
	if !ok {
		t.Fatalf("no schema for block %q", typ)
	}
	content, diags := body.Content(schema)
	fail(t, diags)
	for n, a := range content.Attributes {
		b.attrs[n] = value(t, a)
	}
	for _, sub := range content.Blocks {
		b.blocks[sub.Type] = append(b.blocks[sub.Type], decode(t, sub.Type, sub.Labels, sub.Body))
	}
	return b
}

// value evaluates an attribute with no variables or functions: prs's job
// files use literals only (an interpolation would need Nomad to resolve).
func value(t *testing.T, a *hcl.Attribute) cty.Value {
	t.Helper()
	v, diags := a.Expr.Value(nil)
	fail(t, diags)
	return v
}

func fail(t *testing.T, diags hcl.Diagnostics) {
	t.Helper()
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
}

// load parses a job file and returns its job block.
func load(t *testing.T, file string) *block {
	t.Helper()
	f, diags := hclparse.NewParser().ParseHCLFile(file)
	fail(t, diags)
	content, diags := f.Body.Content(fileSchema)
	fail(t, diags)
	if len(content.Blocks) != 1 {
		t.Fatalf("%s: %d job blocks, want 1", file, len(content.Blocks))
	}
	jb := content.Blocks[0]
	return decode(t, "job", jb.Labels, jb.Body)
}

func (b *block) one(t *testing.T, typ string) *block {
	t.Helper()
	if len(b.blocks[typ]) != 1 {
		t.Fatalf("block %v: %d %q blocks, want 1", b.labels, len(b.blocks[typ]), typ)
	}
	return b.blocks[typ][0]
}

func (b *block) str(t *testing.T, name string) string {
	t.Helper()
	v, ok := b.attrs[name]
	if !ok || v.Type() != cty.String {
		t.Fatalf("block %v: attribute %s is not a string", b.labels, name)
	}
	return v.AsString()
}

func (b *block) num(t *testing.T, name string) int64 {
	t.Helper()
	v, ok := b.attrs[name]
	if !ok || v.Type() != cty.Number {
		t.Fatalf("block %v: attribute %s is not a number", b.labels, name)
	}
	n, _ := v.AsBigFloat().Int64()
	return n
}

func (b *block) strings(t *testing.T, name string) []string {
	t.Helper()
	v, ok := b.attrs[name]
	if !ok || !(v.Type().IsTupleType() || v.Type().IsListType()) {
		t.Fatalf("block %v: attribute %s is not a list", b.labels, name)
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.Type() != cty.String {
			t.Fatalf("block %v: %s holds a %s", b.labels, name, e.Type().FriendlyName())
		}
		out = append(out, e.AsString())
	}
	return out
}

// task is a job's one group and its one task, with the prs command line
// it runs.
type task struct {
	group, task *block
	inv         *prscli.Invocation
	image       string
	env         map[string]string // from env and from env = true templates ("" for a template value)
}

var pinned = regexp.MustCompile(`^prs:[0-9][A-Za-z0-9._-]*-(cpu|cuda13)(@sha256:[0-9a-f]{64})?$`)

func prsTask(t *testing.T, file string) *task {
	t.Helper()
	job := load(t, file)
	g := job.one(t, "group")
	tk := g.one(t, "task")
	if d := tk.str(t, "driver"); d != "docker" {
		t.Fatalf("%s: driver %q", file, d)
	}
	cfg := tk.one(t, "config")
	out := &task{group: g, task: tk, image: cfg.str(t, "image"), env: map[string]string{}}
	if !pinned.MatchString(out.image) {
		t.Errorf("%s: image %q is not one of deploy/docker's prs images pinned by version", file, out.image)
	}
	inv, err := prscli.Parse(t, cfg.strings(t, "args"), prscli.Pending)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	out.inv = inv
	for _, e := range tk.blocks["env"] {
		for k, v := range e.attrs {
			out.env[k] = v.AsString()
		}
	}
	for _, tmpl := range tk.blocks["template"] {
		if v, ok := tmpl.attrs["env"]; ok && v.True() {
			for _, name := range envNames(tmpl.str(t, "data")) {
				out.env[name] = ""
			}
		}
	}
	return out
}

var envLine = regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_]*)=`)

func envNames(data string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		if m := envLine.FindStringSubmatch(sc.Text()); m != nil {
			out = append(out, m[1])
		}
	}
	return out
}

var awsEnv = map[string]bool{"AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true, "AWS_REGION": true}

// secretEnv are the variables that carry a credential: never written in
// an env block, only rendered from a Nomad Variable into secrets/.
var secretEnv = map[string]bool{"PRS_NATS_PASSWORD": true, "PRS_NATS_TOKEN": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true}

var files = []string{"prs-worker.nomad.hcl", "prs-exporter.nomad.hcl", "prs-submit.nomad.hcl"}

// TestEnvironment: every variable a task sets is one prs reads (or the AWS
// SDK does); credentials come from a Nomad Variable into secrets/, never
// from the file.
func TestEnvironment(t *testing.T) {
	for _, f := range files {
		tk := prsTask(t, f)
		known := prscli.Get(t, tk.inv.Command).Env
		for name := range tk.env {
			if !known[name] && !awsEnv[name] {
				t.Errorf("%s: sets %s, which prs %s does not read", f, name, tk.inv.Command)
			}
		}
		for _, e := range tk.task.blocks["env"] {
			for name := range e.attrs {
				if secretEnv[name] {
					t.Errorf("%s: %s written in the env block; render it from a Nomad Variable", f, name)
				}
			}
		}
		for _, tmpl := range tk.task.blocks["template"] {
			data, dest := tmpl.str(t, "data"), tmpl.str(t, "destination")
			for _, name := range envNames(data) {
				if secretEnv[name] && (!strings.HasPrefix(dest, "secrets/") || !strings.Contains(data, "nomadVar")) {
					t.Errorf("%s: %s goes to %s; credentials come from nomadVar into secrets/", f, name, dest)
				}
			}
		}
		if _, ok := tk.env["PRS_NATS_URL"]; !ok {
			t.Errorf("%s: no PRS_NATS_URL", f)
		}
	}
}

// TestWorker: GPU workers, scaled from 0 by the Nomad Autoscaler on the
// exporter's desired-workers metric with pass-through, killed only after
// their drain.
func TestWorker(t *testing.T) {
	w := prsTask(t, "prs-worker.nomad.hcl")
	if w.inv.Command != "worker" || !strings.HasSuffix(w.image, "-cuda13") {
		t.Fatalf("prs-worker runs prs %s on %s", w.inv.Command, w.image)
	}
	dev := w.task.one(t, "resources").blocks["device"]
	if len(dev) != 1 || dev[0].labels[0] != "nvidia/gpu" || dev[0].num(t, "count") < 1 {
		t.Errorf("the worker task wants device \"nvidia/gpu\" { count >= 1 }")
	}
	drain, err := time.ParseDuration(w.inv.Value(t, "drain-timeout"))
	if err != nil {
		t.Fatal(err)
	}
	kill, err := time.ParseDuration(w.task.str(t, "kill_timeout"))
	if err != nil || kill <= drain {
		t.Errorf("kill_timeout %v is not above --drain-timeout %s (%v)", kill, drain, err)
	}
	sc := w.group.one(t, "scaling")
	if v, ok := sc.attrs["enabled"]; ok && !v.True() {
		t.Error("scaling is disabled")
	}
	if sc.num(t, "min") != 0 || sc.num(t, "max") < 1 {
		t.Errorf("scaling min %d max %d, want min 0", sc.num(t, "min"), sc.num(t, "max"))
	}
	checks := sc.one(t, "policy").blocks["check"]
	if len(checks) != 1 {
		t.Fatalf("%d checks, want 1", len(checks))
	}
	c := checks[0]
	if c.str(t, "source") != "prometheus" || !regexp.MustCompile(`\b`+exporter.MetricDesiredWorkers+`\b`).MatchString(c.str(t, "query")) {
		t.Errorf("check: source %q query %q, want prometheus on %s", c.str(t, "source"), c.str(t, "query"), exporter.MetricDesiredWorkers)
	}
	if s := c.blocks["strategy"]; len(s) != 1 || s[0].labels[0] != "pass-through" {
		var names []string
		for _, b := range s {
			names = append(names, b.labels[0])
		}
		t.Errorf("strategy %q: only pass-through leaves a count of 0 (target-value multiplies the current count)", names)
	}

	ex := prsTask(t, "prs-exporter.nomad.hcl")
	if ex.inv.Command != "exporter" {
		t.Fatalf("prs-exporter runs prs %s", ex.inv.Command)
	}
	if got, want := ex.inv.Value(t, "slots-per-worker"), w.inv.Value(t, "slots"); got != want {
		t.Errorf("exporter --slots-per-worker %s, workers --slots %s", got, want)
	}
	if got, want := ex.inv.Value(t, "max-workers"), strconv.FormatInt(sc.num(t, "max"), 10); got != want {
		t.Errorf("exporter --max-workers %s, scaling max %s", got, want)
	}
	_, port, err := net.SplitHostPort(ex.inv.Value(t, "metrics-addr"))
	if err != nil {
		t.Fatal(err)
	}
	svc := ex.group.one(t, "service")
	found := false
	for _, p := range ex.group.one(t, "network").blocks["port"] {
		if p.labels[0] == svc.str(t, "port") && strconv.FormatInt(p.num(t, "static"), 10) == port {
			found = true
		}
	}
	if !found {
		t.Errorf("the exporter's service port %q is not the static port %s of --metrics-addr", svc.str(t, "port"), port)
	}
}

// TestSubmit: a batch job running prs submit --wait on the configuration
// and entry script its templates write, which prs's parser accepts.
func TestSubmit(t *testing.T) {
	s := prsTask(t, "prs-submit.nomad.hcl")
	job := load(t, "prs-submit.nomad.hcl")
	if job.str(t, "type") != "batch" || s.inv.Command != "submit" || s.inv.Value(t, "wait") != "true" {
		t.Fatalf("prs-submit: type %q, prs %s, --wait %s", job.str(t, "type"), s.inv.Command, s.inv.Value(t, "wait"))
	}
	rendered := map[string]string{}
	for _, tmpl := range s.task.blocks["template"] {
		rendered["/"+tmpl.str(t, "destination")] = tmpl.str(t, "data") // local/ is /local in the container
	}
	conf, ok := rendered[s.inv.Value(t, "config")]
	if !ok {
		t.Fatalf("--config %s is no template's destination", s.inv.Value(t, "config"))
	}
	cfg, warnings, err := jobconfig.Parse([]byte(conf))
	if err != nil || len(warnings) > 0 {
		t.Fatalf("the job configuration: %v %v", err, warnings)
	}
	script, ok := rendered[cfg.EntryScript]
	if !ok {
		t.Fatalf("entry_script %s is no template's destination", cfg.EntryScript)
	}
	example, err := os.ReadFile(filepath.Join(prscli.Root(), "examples", "quickstart", "score.py"))
	if err != nil {
		t.Fatal(err)
	}
	if script != string(example) {
		t.Errorf("the entry script differs from examples/quickstart/score.py")
	}
}
