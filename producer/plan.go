package producer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/partition"
	"github.com/parallelrun/prs/internal/tabular"
)

// partitionsPrefix is where the rows of each partition_keys group of a
// tabular input are staged, under the job's staging root.
const partitionsPrefix = "partitions"

// plan is the mini-batches of a job that are decided before the job is
// recorded: the pieces of a tabular input, or the groups of a partitioned
// one. They are kept in a local manifest (one JSON mini-batch a line, so
// memory stays bounded) and published from it.
type plan struct {
	batches int64
	// items is the sum of the batches' items; -1 when unknown (JSON Lines
	// pieces are counted when they are read).
	items int64
	f     *os.File
}

func (pl *plan) close() {
	if pl != nil && pl.f != nil {
		pl.f.Close()
		os.Remove(pl.f.Name())
	}
}

// each calls fn with every planned mini-batch, in order.
func (pl *plan) each(fn func(contracts.MiniBatch) error) error {
	if _, err := pl.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	sc := bufio.NewScanner(pl.f)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var mb contracts.MiniBatch
		if err := json.Unmarshal(sc.Bytes(), &mb); err != nil {
			return fmt.Errorf("reading the plan: %w", err)
		}
		if err := fn(mb); err != nil {
			return err
		}
	}
	return sc.Err()
}

// planner writes a plan.
type planner struct {
	pl      *plan
	w       *bufio.Writer
	unknown bool
}

func newPlanner() (*planner, error) {
	f, err := os.CreateTemp("", "prs-plan-*.jsonl")
	if err != nil {
		return nil, fmt.Errorf("planning the mini-batches: %w", err)
	}
	return &planner{pl: &plan{f: f}, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

func (p *planner) add(mb contracts.MiniBatch, items int64, known bool) error {
	b, err := json.Marshal(mb)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := p.w.Write(b); err != nil {
		return fmt.Errorf("planning the mini-batches: %w", err)
	}
	p.pl.batches++
	p.pl.items += items
	p.unknown = p.unknown || !known
	return nil
}

func (p *planner) done() (*plan, error) {
	if err := p.w.Flush(); err != nil {
		p.pl.close()
		return nil, fmt.Errorf("planning the mini-batches: %w", err)
	}
	if p.unknown {
		p.pl.items = -1
	}
	return p.pl, nil
}

// planBatches decides the mini-batches of inputs that need it before the
// job is recorded; it returns nil for a plain file input, which is
// published as it is listed. staging is where partition groups are staged;
// fresh tells a new job (whose staged objects a failure may remove) from a
// resumed one.
func (p *Producer) planBatches(ctx context.Context, c *contracts.Config, input, staging objstore.Store, fresh bool) (*plan, error) {
	switch {
	case c.Tabular():
		return p.planTabular(ctx, c, input, staging, fresh)
	case len(c.PartitionKeys) > 0:
		return p.planFileGroups(ctx, c, input, staging, fresh)
	}
	return nil, nil
}

// planTabular cuts every object of a tabular input into pieces of about
// mini_batch_size, or groups its rows by partition_keys.
func (p *Producer) planTabular(ctx context.Context, c *contracts.Config, input, staging objstore.Store, fresh bool) (*plan, error) {
	srcs, err := partition.ListSources(ctx, c, input)
	if err != nil {
		return nil, err
	}
	pw, err := newPlanner()
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			pw.pl.close()
		}
	}()
	if len(c.PartitionKeys) > 0 {
		maxGroup, _ := c.PartitionMaxBytes()
		p.cfg.Logger.Info("grouping the input's rows by partition_keys", "objects", len(srcs), "keys", c.PartitionKeys)
		err = partition.GroupRows(ctx, tabular.Ranges(input), srcs, partition.Config{
			Keys: c.PartitionKeys, MaxGroupBytes: maxGroup, Dst: staging, Prefix: partitionsPrefix,
		}, func(g partition.Group) error {
			w := g.Piece
			w.Staged = true
			mb := contracts.MiniBatch{Items: []contracts.Item{{Key: g.Piece.Key, Size: g.Bytes}}, Piece: &w, Partition: g.Values, PartitionValues: g.Ordered}
			return pw.add(mb, g.Rows, true)
		})
		if err != nil {
			if fresh { // a resumed job's workers may be reading its groups
				deletePrefix(ctx, staging, partitionsPrefix+"/")
			}
			return nil, partitionError(err)
		}
	} else {
		size, _ := c.BytesPerBatch()
		for _, s := range srcs {
			o := s.Info
			if o.Size > 64<<20 {
				p.cfg.Logger.Info("planning the pieces of a large object", "object", input.URI(o.Key), "bytes", o.Size, "format", s.Format)
			}
			err := tabular.Plan(ctx, tabular.Ranges(input), o, s.Format, size, func(pc tabular.Piece) error {
				w := pc
				mb := contracts.MiniBatch{Items: []contracts.Item{{Key: o.Key, Size: o.Size, ETag: o.ETag}}, Piece: &w}
				return pw.add(mb, pc.Rows, s.Format != tabular.JSONL)
			})
			if err != nil {
				return nil, planError(err)
			}
		}
	}
	pl, err := pw.done()
	if err != nil {
		return nil, err
	}
	ok = true
	if pl.batches == 0 {
		pl.close()
		return nil, &contracts.FieldError{Field: "input", Err: fmt.Errorf("%w: %s has no rows (only empty files or header rows)", ErrEmptyInput, input.URI(""))}
	}
	return pl, nil
}

