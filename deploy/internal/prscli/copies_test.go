package prscli

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExampleCopiesAreTheExample: every file under deploy/ that holds a
// copy of an example's entry script (found by the script's first line, so a
// new copy is checked without being listed here) holds it whole and
// unchanged: verbatim, or as a heredoc whose lines all carry the same
// indentation (Nomad's <<-EOT). The Kubernetes and Nomad tests check the
// copies they mount; this one finds the copies nobody mounts yet.
func TestExampleCopiesAreTheExample(t *testing.T) {
	root := Root()
	examples, err := filepath.Glob(filepath.Join(root, "examples", "*", "*.py"))
	if err != nil || len(examples) == 0 {
		t.Fatalf("no example scripts (%v)", err)
	}
	found := 0
	for _, ex := range examples {
		b, err := os.ReadFile(ex)
		if err != nil {
			t.Fatal(err)
		}
		example := string(b)
		first, _, _ := strings.Cut(example, "\n")
		if len(first) < 20 { // too common a line to find copies by
			continue
		}
		rel, _ := filepath.Rel(root, ex)
		err = filepath.WalkDir(filepath.Join(root, "deploy"), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			text := string(data)
			at := strings.Index(text, first)
			if at < 0 {
				return nil
			}
			found++
			start := strings.LastIndex(text[:at], "\n") + 1
			indent := text[start:at]
			if strings.TrimLeft(indent, " \t") != "" {
				t.Errorf("%s: a copy of %s starts inside a line", p, rel)
				return nil
			}
			if !strings.Contains(text[start:], indented(example, indent)) {
				t.Errorf("%s differs from %s: copy it again (or make the build use the one file)", p, rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if found < 2 {
		t.Fatalf("found %d copies of the examples under deploy/, want the Kubernetes and the Nomad one at least", found)
	}
}

// indented is s with indent before each of its non-empty lines.
func indented(s, indent string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != "" {
			lines[i] = indent + l
		}
	}
	return strings.Join(lines, "")
}
