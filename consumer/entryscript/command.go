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
	"github.com/parallelrun/prs/contracts"
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

// allowedNames and allowedPrefixes are the variables of the worker's
// environment that every entry script gets (README, PROTOCOL.md): what a
// program needs to find its tools, libraries, locale, temporary folder and
// GPUs. Nothing else passes, so that no broker or storage credential of the
// worker (PRS_NATS_PASSWORD, AWS_SECRET_ACCESS_KEY, ...) reaches the script
// unless the job's environment_passthrough names it.
var (
	allowedNames = []string{
		"PATH", "HOME", "USER", "LOGNAME", "SHELL", "HOSTNAME", "TERM",
		"LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP",
		"LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES",
		"OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
		"VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV",
		"SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
		"XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR",
	}
	allowedPrefixes = []string{"LC_", "PYTHON", "NVIDIA_", "CUDA_", "NCCL_"}
)

// passes reports whether the worker's variable name goes to the script:
// it is on the allow-list or matches one of the job's passthrough
// patterns (NAME, PREFIX*).
func passes(name string, passthrough []string) bool {
	if slices.Contains(allowedNames, name) {
		return true
	}
	for _, p := range allowedPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	for _, p := range passthrough {
		if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(name, prefix) || p == name {
			return true
		}
	}
	return false
}

// environment is the script's environment: the worker's variables that
// pass (the allow-list and the job's environment_passthrough), the job's
// environment_variables over them, and the protocol's variables
// (PROTOCOL.md) and PYTHONPATH over those.
func environment(env *consumer.JobEnv, shimDir, script string) []string {
	var cfg contracts.Config
	jobID := ""
	if env.Job != nil {
		cfg, jobID = env.Job.Config, env.Job.ID
	}
	level := strings.ToUpper(cfg.LoggingLevel)
	if level == "" {
		level = "INFO"
	}
	vars := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); passes(k, cfg.EnvironmentPassthrough) {
			vars[k] = v
		}
	}
	maps.Copy(vars, cfg.EnvironmentVariables)
	userPath := vars["PYTHONPATH"]
	maps.Copy(vars, map[string]string{
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
	})
	// ParallelRunStep's name of the output folder (scripts read it), and
	// the job's models for Model.get_model_path.
	vars["AZUREML_BI_OUTPUT_PATH"] = vars["PRS_OUTPUT_DIR"]
	vars["PRS_MODELS"] = modelsJSON(env.Models)
	if shimDir != "" {
		path := []string{shimDir, filepath.Dir(script)}
		if userPath != "" {
			path = append(path, userPath)
		}
		vars["PYTHONPATH"] = strings.Join(path, string(os.PathListSeparator))
	}
	out := make([]string, 0, len(vars))
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		out = append(out, k+"="+vars[k])
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
