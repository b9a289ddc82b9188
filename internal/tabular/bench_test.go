package tabular_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/tabular"
)

// Environment of the memory benchmark: the CSV's size in MiB (default
// 1024), and the file a child process plans.
const (
	benchMBEnv   = "PRS_TABULAR_BENCH_MB"
	planChildEnv = "PRS_TABULAR_PLAN_FILE"
)

// maxPlanRSS is the producer's memory budget for planning one CSV.
const maxPlanRSS = 100 << 20

// BenchmarkPlanCSV1GB plans a 1 GiB CSV (quoted commas and line breaks in
// every block of rows) at the default piece size in a child process, and
// reports the child's peak resident memory (VmHWM of /proc/self/status,
// which includes the Go runtime and the test binary) and its throughput. It
// fails when the peak reaches 100 MB. PRS_TABULAR_BENCH_MB sets another
// size in MiB. CI runs it once (go test -bench . -benchtime 1x).
func BenchmarkPlanCSV1GB(b *testing.B) {
	mb := int64(1024)
	if s := os.Getenv(benchMBEnv); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v <= 0 {
			b.Fatalf("%s=%q: want a positive number of MiB", benchMBEnv, s)
		}
		mb = v
	}
	path := filepath.Join(b.TempDir(), "big.csv")
	size, rows := writeBigCSV(b, path, mb<<20)
	b.SetBytes(size)
	b.ResetTimer()
	var peak int64
	for range b.N {
		start := time.Now()
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), planChildEnv+"="+path)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("child: %v\n%s", err, out)
		}
		var pieces, gotRows, hwm int64
		line := out[bytes.Index(out, []byte("PLAN ")):]
		if _, err := fmt.Sscanf(string(line), "PLAN pieces=%d rows=%d vmhwm_kb=%d", &pieces, &gotRows, &hwm); err != nil {
			b.Fatalf("child output: %v\n%s", err, out)
		}
		if gotRows != rows || pieces < size/tabular.DefaultPieceSize-1 || pieces > size/tabular.DefaultPieceSize+1 {
			b.Fatalf("child planned %d pieces of %d rows; want about %d pieces of %d rows", pieces, gotRows, size/tabular.DefaultPieceSize, rows)
		}
		peak = max(peak, hwm<<10)
		b.Logf("planned %d MiB (%d rows) into %d pieces in %v, peak RSS %.1f MB", size>>20, rows, pieces, time.Since(start).Round(time.Millisecond), float64(hwm<<10)/1e6)
	}
	b.ReportMetric(float64(peak)/1e6, "peak-RSS-MB")
	if peak >= maxPlanRSS {
		b.Fatalf("peak RSS %d bytes, budget %d", peak, maxPlanRSS)
	}
}

// planChild is the child process of BenchmarkPlanCSV1GB (see TestMain):
// it plans the CSV at path and prints what it saw and its peak memory.
func planChild(path string) error {
	ctx := context.Background()
	store, err := objstore.Open(ctx, filepath.Dir(path), objstore.Options{})
	if err != nil {
		return err
	}
	obj, err := store.Stat(ctx, filepath.Base(path))
	if err != nil {
		return err
	}
	var pieces, rows int64
	err = tabular.Plan(ctx, tabular.Ranges(store), obj, tabular.CSV, tabular.DefaultPieceSize, func(p tabular.Piece) error {
		pieces++
		rows += p.Rows
		return nil
	})
	if err != nil {
		return err
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err
	}
	var hwm int64
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			hwm, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("PLAN pieces=%d rows=%d vmhwm_kb=%d heap_sys_kb=%d\n", pieces, rows, hwm, ms.HeapSys>>10)
	return nil
}

// writeBigCSV writes a CSV of at least size bytes: a block of 10,000 rows
// of the test CSV repeated. It returns the size and the data rows.
func writeBigCSV(tb testing.TB, path string, size int64) (int64, int64) {
	tb.Helper()
	var block bytes.Buffer
	cw := csv.NewWriter(&block)
	const blockRows = 10_000
	for i := 1; i <= blockRows; i++ {
		cw.Write(csvRow(i))
	}
	cw.Flush()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	cw = csv.NewWriter(w)
	cw.Write(csvHeader)
	cw.Flush()
	written, rows := int64(w.Buffered()), int64(0)
	for written < size {
		n, _ := w.Write(block.Bytes())
		written += int64(n)
		rows += blockRows
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return written, rows
}

// BenchmarkReadPiece reads every 1 MiB piece of an 8 MiB file of each
// format and reports records per second.
func BenchmarkReadPiece(b *testing.B) {
	for _, format := range []tabular.Format{tabular.CSV, tabular.JSONL, tabular.Parquet} {
		b.Run(string(format), func(b *testing.B) {
			bb := setup(b)
			key := "rows." + string(format)
			var obj objstore.ObjectInfo
			switch format {
			case tabular.CSV:
				obj = bb.write(key, func(w *bufio.Writer) { writeCSV(w, 180_000) })
			case tabular.JSONL:
				obj = bb.write(key, func(w *bufio.Writer) { writeJSONL(w, 100_000) })
			case tabular.Parquet:
				f, err := os.Create(filepath.Join(bb.dir, key))
				if err != nil {
					b.Fatal(err)
				}
				writeParquet(b, f, 160_000, 0)
				f.Close()
				obj = bb.stat(key)
			}
			pieces, err := bb.plan(obj, format, tabular.DefaultPieceSize)
			if err != nil {
				b.Fatal(err)
			}
			r := tabular.Ranges(bb.store)
			b.SetBytes(obj.Size)
			b.ResetTimer()
			var records int64
			for range b.N {
				for _, p := range pieces {
					c, err := tabular.ReadPiece(bb.ctx, r, p, func(tabular.Record) error { return nil }, nil)
					if err != nil {
						b.Fatal(err)
					}
					records += c.Good
				}
			}
			b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
