package jobconfig

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/parallelrun/prs/contracts"
)

// reference reads "${{inputs.NAME}}" (kind "inputs") and returns NAME.
func reference(s, kind string) (string, bool) {
	m := expr.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil || m[0] != strings.TrimSpace(s) || m[1] != kind {
		return "", false
	}
	return m[2], true
}

// expr is an Azure ML expression naming an input or an output.
var expr = regexp.MustCompile(`\$\{\{\s*(inputs|outputs)\.([A-Za-z0-9_.-]+)\s*\}\}`)

// needs makes finish refuse a setting that is still what the YAML gave
// (a path prs cannot read, or nothing) once the flags are applied.
func (j *azureJob) needs(get func(*contracts.Config) string, old, field, format string, args ...any) {
	j.d.after = append(j.d.after, func(c *contracts.Config) error {
		if get(c) == old {
			return bad(field, format, args...)
		}
		return nil
	})
}

// inputData makes input_data's input the job's input, and every other data
// input a side input of the same name.
func (j *azureJob) inputData() error {
	v := j.kept["input_data"]
	if v == nil || isNull(v) {
		j.needs(func(c *contracts.Config) string { return c.Input }, "", "input_data",
			"is required: name the input to split, input_data: ${{inputs.NAME}}, or give --input")
	} else {
		name, ok := reference(v.Value, "inputs")
		if !ok {
			return lineErr(v, bad("input_data", "must name one of the inputs, ${{inputs.NAME}}, got %q", v.Value))
		}
		a := j.data[name]
		if a == nil {
			return lineErr(v, bad("input_data", "names inputs.%s, which is not a data input (inputs with a path: %s)", name, strings.Join(j.names, ", ")))
		}
		j.dataName, j.c.Input = name, a.path
		if a.typ == "mltable" {
			j.c.InputFormat, j.c.Include = contracts.InputFormatAuto, contracts.TablePatterns()
			j.d.warn("inputs."+name+".type", "mltable: prs reads the folder's .csv, .jsonl and .parquet files (input_format auto); the MLTable file's transformations are not applied")
		}
		if !a.usable {
			j.needs(func(c *contracts.Config) string { return c.Input }, a.path, "inputs."+name,
				"path %q is not a local path or an s3:// URI: give the input with --input", a.path)
		}
	}
	for _, name := range j.names {
		if name == j.dataName {
			continue
		}
		a := j.data[name]
		if j.c.SideInputs == nil {
			j.c.SideInputs = map[string]string{}
		}
		j.c.SideInputs[name] = a.path
		if !a.usable {
			j.needs(func(c *contracts.Config) string { return c.SideInputs[name] }, a.path, "inputs."+name,
				"path %q is not a local path or an s3:// URI: give it with --side-input %s=PATH", a.path, name)
		}
	}
	return nil
}

// outputs makes the output that task.append_row_to names (or the only one)
// the job's output; a uri_file output names the final file too. Without
// append_row_to the job is summary_only, as in Azure ML.
func (j *azureJob) outputs() error {
	outs := map[string]*azureData{}
	var names []string
	if m := j.kept["outputs"]; m != nil && !isNull(m) {
		if m.Kind != yaml.MappingNode {
			return lineErr(m, bad("outputs", "must be a mapping of NAME: output"))
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			name := deref(m.Content[i]).Value
			a, err := j.readData("outputs", name, deref(m.Content[i+1]))
			if err != nil {
				return err
			}
			outs[name], names = a, append(names, name)
		}
	}
	j.c.OutputAction = contracts.OutputSummaryOnly
	if v := j.kept["task.append_row_to"]; v != nil && !isNull(v) {
		name, ok := reference(v.Value, "outputs")
		if !ok || outs[name] == nil {
			return lineErr(v, bad("task.append_row_to", "must name one of the outputs, ${{outputs.NAME}} (outputs: %s), got %q", strings.Join(names, ", "), v.Value))
		}
		j.outName, j.c.OutputAction = name, contracts.OutputAppendRow
	} else if len(names) == 1 {
		j.outName = names[0]
	}
	for _, name := range names {
		if name != j.outName {
			j.d.warn("outputs."+name, "does not apply: prs writes one output, the one task.append_row_to names")
		}
	}
	if j.outName == "" {
		j.needs(func(c *contracts.Config) string { return c.Output }, "", "outputs",
			"name no output for prs to write: give --output")
		return nil
	}
	a := outs[j.outName]
	p := a.path
	if a.typ == "uri_file" {
		j.outFile = true
		if base := filepath.Base(p); p != "" && !strings.Contains(base, "${{") {
			j.c.AppendRowFileName = base
		}
		p = parentOf(p)
	}
	j.c.Output = p
	if !a.usable {
		j.needs(func(c *contracts.Config) string { return c.Output }, p, "outputs."+j.outName,
			"path %q is not a local path or an s3:// URI: give the output folder with --output", a.path)
	}
	return nil
}

