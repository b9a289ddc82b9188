package tabular

import "github.com/parallelrun/prs/contracts"

// DefaultPieceSize is the mini_batch_size of a tabular input that does not
// set one: 1 MiB ([contracts.DefaultPieceSize]).
const DefaultPieceSize = contracts.DefaultPieceSize

// ParseSize parses a tabular mini_batch_size such as "64KB"; it is
// [contracts.ParseSize], where the rules are.
func ParseSize(s string) (int64, error) { return contracts.ParseSize(s) }
