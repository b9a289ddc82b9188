package partition

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/parallelrun/prs/internal/tabular"
)

// GroupRows reads every record of srcs, in order, through r and calls fn
// with one [Group] per distinct combination of the values of cfg.Keys, in
// the order in which each combination first appears. Before fn sees a group,
// its rows are staged as one object in cfg.Dst (see the package
// documentation for the format and the memory used). An error from fn stops
// GroupRows and is returned as is.
//
// Errors wrap [ErrInvalidConfig] (cfg), [ErrMissingColumn] (a key absent from
// a CSV header or Parquet schema, naming the column and the file),
// [ErrMalformedRow] (naming the file and row; the [*tabular.RowError] is in
// the chain too) or [ErrGroupTooLarge] (naming the values and sizes; found
// while reading, so nothing is staged), or come from tabular's planning and
// reading, from cfg.Dst or from the local spill files.
func GroupRows(ctx context.Context, r tabular.RangeReader, srcs []Source, cfg Config, fn func(Group) error) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	plans, err := planAll(ctx, r, srcs, cfg.Keys)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(cfg.TempDir, "prs-partition-")
	if err != nil {
		return fmt.Errorf("partition: spill folder: %w", err)
	}
	defer os.RemoveAll(dir)
	sp := &spill{dir: dir}
	defer sp.close()
	p := &partitioner{
		cfg:    cfg,
		header: csvHeader(plans),
		spill:  sp,
		enc:    newLineEncoder(),
		vals:   make([]string, len(cfg.Keys)),
		kinds:  make([]valueKind, len(cfg.Keys)),
		groups: map[string]*group{},
	}
	for _, pieces := range plans {
		for _, piece := range pieces {
			if err := p.read(ctx, r, piece); err != nil {
				return err
			}
		}
	}
	return p.stage(ctx, fn)
}

// planAll plans each source as whole pieces (one per source that holds
// records; a piece size beyond the object's size gives one) and checks that
// each CSV header and Parquet schema has every key.
func planAll(ctx context.Context, r tabular.RangeReader, srcs []Source, keys []string) ([][]tabular.Piece, error) {
	plans := make([][]tabular.Piece, len(srcs))
	for i, src := range srcs {
		size := src.Info.Size + 1
		if size <= 0 {
			size = math.MaxInt64
		}
		err := tabular.Plan(ctx, r, src.Info, src.Format, size, func(p tabular.Piece) error {
			if p.Format != tabular.JSONL {
				for _, k := range keys {
					if !slices.Contains(p.Columns, k) {
						return fmt.Errorf("%w: %q is not a column of %s (columns: %s)", ErrMissingColumn, k, p.Key, quoteList(p.Columns))
					}
				}
			}
			// Pieces that share a header share its fields.
			if i > 0 && len(plans[i-1]) > 0 && slices.Equal(p.Columns, plans[i-1][0].Columns) {
				p.Columns = plans[i-1][0].Columns
			}
			plans[i] = append(plans[i], p)
			return nil
		})
		if err != nil && !errors.Is(err, ErrMissingColumn) {
			err = fmt.Errorf("partition: %w", err)
		}
		if err != nil {
			return nil, err
		}
	}
	return plans, nil
}

// csvHeader returns the header of the staged CSV objects when every piece
// is CSV with the same header, and nil when the groups are staged as JSON
// Lines.
func csvHeader(plans [][]tabular.Piece) []string {
	var header []string
	for _, pieces := range plans {
		for _, p := range pieces {
			if p.Format != tabular.CSV || (header != nil && !slices.Equal(header, p.Columns)) {
				return nil
			}
			header = p.Columns
		}
	}
	return header
}

// partitioner reads the input into spill files and then stages the groups.
type partitioner struct {
	cfg    Config
	header []string // staged CSV header; nil for JSON Lines
	spill  *spill
	enc    *lineEncoder
	vals   []string    // the values of the row being read
	kinds  []valueKind // and how each is typed
	kbuf   []byte
	groups map[string]*group
	order  []*group // by first appearance
}

// errStop ends a ReadPiece after a malformed row.
var errStop = errors.New("partition: stop")

