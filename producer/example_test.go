package producer_test

import (
	"fmt"
	"strings"

	"github.com/parallelrun/prs/producer"
)

// A job keeps its own objects (its shipped source folder, its rows) under
// its output.
func ExampleStagingURI() {
	fmt.Println(producer.StagingURI("s3://bucket/out/", "job-1"))
	fmt.Println(producer.StagingURI("/data/out", "job-1"))
	fmt.Println(strings.HasPrefix(producer.NewJobID(), "job-"))
	// Output:
	// s3://bucket/out/.prs/job-1
	// /data/out/.prs/job-1
	// true
}
