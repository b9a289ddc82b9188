// Package docker holds the worker images' Dockerfiles and install scripts;
// its tests check them without a container engine.
package docker

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/parallelrun/prs/deploy/internal/prscli"
)

// image is what each Dockerfile must be.
type image struct {
	file string
	// ortFlavor is the install-ort.sh flavor it installs.
	ortFlavor string
	// base is a prefix its final stage's base image must have.
	base string
}

var images = []image{
	{file: "cpu.Dockerfile", ortFlavor: "cpu", base: "debian:12"},
	{file: "cuda.Dockerfile", ortFlavor: "cuda", base: "nvidia/cuda:13.0"},
}

// parsed is a Dockerfile read by BuildKit's own parser.
type parsed struct {
	stages []instructions.Stage
	lint   []string
}

func parse(t *testing.T, name string) parsed {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	res, err := parser.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s does not parse: %v", name, err)
	}
	var p parsed
	for _, w := range res.Warnings {
		p.lint = append(p.lint, w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, desc, _, msg string, loc []parser.Range) {
		p.lint = append(p.lint, fmt.Sprintf("%s: %s (line %d)", rule, msg, line(loc)))
	}})
	p.stages, _, err = instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return p
}

func line(loc []parser.Range) int {
	if len(loc) == 0 {
		return 0
	}
	return loc[0].Start.Line
}

func TestDockerfilesParseWithoutLintWarnings(t *testing.T) {
	for _, im := range images {
		p := parse(t, im.file)
		if len(p.lint) > 0 {
			t.Errorf("%s: BuildKit warns:\n%s", im.file, strings.Join(p.lint, "\n"))
		}
		if len(p.stages) < 2 {
			t.Errorf("%s: %d stage(s); the image is built in one stage and run from another", im.file, len(p.stages))
		}
	}
}

// pinned is an image reference with a version tag or a digest.
var pinned = regexp.MustCompile(`^[a-z0-9./_-]+(:[A-Za-z0-9._-]*[0-9][A-Za-z0-9._-]*)?(@sha256:[0-9a-f]{64})?$`)

func TestBaseImagesArePinned(t *testing.T) {
	for _, im := range images {
		p := parse(t, im.file)
		names := map[string]bool{}
		for i, s := range p.stages {
			base := s.BaseName
			if names[strings.ToLower(base)] {
				continue // an earlier stage
			}
			names[strings.ToLower(s.Name)] = true
			m := pinned.FindStringSubmatch(base)
			if m == nil || (m[1] == "" && m[2] == "") || strings.HasSuffix(base, ":latest") {
				t.Errorf("%s stage %d: base image %q is not pinned by a version tag or a digest", im.file, i, base)
			}
		}
		final := p.stages[len(p.stages)-1].BaseName
		if !strings.HasPrefix(final, im.base) {
			t.Errorf("%s: the final stage runs on %q, want %s...", im.file, final, im.base)
		}
	}
}

