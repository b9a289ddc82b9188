package resultfmt_test

import (
	"encoding/json"
	"fmt"

	"github.com/parallelrun/prs/internal/resultfmt"
)

func ExampleBody() {
	// A mini-batch whose user code returned a pandas DataFrame.
	columns := []string{"file", "label", "score", "ok"}
	rows := []json.RawMessage{
		json.RawMessage(`["a.png", "cat", 0.91, true]`),
		json.RawMessage(`["b c.png", null, 0.12, false]`),
	}
	for _, format := range []string{resultfmt.Text, resultfmt.JSONL} {
		body, err := resultfmt.Body(format, columns, rows)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%q:\n%s", format, body)
	}
	// Output:
	// "":
	// a.png cat 0.91 True
	// "b c.png"  0.12 False
	// "jsonl":
	// {"file":"a.png","label":"cat","score":0.91,"ok":true}
	// {"file":"b c.png","label":null,"score":0.12,"ok":false}
}
