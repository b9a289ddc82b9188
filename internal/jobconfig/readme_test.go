package jobconfig

import (
	"os"
	"strings"
	"testing"

	"github.com/parallelrun/prs/contracts"
)

// TestREADMEConfigurationTables keeps the README's tables of settings true
// to the table of contracts.Settings: every key has a row, with its range
// or valid values as the flags' help gives them, and a number's default.
func TestREADMEConfigurationTables(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	def := contracts.DefaultConfig()
	for _, s := range contracts.Settings() {
		name := strings.TrimPrefix(s.Key, "onnx.")
		row := ""
		for _, line := range strings.Split(string(b), "\n") {
			first, _, _ := strings.Cut(strings.TrimPrefix(line, "| "), " | ")
			if strings.HasPrefix(line, "| ") && strings.Contains(first, "`"+name+"`") {
				row = line
				break
			}
		}
		if row == "" {
			t.Errorf("README has no row for %s", s.Key)
			continue
		}
		if d := s.Describe(); d != "" && !strings.Contains(row, " "+d+" ") {
			t.Errorf("README's row of %s does not say %q:\n%s", s.Key, d, row)
		}
		if k := s.Kind(); k == contracts.KindInt || k == contracts.KindFloat {
			if v := s.Text(&def); v != "" && !strings.Contains(row, "`"+v+"`") {
				t.Errorf("README's row of %s does not give its default %s:\n%s", s.Key, v, row)
			}
		}
	}
}