// planError names the input setting for errors that the data causes.
func planError(err error) error {
	for _, e := range []error{tabular.ErrBinary, tabular.ErrMalformed, tabular.ErrRecordTooLong, tabular.ErrUnknownFormat, tabular.ErrChanged, objstore.ErrNotFound} {
		if errors.Is(err, e) {
			return &contracts.FieldError{Field: "input", Err: err}
		}
	}
	return err
}

func partitionError(err error) error {
	for _, e := range []error{partition.ErrGroupTooLarge, partition.ErrMissingColumn, partition.ErrMalformedRow} {
		if errors.Is(err, e) {
			return &contracts.FieldError{Field: "partition_keys", Err: err}
		}
	}
	return planError(err)
}

// deletePrefix removes what a failed submit staged, as far as it can.
func deletePrefix(ctx context.Context, s objstore.Store, prefix string) {
	var keys []string
	_ = s.List(ctx, prefix, func(o objstore.ObjectInfo) error {
		keys = append(keys, o.Key)
		return nil
	})
	for _, k := range keys {
		_ = s.Delete(ctx, k)
	}
}

// planFileGroups gives each group of files with equal partition_keys
// values (read from their paths with partition_format) one mini-batch, in
// the order of the groups' first files.
func (p *Producer) planFileGroups(ctx context.Context, c *contracts.Config, input, staging objstore.Store, fresh bool) (*plan, error) {
	groups, err := partition.ListFileGroups(ctx, input, c)
	if err != nil {
		return nil, err
	}
	pw, err := newPlanner()
	if err != nil {
		return nil, err
	}
	for i, g := range groups {
		mb := contracts.MiniBatch{Items: g.Items, Partition: g.Values, PartitionValues: g.Ordered}
		if list, _ := json.Marshal(g.Items); len(list) > maxInlineItems {
			// Too large for one message: the list is staged, the group stays
			// one mini-batch.
			key := fmt.Sprintf("%s/files-%06d.json", partitionsPrefix, i)
			if err := staging.Put(ctx, key, bytes.NewReader(list)); err != nil {
				pw.pl.close()
				if fresh {
					deletePrefix(ctx, staging, partitionsPrefix+"/")
				}
				return nil, fmt.Errorf("staging the file list of a partition group: %w", err)
			}
			mb.Items, mb.ItemsKey, mb.ItemsCount = nil, key, len(g.Items)
		}
		if err := pw.add(mb, int64(len(g.Items)), true); err != nil {
			pw.pl.close()
			return nil, err
		}
	}
	return pw.done()
}

// maxInlineItems is the largest file list (JSON bytes) a partition group's
// message carries itself; NATS refuses messages over its max_payload
// (1 MiB by default).
const maxInlineItems = 256 << 10
