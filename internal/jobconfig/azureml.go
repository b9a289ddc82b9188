package jobconfig

import (
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/parallelrun/prs/contracts"
)

// azureField says what prs does with one field of an Azure ML v2 parallel
// job: give its value to a prs setting, or warn that it does not apply, or
// keep it for the second pass (inputs, outputs and what names them).
type azureField struct {
	key    string // the prs setting that takes the value as it is
	path   bool   // the value is a path, relative to the YAML's folder
	ignore string // why the field does not apply (also when key is no setting)
	keep   bool   // read in the second pass
}

// azureFields are the fields of a v2 parallel job (the CLI v2 "parallel job
// YAML schema"), dotted under resources, retry_settings and task.
var azureFields = map[string]azureField{
	"$schema":                      {ignore: "prs checks the keys itself"},
	"type":                         {keep: true},
	"name":                         {ignore: "prs names the job with --job-id"},
	"display_name":                 {ignore: "prs names the job with --job-id"},
	"experiment_name":              {ignore: "prs has no experiments"},
	"description":                  {ignore: "prs keeps no description"},
	"tags":                         {ignore: "prs keeps no tags"},
	"compute":                      {ignore: "the workers are the machines that run prs worker (prs run: this one)"},
	"identity":                     {ignore: "storage credentials come from the standard AWS chain"},
	"environment_variables":        {key: "environment_variables"},
	"inputs":                       {keep: true},
	"outputs":                      {keep: true},
	"input_data":                   {keep: true},
	"mini_batch_size":              {key: "mini_batch_size"},
	"partition_keys":               {key: "partition_keys"},
	"mini_batch_error_threshold":   {key: "allowed_failed_count"},
	"error_threshold":              {key: "error_threshold"},
	"logging_level":                {key: "logging_level"},
	"max_concurrency_per_instance": {key: "process_count_per_node"},
	"resources.instance_count":     {key: "node_count"},
	"resources.instance_type":      {ignore: "the workers are the machines that run prs worker"},
	"resources.shm_size":           {ignore: "the workers are the machines that run prs worker"},
	"resources.properties":         {ignore: "the workers are the machines that run prs worker"},
	"resources.docker_args":        {ignore: "the workers are the machines that run prs worker"},
	"resources.locations":          {ignore: "the workers are the machines that run prs worker"},
	"retry_settings.max_retries":   {keep: true},
	"retry_settings.timeout":       {key: "run_invocation_timeout"},
	"task.type":                    {keep: true},
	"task.code":                    {key: "source_directory", path: true},
	"task.entry_script":            {key: "entry_script"},
	"task.environment":             {ignore: "prs runs the entry script with interpreter (default python3) on each worker: install the script's packages there"},
	"task.program_arguments":       {keep: true},
	"task.args":                    {keep: true},
	"task.append_row_to":           {keep: true},
}

var azureSections = map[string]bool{"resources": true, "retry_settings": true, "task": true}

// azureJob is a v2 parallel job on its way to a Config.
type azureJob struct {
	c    *contracts.Config
	d    *decoded
	dir  string
	kept map[string]*yaml.Node
	seen map[string]bool // every field given
	// data are the inputs with a path, by name; literals the others' values.
	data     map[string]*azureData
	names    []string
	literals map[string]string
	// dataName is input_data's input; output the output append_row_to names
	// (or the only one), and its kind.
	dataName, outName string
	outFile           bool
}

// azureData is one input or output with a path.
type azureData struct {
	typ, path string
	usable    bool // a local path or an s3:// URI, not an Azure ML one
}

// decodeAzureML maps a v2 parallel job onto c, warning for each field that
// does not apply; paths that prs cannot read (azureml:, https:, a pipeline
// binding) must then come from flags, which finish checks.
func decodeAzureML(root *yaml.Node, dir string, c *contracts.Config, d *decoded) error {
	j := &azureJob{c: c, d: d, dir: dir, kept: map[string]*yaml.Node{}, seen: map[string]bool{},
		data: map[string]*azureData{}, literals: map[string]string{}}
	if t := lookup(root, "type"); t.Value != "parallel" {
		hint := ""
		if t.Value == "pipeline" {
			hint = ": give the parallel step (jobs.NAME) as a YAML file of its own"
		}
		return lineErr(t, bad("type", "prs reads ParallelRunConfig's keys or an Azure ML parallel job (type: parallel), got type %q%s", t.Value, hint))
	}
	if err := j.walk(root, ""); err != nil {
		return err
	}
	if t := j.kept["task.type"]; t != nil && t.Value != "run_function" && t.Value != "function" {
		return lineErr(t, bad("task.type", "prs runs an entry script's init() and run() (run_function), got %q", t.Value))
	}
	for _, step := range []func() error{j.retries, j.inputs, j.inputData, j.outputs, j.arguments} {
		if err := step(); err != nil {
			return err
		}
	}
	if !j.seen["mini_batch_size"] && !c.Tabular() {
		c.MiniBatchSize = "1" // the v2 default: one file per mini-batch
	}
	return nil
}

