package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
)

// ErrReplicas is matched (errors.Is) by Setup's errors about replicas: a
// server that cannot hold as many as asked, or streams, a bucket or a
// consumer that exist with another number.
var ErrReplicas = errors.New("replicas")

// JetStream's error codes for a server that cannot place the replicas.
const (
	codeReplicasNotSupported jetstream.ErrorCode = 10074 // replicas > 1 not supported in non-clustered mode
	codeInsufficientResource jetstream.ErrorCode = 10023 // insufficient resources
	codeNoPeers              jetstream.ErrorCode = 10005 // no suitable peers for placement
)

// replicasError explains a creation that failed because the server cannot
// hold n replicas (nil when err is something else).
func replicasError(what string, n int, err error) error {
	var ae *jetstream.APIError
	if n <= 1 || !errors.As(err, &ae) {
		return nil
	}
	switch ae.ErrorCode {
	case codeReplicasNotSupported, codeInsufficientResource, codeNoPeers:
		return fmt.Errorf("%s with %d replicas (--replicas): JetStream needs a cluster of at least %d servers with JetStream enabled: %w: %w",
			what, n, n, ErrReplicas, err)
	}
	return nil
}

// checkReplicas refuses what exists with other replicas than asked: prs
// never changes them, and a fleet that asked for replicas must not run on
// one copy unknowingly. want 0 asks for nothing.
func checkReplicas(what string, want, have int) error {
	if want <= 0 || have == want {
		return nil
	}
	return fmt.Errorf("%s exists with %d replica(s) and --replicas asks for %d: prs does not change them; scale it with the nats CLI "+
		"(nats stream edit / nats consumer edit --replicas %d) or leave --replicas out: %w", what, have, want, want, ErrReplicas)
}

// checkAllReplicas checks the replicas of what Setup found against want.
func checkAllReplicas(ctx context.Context, h *Handles, want int) error {
	if want <= 0 {
		return nil
	}
	for _, s := range []jetstream.Stream{h.Batches, h.Counters} {
		info := s.CachedInfo()
		if err := checkReplicas("stream "+info.Config.Name, want, max(info.Config.Replicas, 1)); err != nil {
			return err
		}
	}
	st, err := h.Jobs.Status(ctx)
	if err != nil {
		return fmt.Errorf("kv %s: %w", h.Jobs.Bucket(), err)
	}
	if kv, ok := st.(*jetstream.KeyValueBucketStatus); ok {
		if err := checkReplicas("kv "+h.Jobs.Bucket(), want, max(kv.StreamInfo().Config.Replicas, 1)); err != nil {
			return err
		}
	}
	c := h.Consumer.CachedInfo()
	have := c.Config.Replicas
	if have == 0 { // a consumer of 0 replicas has its stream's
		have = max(h.Batches.CachedInfo().Config.Replicas, 1)
	}
	return checkReplicas("consumer "+c.Name, want, have)
}

// consistentReads turns direct gets off on the jobs bucket that Setup has
// just made with replicas, and returns the bucket bound anew. Every replica
// of a stream answers direct gets, a follower from what it has applied so
// far: a worker that takes up a batch handed back a moment before could
// read its count of lost deliveries, or the finaliser its counters, from a
// follower that is behind, and spend a try or judge the job on old counts.
// Without direct gets the reads go to the stream's leader (the counter
// stream is made so from the start).
func consistentReads(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	name := "KV_" + contracts.JobBucket
	s, err := js.Stream(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", name, err)
	}
	cfg := s.CachedInfo().Config
	cfg.AllowDirect = false
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		return nil, fmt.Errorf("turning direct gets off on stream %s: %w", name, err)
	}
	return js.KeyValue(ctx, contracts.JobBucket)
}
