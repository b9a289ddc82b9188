package partition

import (
	"context"
	"fmt"
	"strings"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/inputlist"
	"github.com/parallelrun/prs/internal/objstore"
)

// FileGroups gathers the files of a file input into partition_keys groups:
// the files whose keys give equal values for every partition key share a
// group, and groups come in the order of their first files. The producer
// makes each group one mini-batch; prs debug runs the first.
type FileGroups struct {
	format *PathFormat
	keys   []string
	byKey  map[string]*FileGroup
	groups []*FileGroup
}

// FileGroup is one group of files.
type FileGroup struct {
	// Values maps each partition key to its value.
	Values map[string]string
	// Ordered holds the same values, as strings, in the order of the
	// partition keys (mini_batch_context.partition_key_value).
	Ordered contracts.PartitionValues
	// Items are the group's files, in the order they were added.
	Items []contracts.Item
}

// NewFileGroups returns an empty set of groups of the files whose keys
// format takes apart, by keys. It checks keys against format
// ([PathFormat.CheckKeys]).
func NewFileGroups(format *PathFormat, keys []string) (*FileGroups, error) {
	if err := format.CheckKeys(keys); err != nil {
		return nil, err
	}
	return &FileGroups{format: format, keys: keys, byKey: map[string]*FileGroup{}}, nil
}

// Add puts a file into its group. It returns false, and adds nothing, when
// the file's key does not match the format.
func (fg *FileGroups) Add(it contracts.Item) bool {
	all, ok := fg.format.Match(it.Key)
	if !ok {
		return false
	}
	var k strings.Builder
	for _, name := range fg.keys {
		k.WriteString(all[name])
		k.WriteByte(0)
	}
	g := fg.byKey[k.String()]
	if g == nil {
		g = &FileGroup{Values: make(map[string]string, len(fg.keys)), Ordered: make(contracts.PartitionValues, len(fg.keys))}
		for i, name := range fg.keys {
			g.Values[name] = all[name]
			g.Ordered[i] = contracts.StringValue(name, all[name])
		}
		fg.byKey[k.String()] = g
		fg.groups = append(fg.groups, g)
	}
	g.Items = append(g.Items, it)
	return true
}

// Groups returns the groups, in the order of their first files.
func (fg *FileGroups) Groups() []*FileGroup { return fg.groups }

// ListFileGroups lists a file input as c selects it (inputlist.List) and
// groups its files by c.PartitionKeys, read from their paths with
// c.PartitionFormat ([FileGroups]): the one grouping of the producer and of
// prs debug. A file whose path does not match the format is an error naming
// it.
func ListFileGroups(ctx context.Context, input objstore.Store, c *contracts.Config) ([]*FileGroup, error) {
	f, err := ParseFormat(c.PartitionFormat)
	if err != nil {
		return nil, &contracts.FieldError{Field: "partition_format", Err: err}
	}
	groups, err := NewFileGroups(f, c.PartitionKeys)
	if err != nil {
		return nil, &contracts.FieldError{Field: "partition_keys", Err: err}
	}
	_, err = inputlist.List(ctx, input, c, func(o objstore.ObjectInfo) error {
		if !groups.Add(contracts.Item{Key: o.Key, Size: o.Size, ETag: o.ETag}) {
			return &contracts.FieldError{Field: "partition_format", Err: fmt.Errorf("%w: %s does not match %q (use include to leave such files out)", contracts.ErrInvalid, input.URI(o.Key), c.PartitionFormat)}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return groups.Groups(), nil
}