// walk reads the fields of a mapping under prefix: settings at once, the
// rest kept for the second pass.
func (j *azureJob) walk(m *yaml.Node, prefix string) error {
	if m.Kind != yaml.MappingNode {
		return lineErr(m, bad(strings.TrimSuffix(prefix, "."), "must be a mapping of keys to values"))
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := deref(m.Content[i]), deref(m.Content[i+1])
		key := prefix + k.Value
		if j.seen[key] {
			return lineErr(k, bad(key, "given twice"))
		}
		j.seen[key] = true
		f, ok := azureFields[key]
		switch {
		case !ok && azureSections[key]:
			if !isNull(v) {
				if err := j.walk(v, key+"."); err != nil {
					return err
				}
			}
		case !ok:
			return lineErr(k, unknownKey(key, prefix, azureKnown(prefix)))
		case f.keep:
			j.kept[key] = v
		default:
			if err := j.set(key, f, v); err != nil {
				return lineErr(v, err)
			}
		}
	}
	return nil
}

// set gives a field's value to its prs setting, or warns that it does not
// apply; a bad value is reported under the field's own name.
func (j *azureJob) set(key string, f azureField, v *yaml.Node) error {
	s, ok := contracts.LookupSetting(f.key)
	if !ok {
		j.d.warn(key, "does not apply: %s", f.ignore)
		return nil
	}
	if f.path && v.Kind == yaml.ScalarNode && !isNull(v) {
		v = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: j.path(v.Value), Line: v.Line}
	}
	s.Key = key
	return setNode(&s, j.c, v)
}

// retries maps retry_settings.max_retries (retries after the first try) to
// run_max_try (tries).
func (j *azureJob) retries() error {
	v := j.kept["retry_settings.max_retries"]
	if v == nil || isNull(v) {
		return nil
	}
	s, _ := contracts.LookupSetting("run_max_try")
	s.Key, s.Min, s.Max = "retry_settings.max_retries", 0, contracts.MaxRunMaxTry-1
	if err := setNode(&s, j.c, v); err != nil {
		return lineErr(v, err)
	}
	j.c.RunMaxTry++
	return nil
}

// path resolves a local path against the YAML's folder, as Azure ML does.
func (j *azureJob) path(p string) string {
	if strings.Contains(p, "://") || strings.Contains(p, "${{") || filepath.IsAbs(p) || strings.HasPrefix(p, "azureml:") {
		return p
	}
	return filepath.Join(j.dir, p)
}

// usable reports whether prs can read a path: a local one or an s3:// URI.
func usable(p string) bool {
	if p == "" || strings.Contains(p, "${{") || strings.HasPrefix(p, "azureml:") {
		return false
	}
	scheme, _, ok := strings.Cut(p, "://")
	return !ok || scheme == "s3" || scheme == "file"
}

// azureKnown are the fields right under prefix, for suggestions.
func azureKnown(prefix string) []string {
	var keys []string
	for k := range azureFields {
		if rest, ok := strings.CutPrefix(k, prefix); ok && !strings.Contains(rest, ".") {
			keys = append(keys, rest)
		}
	}
	if prefix == "" {
		for k := range azureSections {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// dataFields are the fields of an input or output with a path.
var dataFields = []string{"type", "path", "mode", "description", "optional", "default"}

// readData reads an input or output: a mapping with a type and a path, or
// a binding such as ${{parent.inputs.x}} (unusable), or nothing.
func (j *azureJob) readData(kind, name string, v *yaml.Node) (*azureData, error) {
	key := kind + "." + name
	a := &azureData{typ: "uri_folder"}
	switch {
	case isNull(v):
	case v.Kind == yaml.ScalarNode:
		a.path = v.Value
	case v.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, f := deref(v.Content[i]), deref(v.Content[i+1])
			switch k.Value {
			case "type":
				a.typ = f.Value
			case "path":
				a.path = j.path(f.Value)
			case "mode":
				j.d.warn(key+".mode", "does not apply: prs reads a mini-batch's objects itself and writes the output itself")
			case "description", "optional", "default":
				j.d.warn(key+"."+k.Value, "does not apply: prs keeps no %s", k.Value)
			default:
				return nil, lineErr(k, unknownKey(key+"."+k.Value, key+".", dataFields))
			}
		}
	default:
		return nil, lineErr(v, bad(key, "must be a mapping with type and path"))
	}
	a.usable = usable(a.path)
	return a, nil
}

// inputs reads inputs: data inputs by name, literal values for arguments.
func (j *azureJob) inputs() error {
	m := j.kept["inputs"]
	if m == nil || isNull(m) {
		return nil
	}
	if m.Kind != yaml.MappingNode {
		return lineErr(m, bad("inputs", "must be a mapping of NAME: input"))
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		name, v := deref(m.Content[i]).Value, deref(m.Content[i+1])
		if v.Kind == yaml.ScalarNode && !isNull(v) && !strings.Contains(v.Value, "${{") {
			j.literals[name] = v.Value
			continue
		}
		a, err := j.readData("inputs", name, v)
		if err != nil {
			return err
		}
		j.data[name] = a
		j.names = append(j.names, name)
	}
	return nil
}
