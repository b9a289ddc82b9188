package prscli

import "testing"

// Pending are the flags the deployment files may use ahead of the code, by
// command (none now: `prs worker --idle-exit` has landed). Parse accepts
// them while the binary lacks them; CheckPending fails once the binary has
// one, so that it is then checked like every other flag.
var Pending = map[string][]string{}

// CheckPending fails for every pending flag the binary now has.
func CheckPending(t *testing.T) {
	t.Helper()
	for cmd, flags := range Pending {
		have := Get(t, cmd).Flags
		for _, f := range flags {
			if _, ok := have[f]; ok {
				t.Errorf("prs %s now has --%s: remove it from prscli.Pending so that it is checked like the others", cmd, f)
			}
		}
	}
}
