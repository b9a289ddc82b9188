package partition

import (
	"context"
	"fmt"
	"strings"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/inputlist"
	"github.com/parallelrun/prs/internal/objstore"
)

// FileGroup is a group of a file input's files whose paths hold the same
// partition_keys values: one mini-batch.
type FileGroup struct {
	// Values maps each of partition_keys to the group's value.
	Values map[string]string
	// Items are the group's files, in listing order.
	Items []contracts.Item
}

// FileGroups lists a file input as c selects it (inputlist.List) and
// groups its files by the values of c.PartitionKeys read from their paths
// with c.PartitionFormat, in the order of each group's first file: the one
// grouping of the producer and of prs debug. A file whose path does not
// match the format is an error naming it.
func FileGroups(ctx context.Context, input objstore.Store, c *contracts.Config) ([]FileGroup, error) {
	f, err := ParseFormat(c.PartitionFormat)
	if err != nil {
		return nil, &contracts.FieldError{Field: "partition_format", Err: err}
	}
	if err := f.CheckKeys(c.PartitionKeys); err != nil {
		return nil, &contracts.FieldError{Field: "partition_keys", Err: err}
	}
	var groups []FileGroup
	byKey := map[string]int{}
	_, err = inputlist.List(ctx, input, c, func(o objstore.ObjectInfo) error {
		all, ok := f.Match(o.Key)
		if !ok {
			return &contracts.FieldError{Field: "partition_format", Err: fmt.Errorf("%w: %s does not match %q (use include to leave such files out)", contracts.ErrInvalid, input.URI(o.Key), c.PartitionFormat)}
		}
		values := make(map[string]string, len(c.PartitionKeys))
		var k strings.Builder
		for _, name := range c.PartitionKeys {
			values[name] = all[name]
			k.WriteString(all[name])
			k.WriteByte(0)
		}
		i, ok := byKey[k.String()]
		if !ok {
			i = len(groups)
			byKey[k.String()] = i
			groups = append(groups, FileGroup{Values: values})
		}
		groups[i].Items = append(groups[i].Items, contracts.Item{Key: o.Key, Size: o.Size, ETag: o.ETag})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return groups, nil
}
