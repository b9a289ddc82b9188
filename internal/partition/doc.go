// Package partition implements ParallelRunStep's partition_keys: inputs are
// cut into mini-batches by the values of named keys instead of by size, so
// that every mini-batch holds exactly one partition.
//
// # File datasets: partition by path
//
// A file dataset names the parts of its keys with a partition_format such as
// "/{user}/{genre}/{filename}.wav". [ParseFormat] checks it, [PathFormat.Match]
// takes a key (relative to the input root) apart, and [PathFormat.CheckKeys]
// verifies that every partition key is one of its placeholders:
//
//	f, err := partition.ParseFormat("/{user}/{genre}/{filename}.wav")
//	err = f.CheckKeys(cfg.PartitionKeys)
//	values, ok := f.Match("ada/jazz/take1.wav") // user=ada genre=jazz filename=take1
//
// A placeholder {name} matches one or more characters other than '/';
// literal text matches itself exactly; the whole key must match. When a key
// can be split in several ways ("{a}-{b}" on "x-y-z"), earlier placeholders
// take the longest match (a="x-y", b="z"). Names are letters, digits and
// '_'. There is no escape for literal braces, and the typed placeholders of
// Azure ML ("{date:yyyy/MM/dd}") are not supported.
//
// # Tabular datasets: partition by column values
//
// [GroupRows] reads every record of every source once and hands out one
// [Group] per distinct combination of the key columns' values, whatever file
// its rows come from. Each group's rows are staged as one new object in
// [Config.Dst] and described by a whole-object [tabular.Piece], so that a
// worker reads a group with [tabular.ReadPiece] like any other mini-batch:
//
//	err := partition.GroupRows(ctx, tabular.Ranges(in), srcs, partition.Config{
//		Keys: []string{"user"}, Dst: out, Prefix: "job-1/groups",
//	}, func(g partition.Group) error { return publish(g.Piece) })
//
// The staged format is CSV when every source (that holds rows) is CSV with
// the same header: the header line, then each row re-encoded with
// encoding/csv, fields unchanged. Otherwise it is JSON Lines, one JSON object
// per row: a CSV row becomes an object of strings in header order, a JSON
// Lines row is copied as it is, a Parquet row is written as tabular's
// [tabular.Record] JSON. A key's value ([Group.Values]) is the CSV field's
// text; for JSON rows a string's text, another value's JSON text (numbers as
// written: 1 and 1.0 are two groups), and "" for null or a missing key.
//
// Groups come out in the order in which their key first appears in the
// input (sources in the given order, rows in file order), so the same input
// always gives the same groups, numbered from 0 in the staged keys.
//
// Nothing is dropped silently: a malformed record ([ErrMalformedRow]), a key
// column absent from a CSV header or a Parquet schema ([ErrMissingColumn]) or
// a group larger than [Config.MaxGroupBytes] ([ErrGroupTooLarge], detected
// while reading, before anything is staged) fails the whole call.
//
// # Memory
//
// Rows are never held in memory beyond the one being read (at most
// [tabular.MaxRecordBytes] for CSV and JSON Lines). Each row is encoded in the
// staged format and appended to one of 64 spill files in a private folder
// under [Config.TempDir], chosen by a hash of its key values, so a group's
// rows lie close together. What stays in memory is bookkeeping:
//
//   - per row, two varints appended to its group's list: the gap to the
//     group's previous row in its spill file and the row's length, 2 to 20
//     bytes, typically 3 to 4, plus the slack of slice growth;
//   - per group, about 150 to 220 bytes (depending on the map's fill): the
//     map entry, the counters, the list's header and the key values' bytes
//     (more for long values);
//   - per source, its planned piece (the CSV header's fields, shared by
//     consecutive sources with the same header, or the Parquet column names);
//   - fixed: 64 spill write buffers of 32 KiB (2 MiB) and a 256 KiB copy
//     buffer.
//
// BenchmarkGroupRows measures the heap held once the input is read: 4 to 7
// bytes per row with 200 to 500 rows per group (keys spread round-robin, the
// worst case for locality), and 150 to 220 bytes per row when every row is
// its own group (short keys). So 100 million rows in 1 million groups hold
// about 0.7 GB plus 0.2 GB. Each group's bookkeeping is freed once it
// is staged.
//
// Staging a group copies its rows from the spill file into one local file
// (so that [objstore.Store.Put] can retry from the start) and puts it; runs of
// adjacent rows are copied with one read. Each group is one Put: with many
// tiny groups the store's per-object cost dominates (on the local backend,
// whose Put syncs every file, about 1 ms a group). The spill folder is
// removed when GroupRows returns, on error too.
package partition
