package resultfmt

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// column is a column of a Parquet file read back: its name, physical kind,
// whether it is a UTF8 string, and whether it is optional.
type column struct {
	Name     string
	Kind     parquet.Kind
	String   bool
	Optional bool
}

// readParquet opens b with parquet-go and returns its columns, its row
// groups' count, and its rows as Go values (nil for null).
func readParquet(t *testing.T, b []byte) ([]column, int, [][]any) {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("parquet.OpenFile: %v", err)
	}
	var cols []column
	for _, fl := range f.Schema().Fields() {
		lt := fl.Type().LogicalType()
		utf8 := false
		if lt != nil {
			_, utf8 = lt.Value.(*format.StringType)
		}
		cols = append(cols, column{fl.Name(), fl.Type().Kind(), utf8, fl.Optional()})
	}
	var rows [][]any
	buf := make([]parquet.Row, 100)
	for _, rg := range f.RowGroups() {
		rr := rg.Rows()
		for {
			n, err := rr.ReadRows(buf)
			for _, row := range buf[:n] {
				vals := make([]any, len(cols))
				for _, v := range row {
					if v.IsNull() {
						continue
					}
					switch v.Kind() {
					case parquet.Boolean:
						vals[v.Column()] = v.Boolean()
					case parquet.Int64:
						vals[v.Column()] = v.Int64()
					case parquet.Double:
						vals[v.Column()] = v.Double()
					default:
						vals[v.Column()] = string(v.ByteArray())
					}
				}
				rows = append(rows, vals)
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("read rows: %v", err)
			}
		}
		rr.Close()
	}
	if int64(len(rows)) != f.NumRows() {
		t.Errorf("read %d rows, the footer says %d", len(rows), f.NumRows())
	}
	return cols, len(f.RowGroups()), rows
}

func TestFinalParquet(t *testing.T) {
	t.Parallel()
	in := `{"b":true,"i":1,"d":1,"s":"x","mixed":1,"nested":[1, 2],"allnull":null,"big":1}` + "\n" +
		`{"b":false,"i":-9223372036854775808,"d":2.5,"s":null,"mixed":"two","nested":{"k":"v"}}` + "\n" +
		"\n" +
		`{"i":null,"d":1e3,"s":"y z","mixed":true,"late":"new","big":9223372036854775808}` + "\n" +
		`{}`
	cols, _, rows := readParquet(t, final(t, Parquet, in))
	wantCols := []column{
		{"b", parquet.Boolean, false, true},
		{"i", parquet.Int64, false, true},
		{"d", parquet.Double, false, true},
		{"s", parquet.ByteArray, true, true},
		{"mixed", parquet.ByteArray, true, true},
		{"nested", parquet.ByteArray, true, true},
		{"allnull", parquet.ByteArray, true, true},
		{"big", parquet.Double, false, true},
		{"late", parquet.ByteArray, true, true},
	}
	if !reflect.DeepEqual(cols, wantCols) {
		t.Errorf("columns =\n%+v\nwant (first-seen order)\n%+v", cols, wantCols)
	}
	wantRows := [][]any{
		{true, int64(1), 1.0, "x", "1", "[1,2]", nil, 1.0, nil},
		{false, int64(-9223372036854775808), 2.5, nil, "two", `{"k":"v"}`, nil, nil, nil},
		{nil, nil, 1000.0, "y z", "true", nil, nil, 9223372036854775808.0, "new"},
		{nil, nil, nil, nil, nil, nil, nil, nil, nil},
	}
	if !reflect.DeepEqual(rows, wantRows) {
		t.Errorf("rows =\n%v\nwant\n%v", rows, wantRows)
	}
}

func TestFinalParquetFromBodies(t *testing.T) {
	t.Parallel()
	var in bytes.Buffer
	for _, rows := range [][]string{{`"cat"`, `{"label":"dog"}`}, {`3`}} {
		body, err := Body(Parquet, nil, raws(rows...))
		if err != nil {
			t.Fatal(err)
		}
		in.Write(body)
	}
	cols, _, rows := readParquet(t, final(t, Parquet, in.String()))
	if want := []column{{"result", parquet.ByteArray, true, true}}; !reflect.DeepEqual(cols, want) {
		t.Errorf("columns = %+v, want %+v", cols, want)
	}
	if want := [][]any{{"cat"}, {`{"label":"dog"}`}, {"3"}}; !reflect.DeepEqual(rows, want) {
		t.Errorf("rows = %v, want %v", rows, want)
	}
}

