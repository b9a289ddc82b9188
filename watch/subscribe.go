package watch

import (
	"context"
	"fmt"
	"strings"

	"github.com/parallelrun/prs/internal/ledger"
	"github.com/parallelrun/prs/internal/objstore"
)

// Subscribe subscribes the bucket of an S3 input to the store's
// notification target arn, so that the store publishes the creation of
// every object under the input to the watch's event subject (prs watch
// --setup).
func Subscribe(ctx context.Context, stores *ledger.Stores, input, arn string) error {
	if !strings.HasPrefix(input, "s3://") {
		return fmt.Errorf("the input %s is not in S3: a local folder is watched by listing it", input)
	}
	return objstore.SubscribeBucket(ctx, input, arn, stores.Options)
}
