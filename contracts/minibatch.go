package contracts

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrBadMessage is wrapped by the error of a work-queue message that is not
// a mini-batch a worker can run. No retry can fix it: a worker terminates
// such a message.
var ErrBadMessage = errors.New("not a mini-batch message")

// DecodeMiniBatch decodes a work-queue message as a worker receives it and
// checks what a worker relies on before it reads anything else: a JSON
// object whose job id is valid (it names KV keys and subjects: see
// [ValidateJobID]), whose index, generation and item count are not
// negative, and whose piece, if any, has byte and row ranges that do not
// run backwards. Any other message is an error that wraps [ErrBadMessage].
func DecodeMiniBatch(data []byte) (MiniBatch, error) {
	var m MiniBatch
	if err := json.Unmarshal(data, &m); err != nil {
		return MiniBatch{}, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	bad := func(format string, args ...any) (MiniBatch, error) {
		return MiniBatch{}, fmt.Errorf("%w: "+format, append([]any{ErrBadMessage}, args...)...)
	}
	if !validName(m.JobID) {
		return bad("job id %q is not 1-64 letters, digits, '_' or '-'", m.JobID)
	}
	if m.Index < 0 {
		return bad("job %s: negative index %d", m.JobID, m.Index)
	}
	if m.Generation < 0 {
		return bad("job %s, mini-batch %d: negative generation %d", m.JobID, m.Index, m.Generation)
	}
	if m.ItemsCount < 0 {
		return bad("job %s, mini-batch %d: negative items_count %d", m.JobID, m.Index, m.ItemsCount)
	}
	if p := m.Piece; p != nil {
		if p.Start < 0 || p.End < p.Start || p.RowStart < 0 || p.RowEnd < p.RowStart || p.Rows < 0 {
			return bad("job %s, mini-batch %d: piece %v has a range that runs backwards", m.JobID, m.Index, *p)
		}
	}
	return m, nil
}
