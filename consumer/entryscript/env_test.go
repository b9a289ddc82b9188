package entryscript

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestScriptEnvironmentIsAnAllowList: a worker whose environment holds
// broker and storage credentials starts a script that sees none of them;
// it sees the allow-list, the job's environment_variables, the variables
// environment_passthrough names, and the protocol's own.
func TestScriptEnvironmentIsAnAllowList(t *testing.T) {
	secrets := map[string]string{
		"AWS_SECRET_ACCESS_KEY": "aws-secret-value",
		"AWS_ACCESS_KEY_ID":     "aws-key-id-value",
		"AWS_SESSION_TOKEN":     "aws-session-value",
		"PRS_NATS_URL":          "nats://prs:url-password@nats.example:4222",
		"PRS_NATS_USER":         "nats-user-value",
		"PRS_NATS_PASSWORD":     "nats-password-value",
		"PRS_NATS_TOKEN":        "nats-token-value",
		"PRS_NATS_CREDS":        "/secret/user.creds",
		"AZUREML_RUN_TOKEN":     "azureml-token-value",
		"OTHER_SETTING":         "not-passed-value",
	}
	passed := map[string]string{
		"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC", "PYTHONHASHSEED": "7", "CUDA_VISIBLE_DEVICES": "1",
		"OMP_NUM_THREADS": "3", "NVIDIA_VISIBLE_DEVICES": "all",
		"MY_PASS": "passed-by-name", "MY_PREFIX_A": "passed-by-prefix",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	for k, v := range passed {
		t.Setenv(k, v)
	}
	t.Setenv("PYTHONPATH", "/worker/python")
	b := setup(t, `
import json
import os

def run(mini_batch):
    return [json.dumps(dict(os.environ))]
`)
	b.env.Job.Config.EnvironmentVariables = map[string]string{"MODEL_NAME": "resnet", "TZ": "Europe/Paris", "PYTHONPATH": "/job/python"}
	b.env.Job.Config.EnvironmentPassthrough = []string{"MY_PASS", "MY_PREFIX_*"}
	rows := runText(t, b.handler(t, Options{}), batch("a"))
	var env map[string]string
	if err := json.Unmarshal([]byte(rows[0]), &env); err != nil {
		t.Fatal(err)
	}
	for k, v := range secrets {
		if _, ok := env[k]; ok {
			t.Errorf("the script sees %s", k)
		}
		for ek, ev := range env {
			if strings.Contains(ev, v) {
				t.Errorf("the script sees %s's value in %s", k, ek)
			}
		}
	}
	passed["TZ"] = "Europe/Paris" // the job's setting wins
	passed["MODEL_NAME"] = "resnet"
	passed["PRS_JOB_ID"] = "job-1"
	passed["PRS_AGENT_NAME"] = "worker-a.2"
	for k, v := range passed {
		if env[k] != v {
			t.Errorf("%s is %q in the script, want %q", k, env[k], v)
		}
	}
	// (pyenv's python3 puts its folders before the PATH it was given.)
	if !strings.HasSuffix(env["PATH"], os.Getenv("PATH")) {
		t.Errorf("PATH is %q in the script, want it to end with the worker's %q", env["PATH"], os.Getenv("PATH"))
	}
	path := strings.Split(env["PYTHONPATH"], ":")
	if len(path) != 3 || path[1] != filepath.Dir(b.script) || path[2] != "/job/python" {
		t.Errorf("PYTHONPATH %q: want the shim's folder, the script's, then the job's", env["PYTHONPATH"])
	}
}
