package contracts

import (
	"encoding/json"
	"testing"
)

// TestPartitionContext: a mini-batch's values keep partition_keys' order
// and their types on the wire; a message of an earlier producer, which
// carries the map alone, is read in the order of the job's keys.
func TestPartitionContext(t *testing.T) {
	t.Parallel()
	keys := []string{"user", "store", "genre"}
	mb := MiniBatch{JobID: "j", Partition: PartitionKeyValue{"user": "ann", "store": "1000", "genre": "jazz"},
		PartitionValues: PartitionValues{StringValue("user", "ann"), {Key: "store", Value: json.RawMessage("1000")}, StringValue("genre", "jazz")}}
	b, err := json.Marshal(mb)
	if err != nil {
		t.Fatal(err)
	}
	var got MiniBatch
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if o := string(got.PartitionContext(keys).Object()); o != `{"user":"ann","store":1000,"genre":"jazz"}` {
		t.Errorf("round trip: %s", o)
	}
	var old MiniBatch
	if err := json.Unmarshal([]byte(`{"job_id":"j","index":3,"items":[],"partition":{"genre":"jazz","store":"1000","user":"ann"}}`), &old); err != nil {
		t.Fatal(err)
	}
	if o := string(old.PartitionContext(keys).Object()); o != `{"user":"ann","store":"1000","genre":"jazz"}` {
		t.Errorf("an earlier producer's message: %s", o)
	}
	var none MiniBatch
	if p := none.PartitionContext(keys); p != nil || string(p.Object()) != "null" {
		t.Errorf("no partition: %v %s", p, p.Object())
	}
	if s := StringValue("user", "ann\xe9"); string(s.Value) != `"ann\udce9"` {
		t.Errorf("a value that is not UTF-8: %s", s.Value)
	}
}
