package objstore

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// putMultipart uploads size bytes of body in parts, one part in memory at a
// time, and aborts the upload when a part fails so that no parts linger.
func (s *s3Store) putMultipart(ctx context.Context, key string, body io.Reader, size int64) (err error) {
	partSize := max(s.partSize, (size+maxParts-1)/maxParts)
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:            aws.String(s.bucket),
		Key:               aws.String(s.prefix + key),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	})
	if err != nil {
		return s.fail("put", key, err, false)
	}
	uploadID := created.UploadId
	defer func() {
		if err == nil {
			return
		}
		// Abort even when ctx is done, so that the parts are not billed.
		abortCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		_, abortErr := s.client.AbortMultipartUpload(abortCtx, &s3.AbortMultipartUploadInput{
			Bucket:   aws.String(s.bucket),
			Key:      aws.String(s.prefix + key),
			UploadId: uploadID,
		})
		if abortErr != nil {
			s.log.Warn("objstore: abort multipart upload", "uri", s.URI(key), "err", abortErr)
		}
	}()

	buf := make([]byte, partSize)
	var parts []types.CompletedPart
	for n := int32(1); size > 0; n++ {
		chunk := buf[:min(partSize, size)]
		if _, err := io.ReadFull(ctxReader{ctx, body}, chunk); err != nil {
			return fmt.Errorf("objstore: put %s: read part %d: %w", s.URI(key), n, err)
		}
		size -= int64(len(chunk))
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:            aws.String(s.bucket),
			Key:               aws.String(s.prefix + key),
			UploadId:          uploadID,
			PartNumber:        aws.Int32(n),
			Body:              bytes.NewReader(chunk),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			return s.fail("put", key, fmt.Errorf("part %d: %w", n, err), false)
		}
		parts = append(parts, types.CompletedPart{
			ETag:          out.ETag,
			PartNumber:    aws.Int32(n),
			ChecksumCRC32: out.ChecksumCRC32,
		})
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.bucket),
		Key:             aws.String(s.prefix + key),
		UploadId:        uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return s.fail("put", key, err, false)
	}
	return nil
}
