package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parallelrun/prs/internal/pandastest"
)

// barrierScript's run() records its worker process (its parent) and waits
// until two worker processes have each started a mini-batch, so that a job
// ends only when two processes really ran at once; with --hang it waits
// for ever instead (until its worker is gone).
const barrierScript = `import argparse, os, time

def init():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--state")
    p.add_argument("--hang", action="store_true")
    args, _ = p.parse_known_args()

def run(mini_batch):
    worker = os.getppid()
    open(os.path.join(args.state, "worker-%d" % worker), "w").close()
    while args.hang:
        if os.getppid() != worker:
            os._exit(0)
        time.sleep(0.1)
    deadline = time.time() + 60
    while len([f for f in os.listdir(args.state) if f.startswith("worker-")]) < 2:
        if time.time() > deadline:
            raise RuntimeError("one worker process ran every mini-batch")
        time.sleep(0.05)
    return [os.path.basename(p) for p in mini_batch]
`

// workerPIDs are the worker processes that barrierScript saw.
func workerPIDs(t *testing.T, state string) []int {
	t.Helper()
	entries, err := os.ReadDir(state)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		if n, ok := strings.CutPrefix(e.Name(), "worker-"); ok {
			pid, _ := strconv.Atoi(n)
			pids = append(pids, pid)
		}
	}
	return pids
}

func localFiles(t *testing.T, n int) string {
	t.Helper()
	in := t.TempDir()
	for i := 0; i < n; i++ {
		writeFile(t, in, fmt.Sprintf("f%02d.txt", i), []byte(fmt.Sprint(i)))
	}
	return in
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// TestConfigNodeCountStartsWorkerProcesses: node_count 2 in prs run is two
// worker processes, each with process_count_per_node slots, gone when prs
// run ends.
func TestConfigNodeCountStartsWorkerProcesses(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	script := writeFile(t, dir, "barrier.py", []byte(barrierScript))
	state := mkdir(t, filepath.Join(dir, "state"))
	out := filepath.Join(dir, "out")
	stdout, stderr, code := h.prs(3*time.Minute, "run", "--input", localFiles(t, 4), "--output", out, "--entry-script", script,
		"--mini-batch-size", "1", "--node-count", "2", "--process-count-per-node", "1", "--allow-reuse", "false", "--", "--state", state)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, tail(stderr, 4000))
	}
	if !strings.Contains(stderr, "started local worker processes") || !strings.Contains(stdout, "items: 4 succeeded, 0 failed") {
		t.Fatalf("stdout:\n%s\nstderr:\n%s", stdout, tail(stderr, 4000))
	}
	pids := workerPIDs(t, state)
	if len(pids) != 2 {
		t.Fatalf("worker processes %v, want 2", pids)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("worker process %d outlived prs run", pid)
		}
	}
}

