package tabular

import (
	"context"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
)

// ResolveInputFormat decides, from a listing of the input, whether an input
// without input_format whose mini_batch_size is a size ("64KB") is tabular:
// it is when its included files are all tables (.csv, .jsonl, .parquet),
// and any other input is an error that names input_format
// ([contracts.Config.ResolveInputFormat] holds the rule). Other inputs are
// left as they are, without listing.
func ResolveInputFormat(ctx context.Context, input objstore.Store, c *contracts.Config) error {
	if !c.InputUndecided() {
		return nil
	}
	var l contracts.InputListing
	err := input.List(ctx, "", func(o objstore.ObjectInfo) error {
		if c.Included(o.Key) {
			l.Add(o.Key)
		}
		return nil
	})
	if err != nil {
		return &contracts.FieldError{Field: "input", Err: err}
	}
	return c.ResolveInputFormat(l)
}
