package partition

import "errors"

// Sentinel errors. The errors of this package wrap them and name the value,
// the key, the file and the row where there is one; test them with
// errors.Is.
var (
	// ErrBadFormat: a partition_format that cannot be parsed: empty,
	// unbalanced or nested braces, an empty or invalid placeholder name, a
	// name used twice, two placeholders with nothing between them.
	ErrBadFormat = errors.New("partition: invalid partition_format")
	// ErrInvalidConfig: a [Config] or a list of partition keys that cannot
	// be used (no keys, an empty or repeated key, no destination store).
	ErrInvalidConfig = errors.New("partition: invalid configuration")
	// ErrMissingColumn: a partition key that the data does not have: not a
	// placeholder of the partition_format, not a column of a CSV header or
	// of a Parquet schema. (A JSON Lines row without the key has value "".)
	ErrMissingColumn = errors.New("partition: partition key is not a column")
	// ErrMalformedRow: a record that cannot be read (a ragged CSV row, a
	// line that is not a JSON object). Partitioning needs every row's key,
	// so such a row fails the whole input instead of one item.
	ErrMalformedRow = errors.New("partition: malformed row")
	// ErrGroupTooLarge: the rows of one group exceed
	// [Config.MaxGroupBytes] once staged.
	ErrGroupTooLarge = errors.New("partition: group too large")
)
