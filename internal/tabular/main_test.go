package tabular_test

import (
	"fmt"
	"os"
	"testing"
)

// TestMain runs the tests, or, when BenchmarkPlanCSV1GB starts this binary
// again with PRS_TABULAR_PLAN_FILE set, only the planning whose memory it
// measures.
func TestMain(m *testing.M) {
	if path := os.Getenv(planChildEnv); path != "" {
		if err := planChild(path); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
