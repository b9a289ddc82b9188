package partition_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/partition"
	"github.com/parallelrun/prs/internal/tabular"
)

// bundle is what a grouping test needs: an input store, an output store and
// a spill folder, all in temporary folders.
type bundle struct {
	t       *testing.T
	in, out objstore.Store
	inDir   string
	tmp     string
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{t: t, inDir: t.TempDir(), tmp: t.TempDir()}
	var err error
	if b.in, err = objstore.Open(t.Context(), b.inDir, objstore.Options{}); err != nil {
		t.Fatal(err)
	}
	if b.out, err = objstore.Open(t.Context(), t.TempDir(), objstore.Options{}); err != nil {
		t.Fatal(err)
	}
	return b
}

// put writes an input object and returns its source.
func (b *bundle) put(key string, format tabular.Format, data []byte) partition.Source {
	b.t.Helper()
	if err := os.WriteFile(filepath.Join(b.inDir, key), data, 0o644); err != nil {
		b.t.Fatal(err)
	}
	info, err := b.in.Stat(b.t.Context(), key)
	if err != nil {
		b.t.Fatal(err)
	}
	return partition.Source{Info: info, Format: format}
}

// config returns a config with keys that stages into b.out.
func (b *bundle) config(keys ...string) partition.Config {
	return partition.Config{Keys: keys, Dst: b.out, Prefix: "job/groups", TempDir: b.tmp}
}

// run groups srcs and returns the groups; it checks that the spill folder is
// gone, whatever the outcome.
func (b *bundle) run(cfg partition.Config, srcs ...partition.Source) ([]partition.Group, error) {
	b.t.Helper()
	var groups []partition.Group
	err := partition.GroupRows(b.t.Context(), tabular.Ranges(b.in), srcs, cfg, func(g partition.Group) error {
		groups = append(groups, g)
		return nil
	})
	b.checkClean()
	return groups, err
}

// checkClean fails when the spill folder left anything behind.
func (b *bundle) checkClean() {
	b.t.Helper()
	left, err := os.ReadDir(b.tmp)
	if err != nil {
		b.t.Fatal(err)
	}
	if len(left) > 0 {
		b.t.Fatalf("temp folder holds %d entries after GroupRows, e.g. %s", len(left), left[0].Name())
	}
}

// read reads a group's staged piece back: the CSV records or JSON rows, in
// order. It fails the test on a malformed row or a count mismatch.
func (b *bundle) read(g partition.Group) (fields [][]string, rows []string) {
	b.t.Helper()
	c, err := tabular.ReadPiece(b.t.Context(), tabular.Ranges(b.out), g.Piece, func(r tabular.Record) error {
		if r.Fields != nil {
			fields = append(fields, r.Fields)
		} else {
			rows = append(rows, string(r.JSON))
		}
		return nil
	}, func(e *tabular.RowError) { b.t.Errorf("staged %v: %v", g.Piece, e) })
	if err != nil {
		b.t.Fatalf("read %v: %v", g.Piece, err)
	}
	if c.Good != g.Rows || g.Piece.Rows != g.Rows {
		b.t.Fatalf("%v: read %d rows, group says %d, piece %d", g.Piece, c.Good, g.Rows, g.Piece.Rows)
	}
	if g.Bytes != g.Piece.End-g.Piece.Start {
		b.t.Fatalf("%v: Bytes %d, piece holds %d", g.Piece, g.Bytes, g.Piece.End-g.Piece.Start)
	}
	info, err := b.out.Stat(b.t.Context(), g.Piece.Key)
	if err != nil || info.Size != g.Piece.ObjectSize {
		b.t.Fatalf("%v: staged object %+v, %v; piece says %d bytes", g.Piece, info, err, g.Piece.ObjectSize)
	}
	return fields, rows
}

// csvData encodes records (the header first) with encoding/csv.
func csvData(records ...[]string) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.WriteAll(records)
	return buf.Bytes()
}

// jsonlData joins JSON rows into JSON Lines.
func jsonlData(rows ...string) []byte { return []byte(strings.Join(rows, "\n") + "\n") }

// song is a row of the test Parquet files.
type song struct {
	User  string  `parquet:"user"`
	Genre *string `parquet:"genre,optional"`
	Plays int64   `parquet:"plays"`
}

// parquetData writes rows as an uncompressed Parquet file with row groups of
// at most perGroup rows.
func parquetData(t *testing.T, perGroup int, rows ...song) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[song](&buf, parquet.Compression(&parquet.Uncompressed))
	for len(rows) > 0 {
		n := min(perGroup, len(rows))
		if _, err := w.Write(rows[:n]); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		rows = rows[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// field returns the JSON row's value of key as partition defines it: a
// string's text, another value's JSON text, "" for null or missing.
func field(t *testing.T, row, key string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(row), &m); err != nil {
		t.Fatalf("row %s: %v", row, err)
	}
	raw, ok := m[key]
	if !ok || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

func ptr(s string) *string { return &s }