// TestGoImageBuildsTheModulesGoVersion: the build stage's Go is at least
// the go line of the root go.mod.
func TestGoImageBuildsTheModulesGoVersion(t *testing.T) {
	mod, err := os.ReadFile(filepath.Join(prscli.Root(), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	if want == nil {
		t.Fatal("root go.mod has no go line")
	}
	for _, im := range images {
		found := false
		for _, s := range parse(t, im.file).stages {
			if v, ok := strings.CutPrefix(s.BaseName, "golang:"); ok {
				found = true
				v, _, _ = strings.Cut(v, "-")
				if versionLess(v, string(want[1])) {
					t.Errorf("%s builds with Go %s; go.mod asks for %s", im.file, v, want[1])
				}
			}
		}
		if !found {
			t.Errorf("%s has no golang build stage", im.file)
		}
	}
}

func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) || i < len(pb); i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

// TestCopiedFilesAreInTheBuildContext: every COPY from the build context
// (the repository root) names something that exists and that
// .dockerignore lets in; every COPY --from names an earlier stage.
func TestCopiedFilesAreInTheBuildContext(t *testing.T) {
	root := prscli.Root()
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	ignore, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range images {
		stages := map[string]bool{}
		for _, s := range parse(t, im.file).stages {
			for _, c := range s.Commands {
				cp, ok := c.(*instructions.CopyCommand)
				if !ok {
					if _, isAdd := c.(*instructions.AddCommand); isAdd {
						t.Errorf("%s: ADD; use COPY (ADD fetches URLs and unpacks archives)", im.file)
					}
					continue
				}
				if cp.From != "" {
					if !stages[strings.ToLower(cp.From)] {
						t.Errorf("%s: COPY --from=%s names no earlier stage", im.file, cp.From)
					}
					continue
				}
				for _, src := range cp.SourcePaths {
					checkContextPath(t, im.file, root, ignore, src)
				}
			}
			stages[strings.ToLower(s.Name)] = true
		}
	}
}

func checkContextPath(t *testing.T, file, root string, ignore *patternmatcher.PatternMatcher, src string) {
	t.Helper()
	if strings.ContainsAny(src, "*?[$") {
		t.Errorf("%s: COPY %s: name files plainly, so that this test can check them", file, src)
		return
	}
	fi, err := os.Stat(filepath.Join(root, src))
	if err != nil {
		t.Errorf("%s: COPY %s: not in the build context (the repository root): %v", file, src, err)
		return
	}
	rel := filepath.ToSlash(filepath.Clean(src))
	if excluded, err := ignore.MatchesOrParentMatches(rel); err != nil || excluded {
		t.Errorf("%s: COPY %s: .dockerignore leaves it out (%v)", file, src, err)
	}
	if fi.IsDir() {
		// A folder of Go sources must bring them: .dockerignore must not
		// leave out all of its .go files.
		all, in := 0, 0
		_ = filepath.WalkDir(filepath.Join(root, src), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") {
				return nil
			}
			all++
			r, _ := filepath.Rel(root, p)
			if ex, _ := ignore.MatchesOrParentMatches(filepath.ToSlash(r)); !ex {
				in++
			}
			return nil
		})
		if all > 0 && in == 0 {
			t.Errorf("%s: COPY %s: .dockerignore leaves out all of its Go sources", file, src)
		}
	}
}

// TestFinalStageRunsPrsAsNonRoot: the last USER of the final stage is a
// user other than root, the entrypoint is prs in exec form, and the default
// command is a prs command line with real flags.
func TestFinalStageRunsPrsAsNonRoot(t *testing.T) {
	for _, im := range images {
		p := parse(t, im.file)
		final := p.stages[len(p.stages)-1]
		var user string
		var entry, cmd []string
		env := map[string]string{}
		for _, c := range final.Commands {
			switch c := c.(type) {
			case *instructions.UserCommand:
				user = c.User
			case *instructions.EntrypointCommand:
				if c.PrependShell {
					t.Errorf("%s: ENTRYPOINT in shell form; signals would reach the shell, not prs", im.file)
				}
				entry = c.CmdLine
			case *instructions.CmdCommand:
				cmd = c.CmdLine
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					env[kv.Key] = kv.Value
				}
			}
		}
		name, _, _ := strings.Cut(user, ":")
		if name == "" || name == "root" || name == "0" {
			t.Errorf("%s: the final stage runs as %q; want a user other than root", im.file, user)
		}
		if len(entry) != 1 || filepath.Base(entry[0]) != "prs" {
			t.Errorf("%s: ENTRYPOINT %q, want [\"prs\"]", im.file, entry)
		}
		if _, err := prscli.Parse(t, cmd, prscli.Pending); err != nil {
			t.Errorf("%s: CMD %q: %v", im.file, cmd, err)
		}
		for k := range env {
			if strings.HasPrefix(k, "PRS_") && !prscli.Get(t, "submit").Env[k] && !prscli.Get(t, "worker").Env[k] {
				t.Errorf("%s: ENV %s is no environment variable prs reads (prs submit -h and prs worker -h name them)", im.file, k)
			}
		}
		if lib := env["PRS_ORT_LIB"]; filepath.Base(lib) != "libonnxruntime.so.1" {
			t.Errorf("%s: PRS_ORT_LIB=%q, want the library install-ort.sh installs", im.file, lib)
		} else if im.ortFlavor == "cuda" && !strings.Contains(env["LD_LIBRARY_PATH"], filepath.Dir(lib)) {
			t.Errorf("%s: LD_LIBRARY_PATH=%q lacks %s, where the CUDA provider libraries lie", im.file, env["LD_LIBRARY_PATH"], filepath.Dir(lib))
		}
	}
}

