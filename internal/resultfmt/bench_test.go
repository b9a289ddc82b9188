package resultfmt

import (
	"io"
	"testing"
)

// BenchmarkFinal measures Final over bigRows DataFrame rows of four columns.
func BenchmarkFinal(b *testing.B) {
	for _, format := range []string{CSV, Parquet} {
		b.Run(format, func(b *testing.B) {
			in := writeBigInput(b, format, bigRows)
			for b.Loop() {
				if _, err := in.Seek(0, io.SeekStart); err != nil {
					b.Fatal(err)
				}
				if err := Final(format, in, io.Discard); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(bigRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
