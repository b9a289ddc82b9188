package entryscript

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/parallelrun/prs/consumer"
)

// sideInputRef matches "{side_inputs.NAME}" in an argument.
var sideInputRef = regexp.MustCompile(`\{side_inputs\.([^{}]*)\}`)

// expandArguments replaces every "{side_inputs.NAME}" in args with the
// absolute local path of side input NAME.
func expandArguments(args []string, sideInputs map[string]string) ([]string, error) {
	out := make([]string, len(args))
	for i, arg := range args {
		var err error
		out[i] = sideInputRef.ReplaceAllStringFunc(arg, func(ref string) string {
			name := sideInputRef.FindStringSubmatch(ref)[1]
			p, ok := sideInputs[name]
			if !ok {
				if err == nil {
					known := slices.Sorted(maps.Keys(sideInputs))
					err = fmt.Errorf("argument %d (%q) refers to side input %q, but the job's side inputs are %q", i, arg, name, known)
				}
				return ref
			}
			if abs, aerr := filepath.Abs(p); aerr == nil {
				p = abs
			}
			return p
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// environment is the script's environment: the worker's own, with the
// protocol's variables (PROTOCOL.md) and PYTHONPATH set.
func environment(env *consumer.JobEnv, shimDir, script string) []string {
	jobID, level := "", ""
	if env.Job != nil {
		jobID, level = env.Job.ID, strings.ToUpper(env.Job.Config.LoggingLevel)
	}
	if level == "" {
		level = "INFO"
	}
	set := map[string]string{
		"PRS_PROTOCOL_IN":   "3",
		"PRS_PROTOCOL_OUT":  "4",
		"PRS_ENTRY_SCRIPT":  script,
		"PRS_OUTPUT_DIR":    absOrEmpty(env.OutputDir),
		"PRS_WORKING_DIR":   absOrEmpty(env.WorkDir),
		"PRS_LOG_DIR":       absOrEmpty(env.LogDir),
		"PRS_AGENT_NAME":    env.Worker + "." + strconv.Itoa(env.Slot),
		"PRS_JOB_ID":        jobID,
		"PRS_LOGGING_LEVEL": level,
		"PYTHONUNBUFFERED":  "1",
	}
	// ParallelRunStep's name of the output folder (scripts read it), and
	// the job's models for Model.get_model_path.
	set["AZUREML_BI_OUTPUT_PATH"] = set["PRS_OUTPUT_DIR"]
	set["PRS_MODELS"] = modelsJSON(env.Models)
	if shimDir != "" {
		path := []string{shimDir, filepath.Dir(script)}
		if old := os.Getenv("PYTHONPATH"); old != "" {
			path = append(path, old)
		}
		set["PYTHONPATH"] = strings.Join(path, string(os.PathListSeparator))
	}
	out := make([]string, 0, len(os.Environ())+len(set))
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := set[k]; !ok {
			out = append(out, kv)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(set)) {
		out = append(out, k+"="+set[k])
	}
	return out
}

// modelsJSON is PRS_MODELS: each model's name and absolute local path, as
// a JSON object ("{}" for none).
func modelsJSON(models map[string]string) string {
	abs := make(map[string]string, len(models))
	for name, p := range models {
		abs[name] = absOrEmpty(p)
	}
	b, _ := json.Marshal(abs) // a map of strings always marshals
	return string(b)
}

func absOrEmpty(p string) string {
	if p == "" {
		return ""
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}