// installScript matches a RUN of one of this folder's install scripts.
var installScript = regexp.MustCompile(`\b(install-[a-z0-9-]+\.sh)\b([^&;|]*)`)

// packageManagers must not appear in a RUN line: installing is the scripts'
// job, so that CI runs the same steps the images do.
var packageManagers = regexp.MustCompile(`\b(apt-get|apt|dpkg|npm|pip3?|curl|wget|apk)\b`)

// TestInstallStepsAreScriptsCIRuns: a RUN installs only through this
// folder's install-*.sh, each of which the Taskfile runs (CI's `go tool
// task test` runs it on CI's Debian machine); the image installs the
// ONNX Runtime flavor it is for.
func TestInstallStepsAreScriptsCIRuns(t *testing.T) {
	task, err := os.ReadFile(filepath.Join(prscli.Root(), "Taskfile.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range images {
		flavor := ""
		for _, s := range parse(t, im.file).stages {
			for _, c := range s.Commands {
				run, ok := c.(*instructions.RunCommand)
				if !ok {
					continue
				}
				line := strings.Join(run.CmdLine, " ")
				if m := packageManagers.FindString(line); m != "" {
					t.Errorf("%s: RUN %q calls %s; put install steps in an install-*.sh that CI runs", im.file, line, m)
				}
				for _, m := range installScript.FindAllStringSubmatch(line, -1) {
					if _, err := os.Stat(m[1]); err != nil {
						t.Errorf("%s: RUN %s: no such script in deploy/docker", im.file, m[1])
					}
					if !strings.Contains(string(task), "deploy/docker/"+m[1]) {
						t.Errorf("%s: RUN %s: the Taskfile never runs it, so CI does not", im.file, m[1])
					}
					if m[1] == "install-ort.sh" {
						f := strings.Fields(m[2])
						flavor = f[len(f)-1]
					}
				}
			}
		}
		if flavor != im.ortFlavor {
			t.Errorf("%s installs ONNX Runtime flavor %q, want %q", im.file, flavor, im.ortFlavor)
		}
	}
	scripts, _ := filepath.Glob("install-*.sh")
	for _, s := range scripts {
		fi, err := os.Stat(s)
		if err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable", s)
		}
		if out, err := exec.Command("bash", "-n", s).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", s, err, out)
		}
	}
}

// TestInstallORTForReal runs the CPU flavor of install-ort.sh as the CPU
// image does (it needs npm and the network, as `go tool task ort` does)
// and checks that it installed the library prs loads.
func TestInstallORTForReal(t *testing.T) {
	dest := t.TempDir()
	cmd := exec.Command("bash", "install-ort.sh", dest, "cpu")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install-ort.sh %s cpu: %v\n%s", dest, err, out)
	}
	b, err := os.ReadFile(filepath.Join(dest, "libonnxruntime.so.1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 1<<20 || !bytes.HasPrefix(b, []byte("\x7fELF")) {
		t.Fatalf("libonnxruntime.so.1: %d bytes, not the library", len(b))
	}
	if out, err := exec.Command("bash", "install-ort.sh", dest, "rocm").CombinedOutput(); err == nil {
		t.Errorf("an unknown flavor was accepted:\n%s", out)
	}
}
