package partition

import (
	"fmt"
	"strings"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/tabular"
)

// DefaultMaxGroupBytes is the [Config.MaxGroupBytes] of a config that does
// not set one: 1 GiB.
const DefaultMaxGroupBytes = 1 << 30

// Source is one input object of a tabular dataset.
type Source struct {
	// Info names the object (its Key and Size, as objstore's List gives
	// them).
	Info objstore.ObjectInfo
	// Format of the object.
	Format tabular.Format
}

// Group is one partition: the rows whose key columns hold Values, staged as
// one object.
type Group struct {
	// Values maps each partition key to its value as a string: the CSV
	// field's text; for JSON rows a JSON string's text, another value's JSON
	// text, "" for null or a missing key.
	Values map[string]string
	// Ordered holds the same values in the order of Config.Keys, each
	// typed as the key column of the group's DataFrame in run() holds it
	// (mini_batch_context.partition_key_value): for a group staged as CSV,
	// as pandas.read_csv types the field ("7" is the integer 7, "1.5" a
	// float, "true" a boolean, "" or "NA" null, other text a string); for
	// one staged as JSON Lines, a JSON Lines value as written (a number, a
	// boolean, null for null or a missing key) and a CSV field as a string.
	// Where rows with the string "7" and the number 7 share a group (their
	// texts are equal), the first row's type is the group's.
	Ordered contracts.PartitionValues
	// Piece is the group's staged object in Config.Dst, whole:
	// tabular.ReadPiece(ctx, tabular.Ranges(dst), piece, ...) hands out
	// exactly the group's rows. Format, Key, ObjectSize, Start and End
	// (CSV: from just after the header line to the end), Columns (the CSV
	// header; empty for JSON Lines), FirstRow (1) and Rows are set; FirstRow
	// and Rows are set for JSON Lines too, since the count is known here.
	Piece tabular.Piece
	// Rows is the number of rows in the group (Piece.Rows).
	Rows int64
	// Bytes is the size of the group's rows in the staged object, the CSV
	// header not included (Piece.End - Piece.Start).
	Bytes int64
}

// Config configures [GroupRows].
type Config struct {
	// Keys are the partition_keys: the columns whose values make a group.
	// Required: at least one, none empty or repeated.
	Keys []string
	// MaxGroupBytes bounds the staged rows of one group (Group.Bytes); a
	// group that holds more fails GroupRows with [ErrGroupTooLarge]. Default
	// (0): [DefaultMaxGroupBytes], 1 GiB.
	MaxGroupBytes int64
	// Dst is the store where the groups are staged. Required.
	Dst objstore.Store
	// Prefix starts the staged objects' keys: Prefix + "/000000.csv" (or
	// ".jsonl"), numbered from 0 in group order. Required; it must not start
	// or end with '/'.
	Prefix string
	// TempDir is the local folder where GroupRows makes its private spill
	// folder, removed when it returns. Default (""): os.TempDir().
	TempDir string
}

func (c *Config) validate() error {
	if err := checkKeys(c.Keys); err != nil {
		return err
	}
	switch {
	case c.MaxGroupBytes < 0:
		return fmt.Errorf("%w: MaxGroupBytes %d is negative", ErrInvalidConfig, c.MaxGroupBytes)
	case c.Dst == nil:
		return fmt.Errorf("%w: Dst: no store", ErrInvalidConfig)
	case c.Prefix == "" || strings.HasPrefix(c.Prefix, "/") || strings.HasSuffix(c.Prefix, "/"):
		return fmt.Errorf("%w: Prefix %q: want a key prefix that neither starts nor ends with '/'", ErrInvalidConfig, c.Prefix)
	}
	if c.MaxGroupBytes == 0 {
		c.MaxGroupBytes = DefaultMaxGroupBytes
	}
	return nil
}
