package jobconfig

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parallelrun/prs/contracts"
)

// mnistJob is the parallel step of Azure ML's mnist-batch-identification
// example (cli/jobs/parallel/3a_mnist_batch_identification), as its own
// file, with a local data path.
const mnistJob = `$schema: https://azuremlschemas.azureedge.net/latest/parallelJob.schema.json
type: parallel
compute: azureml:cpu-cluster
inputs:
  job_data_path:
    type: uri_folder
    path: ./mnist_png
    mode: ro_mount
  score_model:
    type: uri_folder
    path: ./mnist_models
    mode: download
outputs:
  job_output_file:
    type: uri_file
    path: azureml://datastores/${{default_datastore}}/paths/${{name}}/aggregated_returns.csv
    mode: rw_mount

mini_batch_size: "5"
resources:
  instance_count: 2
mini_batch_error_threshold: 5
logging_level: "DEBUG"
input_data: ${{inputs.job_data_path}}
max_concurrency_per_instance: 2
retry_settings:
  max_retries: 2
  timeout: 60

environment_variables:
  "AZUREML_PARALLEL_EXAMPLE": "3a_yaml"

task:
  type: run_function
  code: ./script
  entry_script: digit_identification.py
  environment:
    image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04
    conda_file: ./script/environment_parallel.yml
  program_arguments: >-
    --model ${{inputs.score_model}}
  append_row_to: ${{outputs.job_output_file}}
`

// irisJob is the iris example's parallel step (2a_iris_batch_prediction):
// an mltable input, predefined arguments, a uri_file output given locally.
const irisJob = `type: parallel
inputs:
  input_data:
    type: mltable
    path: ./neural-iris-mltable
    mode: direct
  score_model:
    type: uri_folder
    path: s3://models/iris-model
    mode: download
  threshold: 0.5
outputs:
  job_output_file:
    type: uri_file
    path: ./out/aggregated_returns.csv
    mode: rw_mount
input_data: ${{inputs.input_data}}
mini_batch_size: "10kb"
resources:
    instance_count: 2
max_concurrency_per_instance: 2
logging_level: "DEBUG"
error_threshold: 5
mini_batch_error_threshold: 5
retry_settings:
  max_retries: 0
  timeout: 600
task:
  type: run_function
  code: "./script"
  entry_script: iris_prediction.py
  environment: azureml:prs-env:1
  program_arguments: >-
    --model ${{inputs.score_model}}
    --threshold=${{inputs.threshold}}
    --allowed_failed_percent 30
    --task_overhead_timeout 1200
    --progress_update_timeout=600
    --first_task_creation_timeout 600
    --resource_monitor_interval 20
    --data "${{inputs.input_data}}" --out '${{outputs.job_output_file}}'
  append_row_to: ${{outputs.job_output_file}}
`

func writeJob(t *testing.T, body string) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "parallel.yml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

func loadWithFlags(t *testing.T, path string, args ...string) (contracts.Config, []string, error) {
	t.Helper()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := Register(fs)
	if err := fs.Parse(append([]string{"--config", path}, args...)); err != nil {
		t.Fatal(err)
	}
	c, err := f.Config(nil)
	return c, f.Warnings(), err
}

