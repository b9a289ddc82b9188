// Package codeshape measures the shape of prs's source tree, for the tests
// that keep it as the house style wants it: the functions of the packages
// whose rules matter most (consumer, producer, internal/ledger) short
// enough to read at once (about 80 lines at most), and every package named
// in README's layout section.
package codeshape

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Func is a function and its length in lines, from its signature to its
// closing brace.
type Func struct {
	Pos   string // file:line
	Name  string // Recv.Name or Name
	Lines int
}

func (f Func) String() string { return fmt.Sprintf("%s: %s is %d lines", f.Pos, f.Name, f.Lines) }

// Longer returns the functions and methods of the non-test Go files in dir
// (not its subfolders) longer than max lines, longest first.
func Longer(dir string, max int) ([]Func, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var out []Func
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			start, end := fset.Position(fd.Pos()), fset.Position(fd.End())
			if n := end.Line - start.Line + 1; n > max {
				out = append(out, Func{Pos: fmt.Sprintf("%s:%d", start.Filename, start.Line), Name: funcName(fd), Lines: n})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Lines > out[j].Lines })
	return out, nil
}

func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	t := fd.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name + "." + fd.Name.Name
	}
	return fd.Name.Name
}

// Packages returns the folders under root, relative to it and with
// forward slashes, that hold Go files, skipping those named skip and
// hidden ones.
func Packages(root string, skip ...string) ([]string, error) {
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() && rel != "." && (strings.HasPrefix(d.Name(), ".") || slices.Contains(skip, rel)) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") {
			seen[path.Dir(rel)] = true
		}
		return nil
	})
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, err
}
