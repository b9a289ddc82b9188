package partition_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/partition"
	"github.com/parallelrun/prs/internal/tabular"
)

func ExampleParseFormat() {
	f, err := partition.ParseFormat("/{user}/{genre}/{filename}.wav")
	if err != nil {
		panic(err)
	}
	fmt.Println(f.Names(), f.CheckKeys([]string{"user", "genre"}))
	for _, key := range []string{"ada/jazz/take1.wav", "bob/rock/live/take2.wav", "ada/jazz/take1.mp3"} {
		values, ok := f.Match(key)
		fmt.Println(key, ok, values)
	}
	_, err = partition.ParseFormat("/{user}{genre}.wav")
	fmt.Println(err)
	// Output:
	// [user genre filename] <nil>
	// ada/jazz/take1.wav true map[filename:take1 genre:jazz user:ada]
	// bob/rock/live/take2.wav false map[]
	// ada/jazz/take1.mp3 false map[]
	// partition: invalid partition_format "/{user}{genre}.wav": placeholders {user} and {genre} have nothing between them
}

func ExampleGroupRows() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "partition-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	os.Mkdir(in, 0o755)
	os.WriteFile(filepath.Join(in, "a.csv"), []byte("user,song\nada,\"So, What\"\nbob,Blue\n"), 0o644)
	os.WriteFile(filepath.Join(in, "b.csv"), []byte("user,song\nbob,Red\nada,Naima\n"), 0o644)
	src, _ := objstore.Open(ctx, in, objstore.Options{})
	dst, _ := objstore.Open(ctx, out, objstore.Options{})
	var srcs []partition.Source
	for _, key := range []string{"a.csv", "b.csv"} {
		info, _ := src.Stat(ctx, key)
		srcs = append(srcs, partition.Source{Info: info, Format: tabular.CSV})
	}
	cfg := partition.Config{Keys: []string{"user"}, Dst: dst, Prefix: "job-1/groups"}
	err = partition.GroupRows(ctx, tabular.Ranges(src), srcs, cfg, func(g partition.Group) error {
		fmt.Printf("%v %v: %d rows\n", g.Values, g.Piece, g.Rows)
		_, err := tabular.ReadPiece(ctx, tabular.Ranges(dst), g.Piece, func(r tabular.Record) error {
			fmt.Printf("  %q\n", r.Fields)
			return nil
		}, nil)
		return err
	})
	if err != nil {
		panic(err)
	}
	// Output:
	// map[user:ada] job-1/groups/000000.csv[10:35]: 2 rows
	//   ["ada" "So, What"]
	//   ["ada" "Naima"]
	// map[user:bob] job-1/groups/000001.csv[10:27]: 2 rows
	//   ["bob" "Blue"]
	//   ["bob" "Red"]
}