func TestFinalParquetEmpty(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		rows int
	}{{"", 0}, {"\n\n", 0}, {"{}\n{}\n", 2}} {
		cols, _, rows := readParquet(t, final(t, Parquet, tc.in))
		if want := []column{{"result", parquet.ByteArray, true, true}}; !reflect.DeepEqual(cols, want) {
			t.Errorf("Final(Parquet, %q) columns = %+v, want %+v", tc.in, cols, want)
		}
		if len(rows) != tc.rows {
			t.Errorf("Final(Parquet, %q) has %d rows, want %d", tc.in, len(rows), tc.rows)
		}
		for _, r := range rows {
			if r[0] != nil {
				t.Errorf("Final(Parquet, %q): row %v, want null", tc.in, r)
			}
		}
	}
}

func TestFinalParquetLarge(t *testing.T) {
	t.Parallel()
	in := writeBigInput(t, Parquet, bigRows)
	var out bytes.Buffer
	if err := Final(Parquet, in, &out); err != nil {
		t.Fatal(err)
	}
	cols, _, rows := readParquet(t, out.Bytes())
	want := []column{
		{"id", parquet.Int64, false, true},
		{"score", parquet.Double, false, true},
		{"label", parquet.ByteArray, true, true},
		{"flag", parquet.Boolean, false, true},
	}
	if !reflect.DeepEqual(cols, want) {
		t.Errorf("columns = %+v, want %+v", cols, want)
	}
	if len(rows) != bigRows {
		t.Fatalf("Final(Parquet) wrote %d rows, want %d", len(rows), bigRows)
	}
	for _, i := range []int{0, 1, 2, 99_999, bigRows - 1} {
		var label any
		if i%3 != 0 {
			label = "label " + string(rune('0'+i%7))
		}
		w := []any{int64(i), float64(i) + 0.25, label, i%2 == 0}
		if !reflect.DeepEqual(rows[i], w) {
			t.Errorf("row %d = %v, want %v", i, rows[i], w)
		}
	}
}

// TestFinalParquetRowGroups checks that row groups are cut by rows and by
// bytes, so that the writer's memory stays bounded.
func TestFinalParquetRowGroups(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		lim       limits
		minGroups int
	}{
		{"rows", limits{groupBytes: 1 << 40, groupRows: 3_000, batchRows: 100}, 7},
		{"bytes", limits{groupBytes: 100 << 10, groupRows: 1 << 40, batchRows: 100}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const n = 20_000
			in := writeBigInput(t, Parquet, n)
			f, err := os.Create(filepath.Join(t.TempDir(), "out.parquet"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := finalParquet(in, f, tc.lim); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			_, groups, rows := readParquet(t, b)
			if len(rows) != n || groups < tc.minGroups {
				t.Fatalf("%d rows in %d row groups, want %d rows in %d groups or more", len(rows), groups, n, tc.minGroups)
			}
			if rows[n-1][0] != int64(n-1) {
				t.Errorf("last row = %v", rows[n-1])
			}
		})
	}
}

func TestFinalParquetStrings(t *testing.T) {
	t.Parallel()
	in := `{"a b":"é ✓","x.y":"<tag> & \"q\""}` + "\n"
	cols, _, rows := readParquet(t, final(t, Parquet, in))
	if cols[0].Name != "a b" || cols[1].Name != "x.y" {
		t.Errorf("columns = %+v", cols)
	}
	if want := [][]any{{"é ✓", `<tag> & "q"`}}; !reflect.DeepEqual(rows, want) {
		t.Errorf("rows = %q, want %q", rows, want)
	}
	if !strings.Contains(string(final(t, Parquet, in)), "PAR1") {
		t.Error("no Parquet magic")
	}
}
