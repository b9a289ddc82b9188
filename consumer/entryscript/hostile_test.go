package entryscript

import (
	"bufio"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// hostileServer answers init, then each run with the next of its answers
// (counted in a file of its working folder, which outlives the process),
// then with the mini-batch's paths.
const hostileServer = `
n=$(cat count 2>/dev/null || echo 0)
while IFS= read -r -u 3 line; do
  case "$line" in
    *'"op":"init"'*) echo '{"ok":true}' >&4 ;;
    *'"op":"run"'*)
      n=$((n+1)); echo $n > count
      case $n in
        1) echo 'null' >&4 ;;
        2) echo ' [ {"ok":true} ]' >&4 ;;
        3) echo '"ok"' >&4 ;;
        *) batch=${line#*\"mini_batch\":}; echo "{\"ok\":true,\"rows\":${batch%\}}}" >&4 ;;
      esac ;;
    *'"op":"shutdown"'*) echo '{"ok":true}' >&4; exit 0 ;;
  esac
done
`

// A response line that is valid JSON but not an object (null, an array, a
// string) breaks the protocol like any other garbage: Run reports a
// ProtocolError and the next Run starts a fresh process.
func TestResponseThatIsNotAnObject(t *testing.T) {
	t.Parallel()
	b := setup(t, hostileServer)
	b.env.Job.Config.Interpreter = "bash"
	h := b.handler(t, Options{})
	for i := range 3 {
		_, err := h.Run(timeout(t, time.Minute), batch("/a"))
		if se := scriptError(t, err); se.Type != "ProtocolError" {
			t.Fatalf("answer %d: %v, want a ProtocolError", i+1, err)
		}
	}
	if got := run(t, h, batch("/a", "/b")); !slices.Equal(got, []string{`"/a"`, `"/b"`}) {
		t.Errorf("rows after the broken answers: %v", got)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// A response line longer than run_result_max_size fails that attempt with
// a ProtocolError that names the limit, whether run() returned too many
// rows through the shim or a server writes without end and never a line
// break; the worker holds at most the limit, and the next Run starts a
// fresh process.
func TestResponseLineOverTheLimit(t *testing.T) {
	t.Parallel()
	t.Run("rows", func(t *testing.T) {
		t.Parallel()
		b := setup(t, "def init():\n    pass\n\ndef run(mini_batch):\n"+
			"    if mini_batch[0].endswith('big'):\n        return ['x' * 4096 for _ in range(4)]\n    return mini_batch\n")
		b.env.Job.Config.RunResultMaxSize = "8KB"
		h := b.handler(t, Options{})
		_, err := h.Run(timeout(t, time.Minute), batch("/big"))
		if se := scriptError(t, err); se.Type != "ProtocolError" || !strings.Contains(se.Message, "of more than 8192 bytes") || !strings.Contains(se.Message, "run_result_max_size") {
			t.Fatalf("rows over the limit: %v, want a ProtocolError naming run_result_max_size", err)
		}
		if got := run(t, h, batch("/a")); !slices.Equal(got, []string{`"/a"`}) {
			t.Errorf("rows after the long answer: %v", got)
		}
	})
	t.Run("endless", func(t *testing.T) {
		t.Parallel()
		b := setup(t, `
while IFS= read -r -u 3 line; do
  case "$line" in
    *'"op":"init"'*) echo '{"ok":true}' >&4 ;;
    *'"op":"run"'*) printf '{"ok":true,"rows":["' >&4; yes xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx | tr -d '\n' >&4 ;;
  esac
done
`)
		b.env.Job.Config.Interpreter = "bash"
		b.env.Job.Config.RunResultMaxSize = "1MB"
		h := b.handler(t, Options{})
		_, err := h.Run(timeout(t, time.Minute), batch("/a"))
		if se := scriptError(t, err); se.Type != "ProtocolError" || !strings.Contains(se.Message, "of more than 1048576 bytes") {
			t.Fatalf("an endless line: %v, want a ProtocolError", err)
		}
		if err := h.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
}

// readLine holds a line up to its limit, the line break not counted, and
// refuses one byte more.
func TestReadLineLimit(t *testing.T) {
	t.Parallel()
	r := bufio.NewReaderSize(strings.NewReader("abcd\nabcde\nabcd"), 16)
	for _, want := range []string{"abcd\n", "", "abcd"} {
		line, err := readLine(r, 4)
		if want == "" {
			if !errors.Is(err, errLineTooLong) {
				t.Fatalf("a line of 5 bytes: %q, %v", line, err)
			}
			continue
		}
		if string(line) != want || (err != nil && !errors.Is(err, io.EOF)) {
			t.Fatalf("readLine = %q, %v; want %q", line, err, want)
		}
	}
	long := bufio.NewReaderSize(strings.NewReader(strings.Repeat("y", 1000)), 16) // many buffers, no line break
	if _, err := readLine(long, 100); !errors.Is(err, errLineTooLong) {
		t.Fatalf("a line of 1000 bytes over many buffers: %v", err)
	}
}
