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
	"github.com/parallelrun/prs/internal/inputlist"
	"github.com/parallelrun/prs/internal/ledger"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/partition"
	"github.com/parallelrun/prs/internal/tabular"
)

// With partition_keys, prs debug runs the first group, as the producer
// makes it (partition.FileGroups, partition.GroupRows), with its
// mini_batch_context.partition_key_value.

// errFirst stops a grouping once the first group is in hand.
var errFirst = errors.New("first group")

// firstFileGroup puts the files of the first partition_format group into
// batch (the first limit of them when limit > 0), with the group's values,
// and returns the number of groups. Files that are not local are copied
// under work.
func firstFileGroup(ctx context.Context, c *contracts.Config, input objstore.Store, batch *consumer.Batch, limit int, work string) (int, error) {
	f, err := partition.ParseFormat(c.PartitionFormat)
	if err != nil {
		return 0, &contracts.FieldError{Field: "partition_format", Err: err}
	}
	groups, err := partition.NewFileGroups(f, c.PartitionKeys)
	if err != nil {
		return 0, &contracts.FieldError{Field: "partition_keys", Err: err}
	}
	_, err = inputlist.List(ctx, input, c, func(o objstore.ObjectInfo) error {
		if !groups.Add(contracts.Item{Key: o.Key, Size: o.Size, ETag: o.ETag}) {
			return &contracts.FieldError{Field: "partition_format", Err: fmt.Errorf("%w: %s does not match %q (use include to leave such files out)", contracts.ErrInvalid, input.URI(o.Key), c.PartitionFormat)}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	all := groups.Groups()
	if len(all) == 0 {
		return 0, &contracts.FieldError{Field: "input", Err: fmt.Errorf("no files in %s", input.URI(""))}
	}
	g := all[0]
	batch.Partition = g.Ordered
	for _, it := range g.Items {
		if limit > 0 && len(batch.Items) == limit {
			break
		}
		p, err := localCopy(ctx, input, it.Key, filepath.Join(work, "input", fmt.Sprint(len(batch.Items))))
		if err != nil {
			return 0, &contracts.FieldError{Field: "input", Err: err}
		}
		batch.Items = append(batch.Items, it)
		batch.Paths = append(batch.Paths, p)
	}
	return len(all), nil
}

// firstRowGroup reads the rows of the first partition_keys group of a
// tabular input into batch, with the group's values, staging it in a
// folder under work; it returns the number of rows and the malformed ones.
// Finding the first group reads the whole input, as the producer does.
func firstRowGroup(ctx context.Context, c *contracts.Config, input objstore.Store, batch *consumer.Batch, work string) (int, []consumer.ItemError, error) {
	srcs, err := tabularSources(ctx, c, input)
	if err != nil {
		return 0, nil, err
	}
	dst, err := objstore.Open(ctx, filepath.Join(work, "groups"), objstore.Options{})
	if err != nil {
		return 0, nil, err
	}
	maxGroup, _ := c.PartitionMaxBytes()
	var first *partition.Group
	err = partition.GroupRows(ctx, tabular.Ranges(input), srcs, partition.Config{
		Keys: c.PartitionKeys, MaxGroupBytes: maxGroup, Dst: dst, Prefix: "groups", TempDir: work,
	}, func(g partition.Group) error {
		first = &g
		return errFirst
	})
	if err != nil && !errors.Is(err, errFirst) {
		return 0, nil, &contracts.FieldError{Field: "partition_keys", Err: err}
	}
	if first == nil {
		return 0, nil, &contracts.FieldError{Field: "input", Err: fmt.Errorf("no rows in %s", input.URI(""))}
	}
	t, bad, n, err := consumer.ReadTable(ctx, dst, first.Piece)
	if err != nil {
		return 0, nil, err
	}
	batch.Items = []contracts.Item{{Key: first.Piece.Key, Size: first.Bytes}}
	batch.Table, batch.Partition = t, first.Ordered
	return n, bad, nil
}

// tabularSources lists the included objects of a tabular input with their
// formats.
func tabularSources(ctx context.Context, c *contracts.Config, input objstore.Store) ([]partition.Source, error) {
	explicit := c.InputFormat
	if strings.EqualFold(explicit, contracts.InputFormatAuto) {
		explicit = ""
	}
	var srcs []partition.Source
	_, err := inputlist.List(ctx, input, c, func(o objstore.ObjectInfo) error {
		f, err := tabular.DetectFormat(o.Key, explicit)
		if err != nil {
			return &contracts.FieldError{Field: "input_format", Err: err}
		}
		srcs = append(srcs, partition.Source{Info: o, Format: f})
		return nil
	})
	return srcs, err
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
