package onnx

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/parallelrun/prs/contracts"
)

// TestCheck is the preflight on the digits model: the example's settings
// pass; a file that is not ONNX, a wrong input name and a missing library
// fail with errors that say what to change. Tabular settings are checked
// in TestTabularCheck.
func TestCheck(t *testing.T) {
	t.Parallel()
	lib := testLibrary(t)
	if err := Check(t.Context(), digitsConfig(), "", lib); err != nil {
		t.Fatalf("Check of the digits example: %v", err)
	}
	notONNX := writeFile(t, filepath.Join(t.TempDir(), "model.onnx"), []byte("PK\x03\x04 a zip file"))
	err := Check(t.Context(), digitsConfig(), notONNX, lib)
	var me *ModelError
	if !errors.As(err, &me) || me.Path != notONNX {
		t.Fatalf("not ONNX: %v (%T)", err, err)
	}
	mustContain(t, err, notONNX, "is it an ONNX file?")

	cfg := digitsConfig()
	cfg.InputName = "input"
	err = Check(t.Context(), cfg, "", lib)
	var fe *contracts.FieldError
	if !errors.As(err, &fe) || fe.Field != "onnx.input_name" || !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong input name: %v (%T)", err, err)
	}
	mustContain(t, err, `no input "input"`, `its inputs: "pixels" [-1 1 8 8] float32`)

	err = Check(t.Context(), digitsConfig(), "", "/nonexistent/lib/libonnxruntime.so.1")
	var le *LibraryError
	if !errors.As(err, &le) {
		t.Fatalf("missing library: %v (%T)", err, err)
	}
	mustContain(t, err, "/nonexistent/lib/libonnxruntime.so.1", "go tool task ort", "onnxruntime-node@1.29.0", "PRS_ORT_LIB")
}

// TestOneLibraryPerProcess: once a library is loaded, another file is
// refused with a clear error, and the same file under another name is fine.
func TestOneLibraryPerProcess(t *testing.T) {
	t.Parallel()
	lib := testLibrary(t)
	if err := loadLibrary(lib); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	if err := os.Symlink(lib, link); err != nil {
		t.Fatal(err)
	}
	if err := loadLibrary(link); err != nil {
		t.Fatalf("the same library under another name: %v", err)
	}
	other := writeFile(t, filepath.Join(t.TempDir(), "libonnxruntime.so.1"), []byte("another file"))
	mustContain(t, loadLibrary(other), other, "this process already runs ONNX Runtime from "+lib, InstallHint)
}

// TestWrongLibrary loads a file that is not a shared library, in a process
// of its own (this one may have loaded the real library already).
func TestWrongLibrary(t *testing.T) {
	if lib := os.Getenv("PRS_ONNX_TEST_WRONG_LIB"); lib != "" {
		fmt.Printf("ERROR: %v\n", Check(t.Context(), digitsConfig(), "", lib))
		return
	}
	t.Parallel()
	bad := writeFile(t, filepath.Join(t.TempDir(), "libonnxruntime.so.1"), []byte("this is not an ELF file, but it is long enough to be read as one\n"))
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestWrongLibrary$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PRS_ONNX_TEST_WRONG_LIB="+bad)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	mustContain(t, errors.New(string(out)), "ERROR: onnx: cannot load the ONNX Runtime library "+bad, InstallHint)
	t.Logf("%s", out)
}

// TestResolveLibrary: the handler's option, then the job's, then
// $PRS_ORT_LIB, then DefaultLibrary.
func TestResolveLibrary(t *testing.T) {
	t.Setenv(LibraryEnv, "")
	if got := ResolveLibrary("", ""); got != DefaultLibrary {
		t.Errorf("default: %s", got)
	}
	t.Setenv(LibraryEnv, "/env/lib.so")
	for _, tc := range [][3]string{
		{"/opt/lib.so", "/job/lib.so", "/opt/lib.so"},
		{"", "/job/lib.so", "/job/lib.so"},
		{"", "", "/env/lib.so"},
	} {
		if got := ResolveLibrary(tc[0], tc[1]); got != tc[2] {
			t.Errorf("ResolveLibrary(%q, %q) = %q, want %q", tc[0], tc[1], got, tc[2])
		}
	}
}
