package partition

import (
	"context"
	"strings"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/inputlist"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/tabular"
)

// ListSources lists the included objects of a tabular input with their
// formats, as the producer plans them and prs debug runs them: an
// input_format of auto (or none) detects each object's format from its
// name.
func ListSources(ctx context.Context, c *contracts.Config, input objstore.Store) ([]Source, error) {
	explicit := strings.TrimSpace(c.InputFormat)
	if strings.EqualFold(explicit, contracts.InputFormatAuto) {
		explicit = ""
	}
	var srcs []Source
	_, err := inputlist.List(ctx, input, c, func(o objstore.ObjectInfo) error {
		f, err := tabular.DetectFormat(o.Key, explicit)
		if err != nil {
			return &contracts.FieldError{Field: "input_format", Err: err}
		}
		srcs = append(srcs, Source{Info: o, Format: f})
		return nil
	})
	return srcs, err
}
