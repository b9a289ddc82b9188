package partition_test

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/partition"
	"github.com/parallelrun/prs/internal/tabular"
)

// noneStaged fails when the output store holds an object.
func noneStaged(t *testing.T, b *bundle) {
	t.Helper()
	err := b.out.List(t.Context(), "", func(o objstore.ObjectInfo) error {
		return fmt.Errorf("staged %s", o.Key)
	})
	if err != nil {
		t.Error(err)
	}
}

func TestGroupTooLarge(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.put("a.csv", tabular.CSV, []byte("user,n\nada,1\nbob,2\nada,3\n"))
	c := b.put("c.csv", tabular.CSV, []byte("user,n\nada,4\n"))
	cfg := b.config("user")
	cfg.MaxGroupBytes = 12 // each row is 6 bytes
	groups, err := b.run(cfg, a, c)
	if !errors.Is(err, partition.ErrGroupTooLarge) || len(groups) != 0 {
		t.Fatalf("got %d groups, %v; want ErrGroupTooLarge", len(groups), err)
	}
	for _, want := range []string{`user="ada"`, "limit of 12 bytes", "18 bytes in 3 rows", "row 1 of c.csv"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q should say %s", err, want)
		}
	}
	noneStaged(t, b)

	cfg.MaxGroupBytes = 18 // exactly fits
	if groups, err := b.run(cfg, a, c); err != nil || len(groups) != 2 || groups[0].Bytes != 18 {
		t.Errorf("MaxGroupBytes 18: %v, %v", groups, err)
	}
}

func TestGroupMalformedRow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		format tabular.Format
		data   string
		row    int64
		cause  error
	}{
		{"ragged.csv", tabular.CSV, "user,n\nada,1\n\"bob\nby\",2\nada,3,x\nada,4\n", 3, tabular.ErrRaggedRow},
		{"quote.csv", tabular.CSV, "user,n\nada,1\nbo\"b,2\n", 2, csv.ErrBareQuote},
		{"bad.jsonl", tabular.JSONL, "{\"user\":\"ada\"}\n\n[1,2]\n{\"user\":\"bob\"}\n", 2, tabular.ErrInvalidJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ok := b.put("ok.csv", tabular.CSV, []byte("user,n\nada,0\n"))
			groups, err := b.run(b.config("user"), ok, b.put(tt.name, tt.format, []byte(tt.data)))
			var re *tabular.RowError
			if !errors.Is(err, partition.ErrMalformedRow) || !errors.Is(err, tt.cause) || !errors.As(err, &re) || len(groups) != 0 {
				t.Fatalf("got %d groups, %v; want ErrMalformedRow wrapping %v", len(groups), err, tt.cause)
			}
			if re.Key != tt.name || re.Row != tt.row || !strings.Contains(err.Error(), fmt.Sprintf("%s: row %d", tt.name, tt.row)) {
				t.Errorf("%v: want %s row %d", err, tt.name, tt.row)
			}
			noneStaged(t, b)
		})
	}
}

func TestGroupMissingColumn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.put("a.csv", tabular.CSV, []byte("user,n\nada,1\n"))
	p := b.put("p.parquet", tabular.Parquet, parquetData(t, 10, song{User: "ada"}))
	j := b.put("j.jsonl", tabular.JSONL, jsonlData(`{"user":"ada"}`))
	for _, tt := range []struct {
		src  partition.Source
		want []string
	}{
		{a, []string{`"genre"`, "a.csv", `"user", "n"`}},
		{p, []string{`"album"`, "p.parquet", `"user", "genre", "plays"`}},
	} {
		key := strings.Trim(tt.want[0], `"`)
		_, err := b.run(b.config("user", key), j, tt.src)
		if !errors.Is(err, partition.ErrMissingColumn) {
			t.Errorf("%s: %v, want ErrMissingColumn", tt.src.Info.Key, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q should name %s", err, w)
			}
		}
	}
	noneStaged(t, b)
}

func TestGroupStopsOnCallbackError(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.put("a.csv", tabular.CSV, []byte("user\nada\nbob\ncy\n"))
	stop := errors.New("stop here")
	calls := 0
	err := partition.GroupRows(t.Context(), tabular.Ranges(b.in), []partition.Source{a}, b.config("user"), func(g partition.Group) error {
		calls++
		if g.Values["user"] == "bob" {
			return stop
		}
		return nil
	})
	if err != stop || calls != 2 {
		t.Errorf("got %v after %d calls; want the callback's error as is after 2", err, calls)
	}
	b.checkClean()

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = partition.GroupRows(ctx, tabular.Ranges(b.in), []partition.Source{a}, b.config("user"), func(partition.Group) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	b.checkClean()
}

func TestGroupConfigErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, mod := range []func(*partition.Config){
		func(c *partition.Config) { c.Keys = nil },
		func(c *partition.Config) { c.Keys = []string{"user", "user"} },
		func(c *partition.Config) { c.Keys = []string{""} },
		func(c *partition.Config) { c.Dst = nil },
		func(c *partition.Config) { c.Prefix = "" },
		func(c *partition.Config) { c.Prefix = "/abs" },
		func(c *partition.Config) { c.Prefix = "dir/" },
		func(c *partition.Config) { c.MaxGroupBytes = -1 },
	} {
		cfg := b.config("user")
		mod(&cfg)
		if _, err := b.run(cfg); !errors.Is(err, partition.ErrInvalidConfig) {
			t.Errorf("%+v: %v, want ErrInvalidConfig", cfg, err)
		}
	}
}
