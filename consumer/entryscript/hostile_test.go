package entryscript

import (
	"slices"
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
