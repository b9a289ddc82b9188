package jobconfig

import (
	"os"
	"strings"
	"testing"

	"github.com/parallelrun/prs/contracts"
)

// TestREADMEConfigurationTables keeps the README's tables of settings true
// to the table of contracts.Settings: every key has a row, with its range
// or valid values as the flags' help gives them, and a number's default.
func TestREADMEConfigurationTables(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	def := contracts.DefaultConfig()
	for _, s := range contracts.Settings() {
		name := strings.TrimPrefix(s.Key, "onnx.")
		row := ""
		for _, line := range strings.Split(string(b), "\n") {
			first, _, _ := strings.Cut(strings.TrimPrefix(line, "| "), " | ")
			if strings.HasPrefix(line, "| ") && strings.Contains(first, "`"+name+"`") {
				row = line
				break
			}
		}
		if row == "" {
			t.Errorf("README has no row for %s", s.Key)
			continue
		}
		if d := s.Describe(); d != "" && !strings.Contains(row, " "+d+" ") {
			t.Errorf("README's row of %s does not say %q:\n%s", s.Key, d, row)
		}
		if k := s.Kind(); k == contracts.KindInt || k == contracts.KindFloat {
			if v := s.Text(&def); v != "" && !strings.Contains(row, "`"+v+"`") {
				t.Errorf("README's row of %s does not give its default %s:\n%s", s.Key, v, row)
			}
		}
	}
}

// parallelRunConfigKeys are the parameters of the SDK's ParallelRunConfig
// and of ParallelRunStep (azureml-pipeline-steps), but the step's
// parallel_run_config, which holds the former.
var parallelRunConfigKeys = []string{
	"environment", "entry_script", "error_threshold", "output_action", "compute_target", "node_count",
	"process_count_per_node", "mini_batch_size", "source_directory", "description", "logging_level",
	"run_invocation_timeout", "run_max_try", "append_row_file_name", "allowed_failed_count",
	"allowed_failed_percent", "partition_keys", "environment_variables",
	"name", "inputs", "output", "side_inputs", "arguments", "allow_reuse",
}

// readmeTable returns the first cells of the rows of the README table
// whose header row starts with header.
func readmeTable(t *testing.T, readme, header string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(readme, "\n| "+header+" |")
	if !ok {
		t.Fatalf("README has no table %q", header)
	}
	var cells []string
	for _, line := range strings.Split(rest, "\n")[2:] {
		if !strings.HasPrefix(line, "| ") {
			break
		}
		first, _, _ := strings.Cut(strings.TrimPrefix(line, "| "), " | ")
		cells = append(cells, first)
	}
	return cells
}

// TestREADMEComingFromParallelRunStep: README's "Coming from
// ParallelRunStep" tables name every key of ParallelRunConfig and
// ParallelRunStep, and every field of a v2 parallel job that prs reads, in
// their first column; and a YAML file takes every ParallelRunConfig key,
// as a setting or ignored with a warning, but inputs (datasets), which
// names input instead.
func TestREADMEComingFromParallelRunStep(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(b), "\n## Coming from ParallelRunStep\n")
	section, _, _ = strings.Cut(section, "\n## ")
	named := func(cells []string, key string) bool {
		for _, c := range cells {
			if strings.Contains(c, "`"+key+"`") || strings.Contains(c, "`"+key+":") || strings.Contains(c, "`"+key+".") {
				return true
			}
		}
		return false
	}
	prc := readmeTable(t, section, "ParallelRunConfig / ParallelRunStep")
	settings := map[string]bool{}
	for _, s := range contracts.Settings() {
		settings[s.Key] = true
	}
	for _, k := range parallelRunConfigKeys {
		if !named(prc, k) {
			t.Errorf("README's ParallelRunConfig table has no row for %s", k)
		}
		if _, ignored := ignoredKeys[k]; !settings[k] && !ignored && k != "inputs" {
			t.Errorf("ParallelRunConfig's %s is neither a setting nor an ignored key", k)
		}
	}
	v2 := readmeTable(t, section, "v2 parallel job field")
	for k := range azureFields {
		if !named(v2, k) {
			t.Errorf("README's v2 parallel job table has no row for %s", k)
		}
	}
}
