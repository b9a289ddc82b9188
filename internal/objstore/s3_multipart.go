package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// partBuffers is how many parts of one streamed upload are in memory at
// once: up to partBuffers-1 being uploaded while the next fills, or all of
// them being uploaded while Write waits for one.
const partBuffers = 3

// errAborted ends the uploads of an aborted s3Writer.
var errAborted = errors.New("objstore: upload aborted")

// s3Writer streams an object as a multipart upload, started when the first
// part is full; an object smaller than one part is one PutObject.
type s3Writer struct {
	s        *s3Store
	key      string
	do       doFunc
	ctx      context.Context
	cancel   context.CancelCauseFunc
	partSize int64

	buf       []byte // the part being filled
	allocated int    // buffers made, at most partBuffers
	free      chan []byte
	uploadID  *string // nil until the first part is sent
	next      int32   // number of the next part
	state     writerState

	wg    sync.WaitGroup
	mu    sync.Mutex
	parts []types.CompletedPart
	err   error // the first failure of an upload
}

func (s *s3Store) create(ctx context.Context, key string, do doFunc) (Writer, error) {
	if err := validateKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.newWriter(ctx, key, do, s.partSize), nil
}

func (s *s3Store) newWriter(ctx context.Context, key string, do doFunc, partSize int64) *s3Writer {
	ctx, cancel := context.WithCancelCause(ctx)
	return &s3Writer{s: s, key: key, do: do, ctx: ctx, cancel: cancel, partSize: partSize,
		free: make(chan []byte, partBuffers), next: 1}
}

// putMultipart uploads size bytes of body through an s3Writer in parts of
// at least partSize (more when 10,000 parts would not hold size).
func (s *s3Store) putMultipart(ctx context.Context, key string, body io.Reader, size int64) error {
	w := s.newWriter(ctx, key, once, max(s.partSize, (size+maxParts-1)/maxParts))
	defer w.Abort()
	r := &readErr{r: io.LimitReader(ctxReader{ctx, body}, size)}
	if _, err := io.Copy(w, r); err != nil {
		if r.err != nil {
			return fmt.Errorf("objstore: put %s: read the body: %w", s.URI(key), r.err)
		}
		return err
	}
	return w.Close()
}

// readErr keeps the error of its reader, to tell it from the writer's.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		r.err = err
	}
	return n, err
}

// failed returns the first upload error, or the cause of ctx's end.
func (w *s3Writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if w.ctx.Err() != nil {
		return context.Cause(w.ctx)
	}
	return nil
}

// fail records err as the writer's failure and stops the other uploads.
func (w *s3Writer) fail(err error) error {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	err = w.err
	w.mu.Unlock()
	w.cancel(err)
	return err
}

