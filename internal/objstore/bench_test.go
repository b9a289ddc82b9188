package objstore_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/parallelrun/prs/internal/objstore"
)

func BenchmarkLocalList(b *testing.B) {
	s, err := objstore.Open(b.Context(), b.TempDir(), objstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	const n = 2000
	for i := range n {
		if err := s.Put(b.Context(), fmt.Sprintf("d%02d/f%04d.csv", i%20, i), bytes.NewReader(nil)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		count := 0
		if err := s.List(b.Context(), "", func(objstore.ObjectInfo) error { count++; return nil }); err != nil {
			b.Fatal(err)
		}
		if count != n {
			b.Fatalf("listed %d, want %d", count, n)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "objects/s")
}

func BenchmarkS3Put(b *testing.B) {
	s, err := objstore.Open(b.Context(), "s3://"+minio.NewBucket(b), s3Options(b))
	if err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 64<<10)
	i := 0
	for b.Loop() {
		if err := s.Put(b.Context(), fmt.Sprintf("k/%d", i), bytes.NewReader(body)); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "objects/s")
}
