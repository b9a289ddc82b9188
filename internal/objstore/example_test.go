package objstore_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/parallelrun/prs/internal/objstore"
)

func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "objstore-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	// "s3://bucket/prefix" opens S3 the same way.
	store, err := objstore.Open(ctx, dir, objstore.Options{})
	if err != nil {
		panic(err)
	}
	store = objstore.WithRetry(store, 0)
	if err := objstore.Check(ctx, store, false); err != nil {
		panic(err)
	}
	for _, key := range []string{"results/b.json", "results/a.json", "results/a/1.json", "inputs/x.csv"} {
		if err := store.Put(ctx, key, strings.NewReader("{}")); err != nil {
			panic(err)
		}
	}
	err = store.List(ctx, "results/", func(o objstore.ObjectInfo) error {
		fmt.Println(o.Key, o.Size)
		return nil
	})
	if err != nil {
		panic(err)
	}
	rc, err := store.Get(ctx, "results/a.json")
	if err != nil {
		panic(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	fmt.Println(string(b))
	// Output:
	// results/a.json 2
	// results/a/1.json 2
	// results/b.json 2
	// {}
}
