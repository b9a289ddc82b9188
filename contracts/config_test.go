package contracts

import (
	"errors"
	"testing"
)

func TestDefaultsAndValidation(t *testing.T) {
	t.Parallel()
	base := DefaultConfig()
	base.EntryScript, base.Input, base.Output = "s.py", "in", "out"
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	if n, _ := base.FilesPerBatch(); n != 10 {
		t.Fatalf("default mini_batch_size %d", n)
	}
	for field, mutate := range map[string]func(*Config){
		"input":                  func(c *Config) { c.Input = "" },
		"mini_batch_size":        func(c *Config) { c.MiniBatchSize = "0" },
		"error_threshold":        func(c *Config) { c.ErrorThreshold = -2 },
		"allowed_failed_count":   func(c *Config) { c.AllowedFailedCount = -5 },
		"allowed_failed_percent": func(c *Config) { c.AllowedFailedPercent = 101 },
		"output_action":          func(c *Config) { c.OutputAction = "x" },
		"append_row_file_name":   func(c *Config) { c.AppendRowFileName = "a/b" },
		"run_invocation_timeout": func(c *Config) { c.RunInvocationTimeout = 0 },
		"run_max_try":            func(c *Config) { c.RunMaxTry = 0 },
		"process_count_per_node": func(c *Config) { c.ProcessCountPerNode = 0 },
		"logging_level":          func(c *Config) { c.LoggingLevel = "LOUD" },
		"entry_script":           func(c *Config) { c.EntryScript = "" },
		"include":                func(c *Config) { c.Include = []string{"["} },
		"side_inputs":            func(c *Config) { c.SideInputs = map[string]string{"a b": "x"} },
	} {
		c := base
		mutate(&c)
		err := c.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v", field, err)
		}
	}
}

func TestIncluded(t *testing.T) {
	t.Parallel()
	c := Config{Include: []string{"*.png", "2024/*/*.json"}}
	for key, want := range map[string]bool{"a.png": true, "x/y/a.png": true, "2024/01/a.json": true, "2025/01/a.json": false, "a.txt": false} {
		if got := c.Included(key); got != want {
			t.Errorf("%s: %v", key, got)
		}
	}
	if !(&Config{}).Included("anything") {
		t.Error("no include must include everything")
	}
}

func TestJobIDs(t *testing.T) {
	t.Parallel()
	if ValidateJobID("job-2026_1") != nil || ValidateJobID("a.b") == nil || ValidateJobID("") == nil {
		t.Fatal("job id validation")
	}
}
