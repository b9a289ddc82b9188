package codeshape_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/parallelrun/prs/internal/codeshape"
)

// maxLines is the house style's "about 80 lines" for the packages whose
// rules matter most.
const maxLines = 80

// The functions of consumer/, producer/ and internal/ledger stay short
// enough to read at once (STYLE.md; issue 14's acceptance).
func TestFunctionsStayShort(t *testing.T) {
	for _, dir := range []string{"../../consumer", "../../producer", "../ledger"} {
		long, err := codeshape.Longer(dir, maxLines)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range long {
			t.Errorf("%s (at most %d): split it into named steps", f, maxLines)
		}
	}
}

// Longer measures from the signature to the closing brace, and names
// methods by their receiver.
func TestLongerFindsLongFunctions(t *testing.T) {
	long, err := codeshape.Longer(".", 25)
	if err != nil {
		t.Fatal(err)
	}
	if len(long) != 1 || long[0].Name != "Longer" || long[0].Lines <= 25 {
		t.Fatalf("functions over 25 lines here: %v, want Longer alone", long)
	}
}

// README's layout section names every package of the tree, so that it
// stays a map of it.
func TestReadmeLayoutNamesEveryPackage(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, layout, ok := strings.Cut(string(readme), "\n## Layout\n")
	if !ok {
		t.Fatal("README has no Layout section")
	}
	layout, _, _ = strings.Cut(layout, "\n## ")
	pkgs, err := codeshape.Packages("../..", "examples")
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 20 {
		t.Fatalf("only %d packages found: %q", len(pkgs), pkgs)
	}
	for _, p := range pkgs {
		if !strings.Contains(layout, "`"+p+"`") && !strings.Contains(layout, "`"+p+"/`") {
			t.Errorf("README's layout does not name %s", p)
		}
	}
}

// Every path README's layout names is in the tree: the section is kept
// true in both directions.
func TestReadmeLayoutNamesOnlyWhatExists(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, layout, _ := strings.Cut(string(readme), "\n## Layout\n")
	layout, _, _ = strings.Cut(layout, "\n## ")
	named := regexp.MustCompile("`([a-z][a-z0-9_./-]*/[a-z0-9_./-]*)`").FindAllStringSubmatch(layout, -1)
	if len(named) < 20 {
		t.Fatalf("only %d paths found in the layout", len(named))
	}
	for _, m := range named {
		if _, err := os.Stat("../../" + m[1]); err != nil {
			t.Errorf("README's layout names %s, which is not in the tree", m[1])
		}
	}
}
