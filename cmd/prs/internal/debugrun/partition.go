package debugrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/ledger"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/partition"
	"github.com/parallelrun/prs/internal/tabular"
)

// With partition_keys, prs debug runs the first group, as the producer
// makes it (partition.ListFileGroups, partition.GroupRows), with its
// mini_batch_context.partition_key_value.

// errFirst stops a grouping once the first group is in hand.
var errFirst = errors.New("first group")

// firstGroup plans the first partition_keys group of a file input
// (partition.ListFileGroups), its first limit files when limit > 0, and
// counts the groups.
func firstGroup(ctx context.Context, c *contracts.Config, input objstore.Store, limit int) (first, error) {
	groups, err := partition.ListFileGroups(ctx, input, c)
	var fe *contracts.FieldError
	if err != nil && !errors.As(err, &fe) {
		err = &contracts.FieldError{Field: "input", Err: err}
	}
	if err != nil {
		return first{}, err
	}
	if len(groups) == 0 {
		return first{}, &contracts.FieldError{Field: "input", Err: fmt.Errorf("no files in %s", input.URI(""))}
	}
	g := groups[0]
	items := g.Items
	if limit > 0 && len(items) > limit {
		items = items[:limit]
	}
	mb := contracts.MiniBatch{JobID: "debug", Items: items, Partition: g.Values, PartitionValues: g.Ordered}
	return first{mb: mb, groups: len(groups)}, nil
}

// firstRowGroup plans the first partition_keys group of a tabular input,
// staged as the producer stages it in a store under work. Finding the
// first group reads the whole input, as the producer does.
func firstRowGroup(ctx context.Context, c *contracts.Config, input objstore.Store, work string) (first, error) {
	srcs, err := partition.ListSources(ctx, c, input)
	if err != nil {
		return first{}, err
	}
	dst, err := objstore.Open(ctx, filepath.Join(work, "groups"), objstore.Options{})
	if err != nil {
		return first{}, err
	}
	maxGroup, _ := c.PartitionMaxBytes()
	var g *partition.Group
	err = partition.GroupRows(ctx, tabular.Ranges(input), srcs, partition.Config{
		Keys: c.PartitionKeys, MaxGroupBytes: maxGroup, Dst: dst, Prefix: "groups", TempDir: work,
	}, func(gr partition.Group) error {
		g = &gr
		return errFirst
	})
	if err != nil && !errors.Is(err, errFirst) {
		return first{}, &contracts.FieldError{Field: "partition_keys", Err: err}
	}
	if g == nil {
		return first{}, &contracts.FieldError{Field: "input", Err: fmt.Errorf("no rows in %s", input.URI(""))}
	}
	piece := g.Piece
	piece.Staged = true
	mb := contracts.MiniBatch{
		JobID: "debug", Items: []contracts.Item{{Key: g.Piece.Key, Size: g.Bytes}}, Piece: &piece,
		Partition: g.Values, PartitionValues: g.Ordered,
	}
	return first{mb: mb, staging: dst}, nil
}

// scriptModels gives each of the job's models a local path: a local file
// or folder as it is, an s3:// object or prefix fetched under dir.
func scriptModels(ctx context.Context, stores *ledger.Stores, models map[string]string, dir string) (map[string]string, error) {
	out := make(map[string]string, len(models))
	for name, uri := range models {
		var (
			p   string
			err error
		)
		if strings.HasPrefix(uri, "s3://") {
			p, err = consumer.FetchURI(ctx, stores, uri, filepath.Join(dir, name))
		} else {
			p = strings.TrimPrefix(uri, "file://")
			if _, err = os.Stat(p); err == nil {
				p, err = filepath.Abs(p)
			}
		}
		if err != nil {
			return nil, &contracts.FieldError{Field: "models", Err: fmt.Errorf("%s: %w", name, err)}
		}
		out[name] = p
	}
	return out, nil
}
