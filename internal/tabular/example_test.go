package tabular_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/tabular"
)

func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tabular-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	csv := "name,note\nAda,\"likes, commas\"\nBob,\"two\nlines\"\nCy,plain\nDee,1,extra\nEve,\"\"\"quoted\"\"\"\n"
	if err := os.WriteFile(filepath.Join(dir, "people.csv"), []byte(csv), 0o644); err != nil {
		panic(err)
	}
	store, err := objstore.Open(ctx, dir, objstore.Options{})
	if err != nil {
		panic(err)
	}
	obj, err := store.Stat(ctx, "people.csv")
	if err != nil {
		panic(err)
	}
	format, err := tabular.DetectFormat(obj.Key, "") // from the extension
	if err != nil {
		panic(err)
	}
	size, err := tabular.ParseSize("32") // bytes; "64KB", "10MB" in real jobs
	if err != nil {
		panic(err)
	}
	r := tabular.Ranges(store)
	err = tabular.Plan(ctx, r, obj, format, size, func(p tabular.Piece) error {
		fmt.Printf("%v: rows %d-%d of %q\n", p, p.FirstRow, p.FirstRow+p.Rows-1, p.Columns)
		_, err := tabular.ReadPiece(ctx, r, p, func(rec tabular.Record) error {
			fmt.Printf("  row %d: %q\n", rec.Row, rec.Fields)
			return nil
		}, func(e *tabular.RowError) {
			fmt.Printf("  failed: %v\n", e)
		})
		return err
	})
	if err != nil {
		panic(err)
	}
	// Output:
	// people.csv[10:46]: rows 1-2 of ["name" "note"]
	//   row 1: ["Ada" "likes, commas"]
	//   row 2: ["Bob" "two\nlines"]
	// people.csv[46:67]: rows 3-4 of ["name" "note"]
	//   row 3: ["Cy" "plain"]
	//   failed: people.csv: row 4 (byte 55): tabular: wrong number of fields: 3 fields, the header has 2
	// people.csv[67:84]: rows 5-5 of ["name" "note"]
	//   row 5: ["Eve" "\"quoted\""]
}

func ExampleParseSize() {
	for _, s := range []string{"1024", "64KB", "10MB", "1GB", "12XB"} {
		n, err := tabular.ParseSize(s)
		fmt.Println(n, err)
	}
	// Output:
	// 1024 <nil>
	// 65536 <nil>
	// 10485760 <nil>
	// 1073741824 <nil>
	// 0 invalid size "12XB": unknown unit "XB" (want a positive whole number of bytes with an optional unit: 1024, 64KB, 10MB, 1GB)
}
