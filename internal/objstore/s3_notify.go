package objstore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// SubscribeBucket subscribes the bucket of uri ("s3://bucket/prefix") to a
// notification target: object creations under the prefix are sent to the
// queue named arn (MinIO's NATS target: "arn:minio:sqs::<ID>:nats"). The
// bucket's other notification settings are kept; a subscription of the
// same target and prefix is not added twice.
func SubscribeBucket(ctx context.Context, uri, arn string, opts Options) error {
	bucket, prefix, err := parseS3URI(uri)
	if err != nil {
		return err
	}
	s, err := openS3(ctx, bucket, prefix, opts)
	if err != nil {
		return err
	}
	cur, err := s.client.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(bucket)})
	if err != nil {
		return s.fail("get notification configuration", "", err, true)
	}
	for _, q := range cur.QueueConfigurations {
		if aws.ToString(q.QueueArn) == arn && filterPrefix(q.Filter) == prefix {
			return nil
		}
	}
	q := types.QueueConfiguration{QueueArn: aws.String(arn), Events: []types.Event{"s3:ObjectCreated:*"}}
	if prefix != "" {
		q.Filter = &types.NotificationConfigurationFilter{Key: &types.S3KeyFilter{FilterRules: []types.FilterRule{{Name: types.FilterRuleNamePrefix, Value: aws.String(prefix)}}}}
	}
	_, err = s.client.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String(bucket),
		NotificationConfiguration: &types.NotificationConfiguration{
			QueueConfigurations:          append(cur.QueueConfigurations, q),
			TopicConfigurations:          cur.TopicConfigurations,
			LambdaFunctionConfigurations: cur.LambdaFunctionConfigurations,
			EventBridgeConfiguration:     cur.EventBridgeConfiguration,
		},
	})
	if err != nil {
		return fmt.Errorf("subscribing %s to %s: %w", s.URI(""), arn, s.fail("put notification configuration", "", err, true))
	}
	return nil
}

func filterPrefix(f *types.NotificationConfigurationFilter) string {
	if f == nil || f.Key == nil {
		return ""
	}
	for _, r := range f.Key.FilterRules {
		if r.Name == types.FilterRuleNamePrefix || string(r.Name) == "Prefix" {
			return aws.ToString(r.Value)
		}
	}
	return ""
}