// parentOf is the folder of a file's path or URI.
func parentOf(p string) string {
	if i := strings.LastIndex(p, "/"); i > 0 && !strings.HasSuffix(p[:i], ":/") {
		return p[:i]
	}
	return filepath.Dir(p)
}

// predefinedArgs are the arguments that Azure ML's parallel runtime reads
// from program_arguments itself: prs takes them out of the script's
// arguments and maps them, or warns that they do not apply.
var predefinedArgs = map[string]azureField{
	"error_threshold":             {key: "error_threshold"},
	"allowed_failed_percent":      {key: "allowed_failed_percent"},
	"resource_monitor_interval":   {key: "resource_monitor_interval"},
	"task_overhead_timeout":       {ignore: "run_invocation_timeout bounds each run() call"},
	"progress_update_timeout":     {ignore: "a worker's heartbeat (--ack-wait) tells a stalled mini-batch"},
	"first_task_creation_timeout": {ignore: "prs has no limit on the time before the first mini-batch"},
	"copy_logs_to_parent":         {ignore: "the logs are under the output's logs/ folder"},
	"metrics_name_prefix":         {ignore: "prs serves Prometheus metrics with --metrics-addr"},
	"push_metrics_to_parent":      {ignore: "prs serves Prometheus metrics with --metrics-addr"},
}

// arguments maps task.program_arguments (a string of arguments) to the
// script's arguments: Azure ML's own arguments become settings, inputs
// become their values or side inputs' paths; the input and the output are
// filled in once the flags are known.
func (j *azureJob) arguments() error {
	v, field := j.kept["task.program_arguments"], "task.program_arguments"
	if a := j.kept["task.args"]; a != nil {
		if v != nil {
			return lineErr(a, bad("task.args", "give program_arguments or args, not both"))
		}
		v, field = a, "task.args"
	}
	if v == nil || isNull(v) {
		return nil
	}
	if v.Kind != yaml.ScalarNode {
		return lineErr(v, bad(field, "must be a string of arguments"))
	}
	words, err := splitArgs(v.Value)
	if err != nil {
		return lineErr(v, bad(field, "%v", err))
	}
	var args []string
	for i := 0; i < len(words); i++ {
		name, val, hasVal := strings.Cut(strings.TrimPrefix(words[i], "--"), "=")
		f, ok := predefinedArgs[name]
		if !ok || !strings.HasPrefix(words[i], "--") {
			args = append(args, j.substitute(words[i]))
			continue
		}
		if !hasVal {
			if i+1 == len(words) {
				return lineErr(v, bad(field, "--%s needs a value", name))
			}
			i++
			val = words[i]
		}
		if err := j.set(field+" --"+name, f, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: val}); err != nil {
			return lineErr(v, err)
		}
	}
	j.c.Arguments = args
	j.d.after = append(j.d.after, j.lateArguments)
	return nil
}

// substitute replaces the expressions whose values are known now: a
// literal input's value, a side input's local path ({side_inputs.NAME}).
func (j *azureJob) substitute(w string) string {
	return expr.ReplaceAllStringFunc(w, func(e string) string {
		m := expr.FindStringSubmatch(e)
		if m[1] != "inputs" {
			return e
		}
		if v, ok := j.literals[m[2]]; ok {
			return v
		}
		if _, ok := j.data[m[2]]; ok && m[2] != j.dataName {
			return "{side_inputs." + m[2] + "}"
		}
		return e
	})
}

// lateArguments fills in the input and the output once the flags are
// known, and refuses an expression that prs cannot resolve.
func (j *azureJob) lateArguments(c *contracts.Config) error {
	for i, w := range c.Arguments {
		w = expr.ReplaceAllStringFunc(w, func(e string) string {
			m := expr.FindStringSubmatch(e)
			switch {
			case m[1] == "inputs" && m[2] == j.dataName:
				return c.Input
			case m[1] == "outputs" && m[2] == j.outName && j.outFile:
				return strings.TrimSuffix(c.Output, "/") + "/" + c.AppendRowFileName
			case m[1] == "outputs" && m[2] == j.outName:
				return c.Output
			}
			return e
		})
		if strings.Contains(w, "${{") {
			return bad("task.program_arguments", "%q holds an Azure ML expression that prs cannot resolve: give the script's arguments after --", w)
		}
		c.Arguments[i] = w
	}
	return nil
}

// splitArgs splits a string of arguments as a POSIX shell would, quotes
// and backslashes included (no expansions).
func splitArgs(s string) ([]string, error) {
	var (
		args  []string
		cur   strings.Builder
		in    bool // inside a word
		quote rune
	)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch {
			case r == '"':
				quote = 0
			case r == '\\' && i+1 < len(rs) && strings.ContainsRune(`"\$`+"`", rs[i+1]):
				i++
				cur.WriteRune(rs[i])
			default:
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == '\\' && i+1 < len(rs):
			i++
			cur.WriteRune(rs[i])
			in = true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if in {
				args, in = append(args, cur.String()), false
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("a %c quote is never closed", quote)
	}
	if in {
		args = append(args, cur.String())
	}
	return args, nil
}
