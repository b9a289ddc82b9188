package jobconfig

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parallelrun/prs/contracts"
)

func TestFileThenFlags(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "job.yaml")
	yaml := `entry_script: score.py
input: s3://b/in
output: out
mini_batch_size: 7
error_threshold: 5
allow_reuse: false
follow_symlinks: true
arguments: ["--k", "{side_inputs.model}"]
side_inputs:
  model: s3://b/model.onnx
`
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := Register(fs)
	if err := fs.Parse([]string{"--config", p, "--error-threshold", "9", "--side-input", "labels=/tmp/l.txt", "--logging-level", "debug"}); err != nil {
		t.Fatal(err)
	}
	c, err := f.Config(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.MiniBatchSize != "7" || c.ErrorThreshold != 9 || c.AllowReuse || c.RunMaxTry != 3 || c.LoggingLevel != "DEBUG" || !c.FollowSymlinks {
		t.Fatalf("config %+v", c)
	}
	if c.SideInputs["model"] != "s3://b/model.onnx" || c.SideInputs["labels"] != "/tmp/l.txt" || len(c.Arguments) != 2 {
		t.Fatalf("side inputs %v arguments %v", c.SideInputs, c.Arguments)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownKeyAndBadFlagValuesNameTheKey(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "job.yaml")
	if err := os.WriteFile(p, []byte("mini_batch_sise: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(p); err == nil || !strings.Contains(err.Error(), "mini_batch_sise") {
		t.Fatalf("Load: %v", err)
	}
	for _, args := range [][]string{{"--run-max-try", "x"}, {"--allow-reuse", "maybe"}, {"--follow-symlinks", "often"}, {"--allowed-failed-percent", "lots"}, {"--side-input", "nameonly"}} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		f := Register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		c, err := f.Config(nil)
		if c.FollowSymlinks {
			t.Fatalf("%v: follow_symlinks set by a bad value", args)
		}
		var fe *contracts.FieldError
		if !errors.As(err, &fe) || !errors.Is(err, contracts.ErrInvalid) {
			t.Fatalf("%v: %v", args, err)
		}
	}
}

// TestEnvironmentSettings: environment_variables and
// environment_passthrough from the file, overridden and added to by flags;
// bad names are refused naming the key.
func TestEnvironmentSettings(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "job.yaml")
	yaml := "entry_script: s.py\ninput: in\noutput: out\nenvironment_variables:\n  MODEL_NAME: resnet\n  MODE: fast\nenvironment_passthrough: [HF_TOKEN]\n"
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := Register(fs)
	if err := fs.Parse([]string{"--config", p, "--environment-variable", "MODE=slow=really", "--environment-passthrough", "WANDB_*, MY_VAR"}); err != nil {
		t.Fatal(err)
	}
	c, err := f.Config(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.EnvironmentVariables["MODEL_NAME"] != "resnet" || c.EnvironmentVariables["MODE"] != "slow=really" ||
		strings.Join(c.EnvironmentPassthrough, ",") != "WANDB_*,MY_VAR" {
		t.Fatalf("environment_variables %v, environment_passthrough %v", c.EnvironmentVariables, c.EnvironmentPassthrough)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		edit func(*contracts.Config)
		key  string
	}{
		{func(c *contracts.Config) { c.EnvironmentVariables = map[string]string{"1BAD": "x"} }, "environment_variables"},
		{func(c *contracts.Config) { c.EnvironmentVariables = map[string]string{"A-B": "x"} }, "environment_variables"},
		{func(c *contracts.Config) { c.EnvironmentVariables = map[string]string{"PRS_JOB_ID": "x"} }, "environment_variables"},
		{func(c *contracts.Config) { c.EnvironmentPassthrough = []string{"A*B"} }, "environment_passthrough"},
		{func(c *contracts.Config) { c.EnvironmentPassthrough = []string{""} }, "environment_passthrough"},
	} {
		bad := c
		tc.edit(&bad)
		var fe *contracts.FieldError
		if err := bad.Validate(); !errors.As(err, &fe) || fe.Field != tc.key {
			t.Errorf("%+v / %v: %v, want an error naming %s", bad.EnvironmentVariables, bad.EnvironmentPassthrough, err, tc.key)
		}
	}
	fs = flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f = Register(fs)
	if err := fs.Parse([]string{"--environment-variable", "NOVALUE"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Config(nil); !errors.Is(err, contracts.ErrInvalid) || !strings.Contains(err.Error(), "environment_variables") {
		t.Errorf("--environment-variable NOVALUE: %v", err)
	}
}
