package partition_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"slices"
	"testing"

	"github.com/parallelrun/prs/internal/partition"
	"github.com/parallelrun/prs/internal/tabular"
)

var songHeader = []string{"id", "user", "note", "plays"}

// songRecord is CSV row i of file f: users repeat across files, some with a
// comma or a line break in the value; notes hold quoted commas, line breaks
// (LF and CRLF) and quotes.
func songRecord(f, i int) []string {
	users := []string{"ada", "bob", "Doe, Jane", "multi\nline", "eve", ""}
	user := users[(i*7+f*3)%len(users)]
	if f == 1 && i%10 == 0 {
		user = "only-in-b"
	}
	note := "plain"
	switch {
	case i%3 == 0:
		note = fmt.Sprintf("a, b, %d", i)
	case i%5 == 0:
		note = fmt.Sprintf("line one\r\nline \"two\" %d\n", i)
	case i%7 == 0:
		note = " leading space"
	}
	return []string{fmt.Sprintf("%d-%d", f, i), user, note, fmt.Sprint(i * f)}
}

// modelGroups groups CSV records (the header first in each file) by column
// col in order of first appearance, as GroupRows must.
func modelGroups(t *testing.T, col int, files ...[]byte) (keys []string, rows map[string][][]string) {
	t.Helper()
	rows = map[string][][]string{}
	for _, data := range files {
		recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs[1:] {
			k := rec[col]
			if _, ok := rows[k]; !ok {
				keys = append(keys, k)
			}
			rows[k] = append(rows[k], rec)
		}
	}
	return keys, rows
}

func TestGroupCSV(t *testing.T) {
	t.Parallel()
	for _, n := range []int{40, 3000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			var files [][]byte
			var srcs []partition.Source
			for f := range 2 {
				recs := [][]string{songHeader}
				for i := 1; i <= n; i++ {
					recs = append(recs, songRecord(f, i))
				}
				data := csvData(recs...)
				files = append(files, data)
				if f == 1 {
					data = append([]byte("\ufeff"), data...) // a byte order mark does not change the header
				}
				srcs = append(srcs, b.put(fmt.Sprintf("f%d.csv", f), tabular.CSV, data))
			}
			srcs = append(srcs, b.put("empty.csv", tabular.CSV, []byte("other,header\n")))
			groups, err := b.run(b.config("user"), srcs...)
			if err != nil {
				t.Fatal(err)
			}
			wantKeys, wantRows := modelGroups(t, 1, files...)
			if len(groups) != len(wantKeys) {
				t.Fatalf("%d groups, want %d (%q)", len(groups), len(wantKeys), wantKeys)
			}
			var total int64
			for i, g := range groups {
				k := wantKeys[i]
				if len(g.Values) != 1 || g.Values["user"] != k {
					t.Errorf("group %d: Values %q, want user=%q (first appearance order)", i, g.Values, k)
				}
				p := g.Piece
				if p.Format != tabular.CSV || p.Key != fmt.Sprintf("job/groups/%06d.csv", i) ||
					!slices.Equal(p.Columns, songHeader) || p.FirstRow != 1 || p.End != p.ObjectSize {
					t.Errorf("group %d: piece %+v", i, p)
				}
				fields, _ := b.read(g)
				if !slices.EqualFunc(fields, wantRows[k], slices.Equal) {
					t.Errorf("group %q: rows\n%q\nwant\n%q", k, fields, wantRows[k])
				}
				total += g.Rows
			}
			if total != int64(2*n) {
				t.Errorf("%d rows in all groups, want %d", total, 2*n)
			}
		})
	}
}

