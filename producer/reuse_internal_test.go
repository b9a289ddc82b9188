package producer

import (
	"testing"

	"github.com/parallelrun/prs/contracts"
)

// A file job recorded when mini_batch_size defaulted to "10" keeps its
// fingerprint now that the default is left unset, so it resumes and is
// reused as before.
func TestFingerprintOfTheDefaultMiniBatchSize(t *testing.T) {
	t.Parallel()
	old := contracts.DefaultConfig()
	old.Input, old.Output, old.EntryScript, old.MiniBatchSize = "in", "out", "s.py", "10"
	now := old
	now.MiniBatchSize = ""
	if fingerprint(&old, "src", "list") != fingerprint(&now, "src", "list") {
		t.Fatal("an unset mini_batch_size changes the fingerprint of a file job")
	}
	other := old
	other.MiniBatchSize = "11"
	if fingerprint(&old, "src", "list") == fingerprint(&other, "src", "list") {
		t.Fatal("mini_batch_size is not part of the fingerprint")
	}
}