// read spills the records of one piece. The first malformed record stops it.
func (p *partitioner) read(ctx context.Context, r tabular.RangeReader, piece tabular.Piece) error {
	var cols []int // CSV: the key columns' indexes
	if piece.Format == tabular.CSV {
		// A group staged as CSV reaches run() through pandas.read_csv,
		// which types its key column; one staged as JSON Lines holds text.
		kind := kindString
		if p.header != nil {
			kind = kindText
		}
		for i, k := range p.cfg.Keys {
			cols = append(cols, slices.Index(piece.Columns, k))
			p.kinds[i] = kind
		}
	}
	var (
		seen int64 // records read, malformed ones included
		bad  *tabular.RowError
	)
	_, err := tabular.ReadPiece(ctx, r, piece, func(rec tabular.Record) error {
		seen++
		if bad != nil {
			return errStop
		}
		var line []byte
		if piece.Format == tabular.CSV {
			for i, c := range cols {
				p.vals[i] = rec.Fields[c]
			}
			if p.header != nil {
				line = p.enc.csvLine(rec.Fields)
			} else {
				line = p.enc.objectLine(piece.Columns, rec.Fields)
			}
		} else {
			if err := jsonValues(rec.JSON, p.cfg.Keys, p.vals, p.kinds); err != nil {
				bad = &tabular.RowError{Key: piece.Key, Row: seen, Offset: rec.Offset, Err: err}
				return errStop
			}
			line = p.enc.jsonLine(rec.JSON)
		}
		return p.add(piece.Key, seen, line)
	}, func(e *tabular.RowError) {
		seen++
		if bad == nil {
			c := *e
			if c.Row == 0 {
				c.Row = seen // JSON Lines: the whole object is read, so the count is the row
			}
			bad = &c
		}
	})
	if bad != nil {
		return fmt.Errorf("%w: %w", ErrMalformedRow, bad)
	}
	if err != nil && !errors.Is(err, ErrGroupTooLarge) {
		err = fmt.Errorf("partition: %w", err)
	}
	return err
}

// add spills the staged line of row (of object key) into the group of
// p.vals.
func (p *partitioner) add(key string, row int64, line []byte) error {
	p.kbuf = appendGroupKey(p.kbuf[:0], p.vals)
	g := p.groups[string(p.kbuf)]
	if g == nil {
		h := fnv.New64a()
		h.Write(p.kbuf)
		g = &group{key: string(p.kbuf), bucket: int(h.Sum64() % numBuckets), kinds: slices.Clone(p.kinds)}
		p.groups[g.key] = g
		p.order = append(p.order, g)
	}
	if n := g.bytes + int64(len(line)); n > p.cfg.MaxGroupBytes {
		return fmt.Errorf("%w: the group %s holds more than the limit of %d bytes (partition_max_size): %d bytes in %d rows at row %d of %s; raise partition_max_size if a worker can hold it, or partition more finely",
			ErrGroupTooLarge, describe(p.cfg.Keys, p.vals), p.cfg.MaxGroupBytes, n, g.rows+1, row, key)
	}
	return p.spill.add(g, line)
}

// stage puts each group's object, in order, and hands the group to fn.
func (p *partitioner) stage(ctx context.Context, fn func(Group) error) error {
	if err := p.spill.flush(); err != nil {
		return err
	}
	format, ext, header := tabular.JSONL, ".jsonl", []byte(nil)
	if p.header != nil {
		format, ext = tabular.CSV, ".csv"
		header = slices.Clone(p.enc.csvLine(p.header))
	}
	for n, g := range p.order {
		if err := ctx.Err(); err != nil {
			return err
		}
		p.order[n] = nil // free the bookkeeping as we go
		delete(p.groups, g.key)
		vals := groupValues(g.key, p.cfg.Keys)
		f, size, err := p.spill.assemble(header, g)
		if err != nil {
			return err
		}
		key := fmt.Sprintf("%s/%06d%s", p.cfg.Prefix, n, ext)
		if err := p.cfg.Dst.Put(ctx, key, f); err != nil {
			return fmt.Errorf("partition: stage group %d (%s): %w", n, describe(p.cfg.Keys, vals), err)
		}
		piece := tabular.Piece{Key: key, Format: format, ObjectSize: size, Start: int64(len(header)), End: size,
			Columns: p.header, FirstRow: 1, Rows: g.rows}
		values := make(map[string]string, len(vals))
		for i, k := range p.cfg.Keys {
			values[k] = vals[i]
		}
		if err := fn(Group{Values: values, Ordered: typedValues(p.cfg.Keys, vals, g.kinds), Piece: piece, Rows: g.rows, Bytes: g.bytes}); err != nil {
			return err
		}
	}
	return nil
}

// describe writes key values as {user="ada", genre="jazz"}.
func describe(keys, vals []string) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, vals[i])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
