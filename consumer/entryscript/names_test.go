package entryscript

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/parallelrun/prs/contracts"
)

// TestNamesReachTheScriptAsTheirBytes: a path and a partition value that
// are not UTF-8 reach run() as the str that os.fsencode turns into their
// bytes, the file opens, and a row holding the name comes back escaped.
func TestNamesReachTheScriptAsTheirBytes(t *testing.T) {
	t.Parallel()
	b := setup(t, `
import os

def run(mini_batch, mini_batch_context):
    rows = []
    for path in mini_batch:
        with open(path) as f:
            content = f.read()
        rows.append(os.fsencode(path).hex() + " " + content)
    rows.append(os.fsencode(mini_batch_context.partition_key_value["user"]).hex())
    rows.append(os.path.basename(mini_batch[0]))
    return rows
`)
	dir := t.TempDir()
	bad, good := filepath.Join(dir, "bad\xffname.txt"), filepath.Join(dir, "good.txt")
	for p, content := range map[string]string{bad: "B", good: "G"} {
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bt := batch(bad, good)
	bt.Partition = contracts.PartitionValues{contracts.StringValue("user", "ann\xe9")}
	got := run(t, b.handler(t, Options{}), bt)
	want := []string{
		`"` + hex.EncodeToString([]byte(bad)) + ` B"`,
		`"` + hex.EncodeToString([]byte(good)) + ` G"`,
		`"` + hex.EncodeToString([]byte("ann\xe9")) + `"`,
		`"bad\udcffname.txt"`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("rows\n got %v\nwant %v", got, want)
	}
}
