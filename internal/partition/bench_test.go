package partition_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/partition"
	"github.com/parallelrun/prs/internal/tabular"
)

// BenchmarkGroupRows groups a CSV of rows rows into groups groups (keys
// spread round-robin, the worst case for locality) and reports rows/s and
// the heap that the bookkeeping holds once the input is read, per row and
// per group. Each group is one Put, which the local store syncs to disk, so
// the group counts stay small.
func BenchmarkGroupRows(b *testing.B) {
	for _, c := range []struct{ rows, groups int }{{200_000, 500}, {1_000, 1_000}} {
		b.Run(fmt.Sprintf("rows=%d/groups=%d", c.rows, c.groups), func(b *testing.B) {
			dir := b.TempDir()
			f, err := os.Create(filepath.Join(dir, "in.csv"))
			if err != nil {
				b.Fatal(err)
			}
			w := bufio.NewWriter(f)
			w.WriteString("id,user,note\n")
			for i := range c.rows {
				fmt.Fprintf(w, "%d,user-%07d,\"some, text %d\"\n", i, i%c.groups, i)
			}
			w.Flush()
			f.Close()
			in, _ := objstore.Open(b.Context(), dir, objstore.Options{})
			info, err := in.Stat(b.Context(), "in.csv")
			if err != nil {
				b.Fatal(err)
			}
			srcs := []partition.Source{{Info: info, Format: tabular.CSV}}
			var held float64
			for b.Loop() {
				out, _ := objstore.Open(b.Context(), b.TempDir(), objstore.Options{})
				cfg := partition.Config{Keys: []string{"user"}, Dst: out, Prefix: "g", TempDir: b.TempDir()}
				var before runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				n := 0
				err := partition.GroupRows(b.Context(), tabular.Ranges(in), srcs, cfg, func(partition.Group) error {
					if n == 0 {
						var after runtime.MemStats
						runtime.GC()
						runtime.ReadMemStats(&after)
						// Less the fixed 256 KiB buffer of the stage file, allocated by now.
						held = float64(int64(after.HeapAlloc) - int64(before.HeapAlloc) - 256<<10)
					}
					n++
					return nil
				})
				if err != nil || n != c.groups {
					b.Fatalf("%d groups, %v", n, err)
				}
			}
			b.ReportMetric(float64(c.rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(held/float64(c.rows), "heap-B/row")
			b.ReportMetric(held/float64(c.groups), "heap-B/group")
		})
	}
}