func TestAzureMLFileJob(t *testing.T) {
	t.Parallel()
	dir, path := writeJob(t, mnistJob)
	// The output is an Azure ML datastore: prs needs it from a flag.
	_, _, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), "outputs.job_output_file") || !strings.Contains(err.Error(), "--output") {
		t.Fatalf("an azureml:// output without --output: %v", err)
	}
	out := filepath.Join(dir, "results")
	c, warnings, err := loadWithFlags(t, path, "--output", out)
	if err != nil {
		t.Fatal(err)
	}
	want := contracts.DefaultConfig()
	want.Input, want.Output, want.AppendRowFileName = filepath.Join(dir, "mnist_png"), out, "aggregated_returns.csv"
	want.SideInputs = map[string]string{"score_model": filepath.Join(dir, "mnist_models")}
	want.MiniBatchSize, want.NodeCount, want.AllowedFailedCount, want.LoggingLevel = "5", 2, 5, "DEBUG"
	want.ProcessCountPerNode, want.RunMaxTry, want.RunInvocationTimeout = 2, 3, 60
	want.SourceDirectory, want.EntryScript = filepath.Join(dir, "script"), "digit_identification.py"
	want.Arguments = []string{"--model", "{side_inputs.score_model}"}
	want.EnvironmentVariables = map[string]string{"AZUREML_PARALLEL_EXAMPLE": "3a_yaml"}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("mapped to\n%+v\nwant\n%+v", c, want)
	}
	for _, field := range []string{"$schema", "compute", "task.environment", "inputs.job_data_path.mode", "inputs.score_model.mode", "outputs.job_output_file.mode"} {
		if n := countPrefix(warnings, field+": does not apply"); n != 1 {
			t.Errorf("%d warnings for %s in %q", n, field, warnings)
		}
	}
	if len(warnings) != 6 {
		t.Errorf("warnings: %q", warnings)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestAzureMLTabularJob(t *testing.T) {
	t.Parallel()
	dir, path := writeJob(t, irisJob)
	c, warnings, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Input != filepath.Join(dir, "neural-iris-mltable") || c.InputFormat != "auto" || !c.Included("iris.csv") || c.Included("MLTable") {
		t.Errorf("mltable input: %q %q %v", c.Input, c.InputFormat, c.Include)
	}
	if c.Output != filepath.Join(dir, "out") || c.AppendRowFileName != "aggregated_returns.csv" || c.OutputAction != contracts.OutputAppendRow {
		t.Errorf("output %q %q %q", c.Output, c.AppendRowFileName, c.OutputAction)
	}
	if c.MiniBatchSize != "10kb" || c.ErrorThreshold != 5 || c.AllowedFailedCount != 5 || c.AllowedFailedPercent != 30 ||
		c.ResourceMonitorInterval != 20 || c.RunMaxTry != 1 || c.RunInvocationTimeout != 600 {
		t.Errorf("settings: %+v", c)
	}
	wantArgs := []string{"--model", "{side_inputs.score_model}", "--threshold=0.5", "--data", c.Input, "--out", filepath.Join(dir, "out") + "/aggregated_returns.csv"}
	if strings.Join(c.Arguments, " ") != strings.Join(wantArgs, " ") {
		t.Errorf("arguments %q, want %q", c.Arguments, wantArgs)
	}
	if c.SideInputs["score_model"] != "s3://models/iris-model" {
		t.Errorf("side inputs %v", c.SideInputs)
	}
	for _, field := range []string{"task.program_arguments --task_overhead_timeout", "task.program_arguments --progress_update_timeout",
		"task.program_arguments --first_task_creation_timeout", "inputs.input_data.type", "task.environment"} {
		if countPrefix(warnings, field+":") != 1 {
			t.Errorf("no warning for %s in %q", field, warnings)
		}
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	// Flags override the YAML, and the arguments follow the new places.
	c, _, err = loadWithFlags(t, path, "--input", "s3://data/iris", "--output", "s3://out/iris")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Arguments[4:], " "); got != "s3://data/iris --out s3://out/iris/aggregated_returns.csv" {
		t.Errorf("arguments after flags: %q", got)
	}
}

// TestAzureMLMappings covers each field's mapping and refusal on small
// jobs.
func TestAzureMLMappings(t *testing.T) {
	t.Parallel()
	const base = "type: parallel\ninputs: {d: {path: /data}}\ninput_data: ${{inputs.d}}\noutputs: {o: {path: /out}}\n"
	for _, tc := range []struct {
		name, yaml string
		check      func(c contracts.Config) bool
		want       string // in the error
	}{
		{name: "defaults", yaml: base, check: func(c contracts.Config) bool {
			return c.Input == "/data" && c.Output == "/out" && c.OutputAction == contracts.OutputSummaryOnly && c.MiniBatchSize == "1" && c.RunMaxTry == 3
		}},
		{name: "max_retries is retries", yaml: base + "retry_settings: {max_retries: 5}\n", check: func(c contracts.Config) bool { return c.RunMaxTry == 6 }},
		{name: "max_retries too large", yaml: base + "retry_settings: {max_retries: 100}\n", want: "retry_settings.max_retries: invalid configuration: 100 is too large, at most 99"},
		{name: "max_retries negative", yaml: base + "retry_settings: {max_retries: -1}\n", want: "retry_settings.max_retries: invalid configuration: -1 is too small, at least 0"},
		{name: "timeout overflow", yaml: base + "retry_settings: {timeout: 9223372036854775807}\n", want: "retry_settings.timeout: invalid configuration: 9223372036854775807 is too large, at most 259200 seconds"},
		{name: "instance_count", yaml: base + "resources: {instance_count: 0}\n", want: "resources.instance_count: invalid configuration: 0 is too small, at least 1"},
		{name: "concurrency", yaml: base + "max_concurrency_per_instance: 5000\n", want: "max_concurrency_per_instance: invalid configuration: 5000 is too large, at most 1024"},
		{name: "logging level", yaml: base + "logging_level: verbose\n", want: "logging_level: invalid configuration: must be one of DEBUG, INFO, WARNING"},
		{name: "partition keys", yaml: base + "partition_keys: [user]\n", check: func(c contracts.Config) bool { return c.PartitionKeys[0] == "user" }},
		{name: "pipeline", yaml: "type: pipeline\njobs: {}\n", want: "give the parallel step (jobs.NAME) as a YAML file of its own"},
		{name: "command", yaml: "type: command\n", want: `got type "command"`},
		{name: "task type", yaml: "type: parallel\ntask: {type: command}\n", want: "prs runs an entry script's init() and run() (run_function)"},
		{name: "a field twice", yaml: base + "mini_batch_size: 2\nmini_batch_size: 3\n", want: "mini_batch_size: invalid configuration: given twice"},
		{name: "unknown field", yaml: base + "mini_batch_sise: 3\n", want: "mini_batch_sise: invalid configuration: unknown key (did you mean mini_batch_size?)"},
		{name: "unknown task field", yaml: "type: parallel\ntask: {entry_scrpt: s.py}\n", want: "did you mean task.entry_script?"},
		{name: "prs key in a v2 job", yaml: base + "handler: onnx\n", want: "handler: invalid configuration: unknown key"},
		{name: "input_data not an input", yaml: "type: parallel\ninputs: {d: {path: /x}}\ninput_data: ${{inputs.e}}\n", want: "names inputs.e, which is not a data input"},
		{name: "input_data not a reference", yaml: "type: parallel\ninput_data: /data\n", want: "must name one of the inputs"},
		{name: "no input_data", yaml: "type: parallel\noutputs: {o: {path: /out}}\n", want: "input_data: invalid configuration: is required"},
		{name: "append_row_to unknown", yaml: base + "task: {append_row_to: '${{outputs.x}}'}\n", want: "task.append_row_to"},
		{name: "unresolvable argument", yaml: base + "task: {program_arguments: '--run ${{name}}'}\n", want: "holds an Azure ML expression that prs cannot resolve"},
		{name: "unclosed quote", yaml: base + "task: {program_arguments: \"--a 'b\"}\n", want: "quote is never closed"},
		{name: "predefined without value", yaml: base + "task: {program_arguments: '--error_threshold'}\n", want: "--error_threshold needs a value"},
		{name: "predefined out of range", yaml: base + "task: {program_arguments: '--allowed_failed_percent 130'}\n", want: "130 is too large, at most 100"},
		{name: "azureml input", yaml: "type: parallel\ninputs: {d: {path: 'azureml:cifar:1'}}\ninput_data: ${{inputs.d}}\noutputs: {o: {path: /o}}\n", want: "inputs.d: invalid configuration: path \"azureml:cifar:1\" is not a local path or an s3:// URI: give the input with --input"},
	} {
		c, _, err := Parse([]byte(tc.yaml))
		switch {
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, contracts.ErrInvalid)):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want == "" && !tc.check(c):
			t.Errorf("%s: %+v", tc.name, c)
		}
	}
	// A side input that Azure ML would bind, given by flag.
	_, path := writeJob(t, "type: parallel\ninputs: {d: {path: /data}, m: '${{parent.inputs.model}}'}\ninput_data: ${{inputs.d}}\noutputs: {o: {path: /out}}\n")
	if _, _, err := loadWithFlags(t, path); err == nil || !strings.Contains(err.Error(), "--side-input m=PATH") {
		t.Errorf("an unbound side input: %v", err)
	}
	if c, _, err := loadWithFlags(t, path, "--side-input", "m=/models/m"); err != nil || c.SideInputs["m"] != "/models/m" {
		t.Errorf("a side input by flag: %v %v", err, c.SideInputs)
	}
}

func countPrefix(list []string, prefix string) int {
	n := 0
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}