func (w *s3Writer) Write(p []byte) (int, error) {
	if w.state != writerOpen {
		return 0, ErrWriterDone
	}
	if err := w.failed(); err != nil {
		return 0, err
	}
	n := 0
	for len(p) > 0 {
		if w.buf == nil {
			b, err := w.buffer()
			if err != nil {
				return n, err
			}
			w.buf = b
		}
		if len(w.buf) == cap(w.buf) {
			w.buf = w.grow(w.buf)
		}
		k := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+k]
		p, n = p[k:], n+k
		if int64(len(w.buf)) == w.partSize {
			if err := w.send(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// firstBuffer is the size a writer's first buffer starts at.
const firstBuffer = 64 << 10

// grow returns b with its contents and twice its capacity, at most a part.
func (w *s3Writer) grow(b []byte) []byte {
	g := make([]byte, len(b), min(w.partSize, 2*int64(cap(b))))
	copy(g, b)
	return g
}

// buffer returns an empty part buffer, waiting for an upload to free one
// when partBuffers are in use.
func (w *s3Writer) buffer() ([]byte, error) {
	if w.allocated < partBuffers {
		w.allocated++
		if w.allocated == 1 {
			// The first buffer grows as it fills: most objects (a small
			// final file, an output_dir file) are far smaller than a part,
			// and many writers may be open at once.
			return make([]byte, 0, min(w.partSize, firstBuffer)), nil
		}
		return make([]byte, 0, w.partSize), nil
	}
	select {
	case b := <-w.free:
		return b[:0], nil
	case <-w.ctx.Done():
		return nil, w.failed()
	}
}

// send starts the upload of w.buf as the next part, creating the multipart
// upload first when this is the first part. A CreateMultipartUpload whose
// answer was lost and is retried leaves the first upload unnamed here: no
// part is ever sent to it, and a bucket lifecycle rule
// (AbortIncompleteMultipartUpload) removes such uploads.
func (w *s3Writer) send() error {
	if w.uploadID == nil {
		err := w.do(w.ctx, "put", w.key, func() error {
			out, err := w.s.client.CreateMultipartUpload(w.ctx, &s3.CreateMultipartUploadInput{
				Bucket:            aws.String(w.s.bucket),
				Key:               aws.String(w.s.prefix + w.key),
				ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
			})
			if err != nil {
				return w.s.fail("put", w.key, err, false)
			}
			w.uploadID = out.UploadId
			return nil
		})
		if err != nil {
			return w.fail(err)
		}
	}
	if w.next > maxParts {
		return w.fail(fmt.Errorf("objstore: put %s: more than %d parts of %d bytes", w.s.URI(w.key), maxParts, w.partSize))
	}
	n, part := w.next, w.buf
	w.next, w.buf = w.next+1, nil
	w.wg.Add(1)
	go w.upload(n, part)
	return nil
}

// upload sends part number n, retried through w.do, and frees its buffer.
func (w *s3Writer) upload(n int32, part []byte) {
	defer w.wg.Done()
	var out *s3.UploadPartOutput
	err := w.do(w.ctx, "put", w.key, func() error {
		var err error
		out, err = w.s.client.UploadPart(w.ctx, &s3.UploadPartInput{
			Bucket:            aws.String(w.s.bucket),
			Key:               aws.String(w.s.prefix + w.key),
			UploadId:          w.uploadID,
			PartNumber:        aws.Int32(n),
			Body:              bytes.NewReader(part),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			return w.s.fail("put", w.key, fmt.Errorf("part %d: %w", n, err), false)
		}
		return nil
	})
	w.free <- part
	if err != nil {
		w.fail(err)
		return
	}
	w.mu.Lock()
	w.parts = append(w.parts, types.CompletedPart{
		ETag:          out.ETag,
		PartNumber:    aws.Int32(n),
		ChecksumCRC32: out.ChecksumCRC32,
	})
	w.mu.Unlock()
}

// Close sends what is left and completes the upload (or puts the object
// whole when it is smaller than one part).
func (w *s3Writer) Close() error {
	if w.state != writerOpen {
		return ErrWriterDone
	}
	if err := w.complete(); err != nil {
		w.Abort()
		return err
	}
	w.state = writerClosed
	w.cancel(nil)
	return nil
}

func (w *s3Writer) complete() error {
	if err := w.failed(); err != nil {
		return err
	}
	if w.uploadID == nil {
		return w.do(w.ctx, "put", w.key, func() error {
			_, err := w.s.client.PutObject(w.ctx, &s3.PutObjectInput{
				Bucket: aws.String(w.s.bucket),
				Key:    aws.String(w.s.prefix + w.key),
				Body:   bytes.NewReader(w.buf),
			})
			if err != nil {
				return w.s.fail("put", w.key, err, false)
			}
			return nil
		})
	}
	if len(w.buf) > 0 {
		if err := w.send(); err != nil {
			return err
		}
	}
	w.wg.Wait()
	if err := w.failed(); err != nil {
		return err
	}
	// A CompleteMultipartUpload whose answer was lost and is retried gets
	// NoSuchUpload although the object is complete: Close then fails and
	// the caller writes the object again (finalisation does).
	slices.SortFunc(w.parts, func(a, b types.CompletedPart) int { return int(*a.PartNumber - *b.PartNumber) })
	return w.do(w.ctx, "put", w.key, func() error {
		_, err := w.s.client.CompleteMultipartUpload(w.ctx, &s3.CompleteMultipartUploadInput{
			Bucket:          aws.String(w.s.bucket),
			Key:             aws.String(w.s.prefix + w.key),
			UploadId:        w.uploadID,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: w.parts},
		})
		if err != nil {
			return w.s.fail("put", w.key, err, false)
		}
		return nil
	})
}

// Abort stops the uploads in flight and aborts the multipart upload, even
// when the writer's context is done, so that no parts are left (and
// billed).
func (w *s3Writer) Abort() {
	if w.state != writerOpen {
		return
	}
	w.state = writerAborted
	w.cancel(errAborted)
	w.wg.Wait()
	w.buf = nil
	if w.uploadID == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), abortTimeout)
	defer cancel()
	err := w.do(ctx, "abort", w.key, func() error {
		_, err := w.s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
			Bucket:   aws.String(w.s.bucket),
			Key:      aws.String(w.s.prefix + w.key),
			UploadId: w.uploadID,
		})
		if err != nil {
			return w.s.fail("abort", w.key, err, false)
		}
		return nil
	})
	if err != nil {
		w.s.log.Warn("objstore: abort multipart upload", "uri", w.s.URI(w.key), "err", err)
	}
}
