package entryscript

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestAzureMLCoreShim: Model.get_model_path returns the job's models by
// name, from both import paths, and an unknown name raises an error that
// lists the known ones; Run.get_context() logs to the EntryScript log;
// AZUREML_BI_OUTPUT_PATH is output_dir; what the shim does not cover says
// so when imported.
func TestAzureMLCoreShim(t *testing.T) {
	t.Parallel()
	b := setup(t, `
import os
from azureml.core import Model, Run
from azureml.core.model import Model as Model2
from azureml.core.run import Run as Run2
from azureml_user.parallel_run import EntryScript

def init():
    global run_ctx
    run_ctx = Run.get_context()
    run_ctx.log("accuracy", 0.97)
    run_ctx.log_list("losses", [0.5, 0.25])
    run_ctx.log_row("confusion", tp=3, fp=1)

def run(mini_batch):
    rows = [Model.get_model_path("iris-prs"), Model2.get_model_path("mnist-prs", version=3),
            str(Run2.get_context() is run_ctx), str(run_ctx.id.startswith("OfflineRun_")),
            str(os.environ["AZUREML_BI_OUTPUT_PATH"] == EntryScript().output_dir)]
    try:
        Model.get_model_path("nope")
    except Exception as e:
        rows.append(type(e).__name__ + ": " + str(e))
    try:
        from azureml.core import Workspace
    except ImportError as e:
        rows.append("ImportError: " + str(e))
    return rows
`)
	model := filepath.Join(t.TempDir(), "iris_model.pkl")
	folder := t.TempDir()
	b.env.Models = map[string]string{"iris-prs": model, "mnist-prs": folder}
	h := b.handler(t, Options{})
	got := run(t, h, batch("a"))
	if len(got) != 7 {
		t.Fatalf("rows %v", got)
	}
	if want := []string{jsonString(model), jsonString(folder), `"True"`, `"True"`, `"True"`}; !slices.Equal(got[:5], want) {
		t.Errorf("rows %v, want %v", got[:5], want)
	}
	mustContain(t, "unknown model", got[5], "ModelNotFoundException", "'nope'", "'iris-prs', 'mnist-prs'", "models: {nope: URI}")
	mustContain(t, "Workspace", got[6], "ImportError", "Workspace is not available under prs")
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(filepath.Join(b.env.LogDir, "entry_script.log.txt"))
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "EntryScript log", string(log), "Run.log accuracy=0.97", "Run.log_list losses=[0.5, 0.25]", "Run.log_row confusion={'tp': 3, 'fp': 1}")
	if strings.Count(string(log), "Run.log accuracy") != 1 {
		t.Errorf("the value was logged more than once:\n%s", log)
	}
}