// TestConfigNodeCountWorkersDieWithPrsRun: a prs run killed with SIGKILL
// takes its worker processes with it.
func TestConfigNodeCountWorkersDieWithPrsRun(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	script := writeFile(t, dir, "barrier.py", []byte(barrierScript))
	state := mkdir(t, filepath.Join(dir, "state"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prsBin, "run", "--input", localFiles(t, 4), "--output", filepath.Join(dir, "out"), "--entry-script", script,
		"--mini-batch-size", "1", "--node-count", "2", "--allow-reuse", "false", "--", "--state", state, "--hang")
	cmd.Env = h.env()
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for len(workerPIDs(t, state)) < 2 {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("two worker processes never ran a mini-batch:\n%s", tail(errb.String(), 4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	for _, pid := range workerPIDs(t, state) {
		for alive(pid) {
			if time.Now().After(deadline) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				t.Fatalf("worker process %d outlived prs run killed with SIGKILL", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// wordsScript counts the words of each file; --model names a file whose
// first line prefixes every row, as an Azure ML script reads its model.
const wordsScript = `import argparse, os
from azureml_user.parallel_run import EntryScript

def init():
    global prefix
    p = argparse.ArgumentParser()
    p.add_argument("--model")
    args, _ = p.parse_known_args()
    prefix = open(args.model).read().strip() if args.model else "none"
    EntryScript().logger.info("model %s", prefix)

def run(mini_batch):
    return ["%s %s %d" % (prefix, os.path.basename(p), len(open(p).read().split())) for p in mini_batch]
`

// TestConfigParallelRunConfigKeysAndAzureMLJob runs a ParallelRunConfig
// carried over with the keys prs ignores (one warning each), and an Azure
// ML v2 parallel job YAML as it is, paths relative to its file.
func TestConfigParallelRunConfigKeysAndAzureMLJob(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	script := writeFile(t, mkdir(t, filepath.Join(dir, "script")), "words.py", []byte(wordsScript))
	in := mkdir(t, filepath.Join(dir, "data"))
	for i := 0; i < 5; i++ {
		writeFile(t, in, fmt.Sprintf("doc%d.txt", i), []byte(strings.Repeat("w ", i+1)))
	}
	writeFile(t, mkdir(t, filepath.Join(dir, "models")), "model.txt", []byte("m7\n"))

	t.Run("ParallelRunConfig", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		cfg := writeFile(t, t.TempDir(), "prc.yaml", []byte(fmt.Sprintf(`environment: batch_env
compute_target: cpu-cluster
description: counting words
node_count: 1
entry_script: %s
input: %s
output: %s
mini_batch_size: 2
error_threshold: 10
output_action: append_row
allow_reuse: false
`, script, in, out)))
		stdout, stderr, code := h.prs(2*time.Minute, "run", "--config", cfg)
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, tail(stderr, 4000))
		}
		for _, key := range []string{"environment", "compute_target", "description"} {
			if n := strings.Count(stderr, "config: "+key+": a ParallelRunConfig key that prs ignores"); n != 1 {
				t.Errorf("%d warnings for %s:\n%s", n, key, stderr)
			}
		}
		if rows := h.rows(out); len(rows) != 5 || rows[0] != "none doc0.txt 1" {
			t.Fatalf("rows %q", rows)
		}
	})

	t.Run("AzureMLParallelJob", func(t *testing.T) {
		job := writeFile(t, dir, "parallel.yml", []byte(`$schema: https://azuremlschemas.azureedge.net/latest/parallelJob.schema.json
type: parallel
compute: azureml:cpu-cluster
inputs:
  job_data_path:
    type: uri_folder
    path: ./data
    mode: ro_mount
  score_model:
    type: uri_folder
    path: ./models/model.txt
    mode: download
outputs:
  job_output_file:
    type: uri_file
    path: ./out/aggregated_returns.csv
    mode: rw_mount
mini_batch_size: "2"
resources:
  instance_count: 1
mini_batch_error_threshold: 5
logging_level: "DEBUG"
input_data: ${{inputs.job_data_path}}
max_concurrency_per_instance: 2
retry_settings:
  max_retries: 2
  timeout: 60
task:
  type: run_function
  code: ./script
  entry_script: words.py
  environment:
    image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04
  program_arguments: >-
    --model ${{inputs.score_model}}
    --allowed_failed_percent 30
    --progress_update_timeout 600
  append_row_to: ${{outputs.job_output_file}}
`))
		stdout, stderr, code := h.prs(2*time.Minute, "run", "--config", job, "--allow-reuse", "false")
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, tail(stderr, 4000))
		}
		for _, field := range []string{"compute", "task.environment", "inputs.job_data_path.mode", "task.program_arguments --progress_update_timeout"} {
			if n := strings.Count(stderr, "config: "+field+": does not apply"); n != 1 {
				t.Errorf("%d warnings for %s:\n%s", n, field, stderr)
			}
		}
		got, ok := h.read(filepath.Join(dir, "out"), "aggregated_returns.csv")
		if !ok || !strings.HasPrefix(got, "m7 doc0.txt 1\nm7 doc1.txt 2\n") || strings.Count(got, "\n") != 5 {
			t.Fatalf("aggregated_returns.csv:\n%s\nstderr:\n%s", got, tail(stderr, 3000))
		}
	})
}

const tableScript = `def run(mini_batch):
    return [str(v) for v in mini_batch["id"]]
`

// TestConfigTabularByExtension: a folder of tables with a size as
// mini_batch_size is tabular without input_format, locally and on S3; a
// folder that mixes tables and other files is refused naming input_format.
func TestConfigTabularByExtension(t *testing.T) {
	h := newHarness(t)
	py := pandastest.Python(t)
	dir := t.TempDir()
	script := writeFile(t, dir, "ids.py", []byte(tableScript))
	tables := mkdir(t, filepath.Join(dir, "tables"))
	writeFile(t, tables, "a.csv", []byte("id,name\n1,x\n2,y\n3,z\n"))
	writeFile(t, tables, "b.jsonl", []byte("{\"id\": 4, \"name\": \"u\"}\n{\"id\": 5, \"name\": \"v\"}\n"))
	h.putFile("tables/a.csv", filepath.Join(tables, "a.csv"))
	h.putFile("tables/b.jsonl", filepath.Join(tables, "b.jsonl"))

	for _, input := range []string{tables, h.s3("tables")} {
		out := filepath.Join(t.TempDir(), "out")
		stdout, stderr, code := h.prs(2*time.Minute, "run", "--input", input, "--output", out, "--entry-script", script,
			"--interpreter", py, "--mini-batch-size", "64KB", "--allow-reuse", "false")
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", input, code, stdout, tail(stderr, 4000))
		}
		sameRows(t, h.rows(out), []string{"1", "2", "3", "4", "5"})
	}

	writeFile(t, tables, "notes.txt", []byte("not a table"))
	out := filepath.Join(t.TempDir(), "out")
	_, stderr, code := h.prs(time.Minute, "run", "--input", tables, "--output", out, "--entry-script", script,
		"--interpreter", py, "--mini-batch-size", "64KB")
	if code != 2 || !strings.Contains(stderr, "input_format") || !strings.Contains(stderr, "notes.txt") {
		t.Fatalf("a mixed folder: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the output was written: %v", err)
	}
}
