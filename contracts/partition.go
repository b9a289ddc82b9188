package contracts

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
)

// PartitionValue is one partition_keys value of a mini-batch.
type PartitionValue struct {
	// Key names the partition key: a column of a tabular input, or a
	// placeholder of a file input's partition_format.
	Key string `json:"key"`
	// Value is the value as a JSON value, typed as run()'s data holds it:
	// a string for a file input's path segment; for a tabular input the
	// type of the column in the DataFrame that run() gets (a number, a
	// boolean, a string, or null for a missing value).
	Value json.RawMessage `json:"value"`
}

// PartitionValues are a mini-batch's partition_keys values, in the order of
// partition_keys: mini_batch_context.partition_key_value.
type PartitionValues []PartitionValue

// StringValue is a partition value that is a string; a value taken from
// a file name that is not UTF-8 keeps its bytes (Name).
func StringValue(key, s string) PartitionValue {
	return PartitionValue{Key: key, Value: AppendName(nil, s)}
}

// Object returns the values as one JSON object whose members come in the
// order of the values (Python's json module keeps that order in the dict it
// makes); null when p is nil.
func (p PartitionValues) Object() json.RawMessage {
	if p == nil {
		return json.RawMessage("null")
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, v := range p {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(v.Key)
		b.Write(k)
		b.WriteByte(':')
		if len(v.Value) == 0 {
			b.WriteString("null")
		} else {
			b.Write(v.Value)
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}

// String writes the values as user="ann", genre="jazz" (for messages and
// logs).
func (p PartitionValues) String() string {
	parts := make([]string, len(p))
	for i, v := range p {
		parts[i] = v.Key + "=" + string(v.Value)
	}
	return strings.Join(parts, ", ")
}

// PartitionContext returns the mini-batch's partition_keys values in the
// order of keys (the job's partition_keys): those the message carries in
// order, or, for a message of an older producer that carries only the map
// Partition, its values in the order of keys, as strings. It returns nil
// for a mini-batch without partition values.
func (m *MiniBatch) PartitionContext(keys []string) PartitionValues {
	if m.PartitionValues != nil || m.Partition == nil {
		return m.PartitionValues
	}
	out := make(PartitionValues, 0, len(m.Partition))
	for _, k := range keys {
		if v, ok := m.Partition[k]; ok {
			out = append(out, StringValue(k, v))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m.Partition)) { // keys the job does not name, if any
		if !slices.Contains(keys, k) {
			out = append(out, StringValue(k, m.Partition[k]))
		}
	}
	return out
}