// sourceRows reads a source's JSON rows with tabular itself.
func sourceRows(t *testing.T, b *bundle, src partition.Source) []string {
	t.Helper()
	var rows []string
	err := tabular.Plan(t.Context(), tabular.Ranges(b.in), src.Info, src.Format, 1<<30, func(p tabular.Piece) error {
		_, err := tabular.ReadPiece(t.Context(), tabular.Ranges(b.in), p, func(r tabular.Record) error {
			rows = append(rows, string(r.JSON))
			return nil
		}, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestGroupMixedFormats(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.put("c.csv", tabular.CSV, csvData([]string{"user", "plays"}, []string{"ada", "5"}, []string{"bob", "1,\"2\"\n"}))
	j := b.put("j.jsonl", tabular.JSONL, jsonlData(
		`{"user":"bob","plays":2}`,
		`{"user":7,"plays":1}`,
		`{"plays":3}`,
		``,
		`{"user":null,"plays":4}`,
		`{"user":"7"}`,
		`{"user":true}`,
		`  {"user": "ada" , "x":[1, 2]}  `,
		`{"user":"say \"hi\"\n"}`,
	))
	p := b.put("p.parquet", tabular.Parquet, parquetData(t, 2,
		song{User: "ada", Genre: ptr("jazz"), Plays: 10},
		song{User: "carl", Plays: 11},
		song{User: "bob", Genre: ptr("rock"), Plays: 12},
	))
	pq := sourceRows(t, b, p)
	groups, err := b.run(b.config("user"), c, j, p)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		value string
		rows  []string
	}{
		{"ada", []string{`{"user":"ada","plays":"5"}`, `{"user": "ada" , "x":[1, 2]}`, pq[0]}},
		{"bob", []string{`{"user":"bob","plays":"1,\"2\"\n"}`, `{"user":"bob","plays":2}`, pq[2]}},
		{"7", []string{`{"user":7,"plays":1}`, `{"user":"7"}`}},
		{"", []string{`{"plays":3}`, `{"user":null,"plays":4}`}},
		{"true", []string{`{"user":true}`}},
		{"say \"hi\"\n", []string{`{"user":"say \"hi\"\n"}`}},
		{"carl", []string{pq[1]}},
	}
	if len(groups) != len(want) {
		t.Fatalf("%d groups, want %d: %v", len(groups), len(want), groups)
	}
	for i, g := range groups {
		if g.Values["user"] != want[i].value {
			t.Errorf("group %d: user %q, want %q", i, g.Values["user"], want[i].value)
		}
		if p := g.Piece; p.Format != tabular.JSONL || p.Key != fmt.Sprintf("job/groups/%06d.jsonl", i) || len(p.Columns) != 0 || p.Start != 0 {
			t.Errorf("group %d: piece %+v", i, p)
		}
		_, rows := b.read(g)
		if !slices.Equal(rows, want[i].rows) {
			t.Errorf("group %q: rows\n%q\nwant\n%q", want[i].value, rows, want[i].rows)
		}
		for _, row := range rows {
			if v := field(t, row, "user"); v != g.Values["user"] {
				t.Errorf("group %q holds row %s", g.Values["user"], row)
			}
		}
	}
}

func TestGroupMultipleKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)
	header := []string{"user", "genre", "n"}
	a := b.put("a.csv", tabular.CSV, csvData(header, []string{"ada", "jazz", "1"}, []string{"ada", "rock", "2"}, []string{"bob", "jazz", "3"}))
	// Values that would collide if they were simply joined.
	c := b.put("c.csv", tabular.CSV, csvData(header, []string{"ada", "jazz", "4"}, []string{"ada,jazz", "", "5"}, []string{"ada", "jazz,", "6"}))
	groups, err := b.run(b.config("genre", "user"), a, c)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		user, genre string
		ns          []string
	}{
		{"ada", "jazz", []string{"1", "4"}}, {"ada", "rock", []string{"2"}}, {"bob", "jazz", []string{"3"}},
		{"ada,jazz", "", []string{"5"}}, {"ada", "jazz,", []string{"6"}},
	}
	if len(groups) != len(want) {
		t.Fatalf("%d groups, want %d", len(groups), len(want))
	}
	for i, g := range groups {
		w := want[i]
		if len(g.Values) != 2 || g.Values["user"] != w.user || g.Values["genre"] != w.genre {
			t.Errorf("group %d: %q, want user=%q genre=%q", i, g.Values, w.user, w.genre)
		}
		fields, _ := b.read(g)
		var ns []string
		for _, f := range fields {
			ns = append(ns, f[2])
		}
		if !slices.Equal(ns, w.ns) {
			t.Errorf("group %d: rows %q, want n=%q", i, fields, w.ns)
		}
	}
}

func TestGroupDifferentCSVHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.put("a.csv", tabular.CSV, []byte("user,x\nada,1\n"))
	c := b.put("c.csv", tabular.CSV, []byte("x,user\n2,ada\n\"<&>\",bob\n"))
	groups, err := b.run(b.config("user"), a, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 2 {
		t.Fatalf("%d groups, want 2", len(groups))
	}
	_, ada := b.read(groups[0])
	_, bob := b.read(groups[1])
	if want := []string{`{"user":"ada","x":"1"}`, `{"x":"2","user":"ada"}`}; !slices.Equal(ada, want) {
		t.Errorf("ada: %q, want %q", ada, want)
	}
	if want := []string{`{"x":"<&>","user":"bob"}`}; !slices.Equal(bob, want) {
		t.Errorf("bob: %q, want %q", bob, want)
	}
}

func TestGroupOneEmptyColumn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.put("a.csv", tabular.CSV, []byte("user\nada\n\"\"\nbob\n\"\"\n"))
	groups, err := b.run(b.config("user"), a)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range groups {
		fields, _ := b.read(g)
		got = append(got, fmt.Sprintf("%s:%d", g.Values["user"], len(fields)))
	}
	if want := []string{"ada:1", ":2", "bob:1"}; !slices.Equal(got, want) {
		t.Errorf("groups %q, want %q", got, want)
	}
}

func TestGroupNoRows(t *testing.T) {
	t.Parallel()
	b := setup(t)
	groups, err := b.run(b.config("user"), b.put("h.csv", tabular.CSV, []byte("user\n")), b.put("e.jsonl", tabular.JSONL, nil))
	if err != nil || len(groups) != 0 {
		t.Errorf("got %v, %v; want no groups", groups, err)
	}
}
