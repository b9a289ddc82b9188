package broker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/internal/broker"
)

// TestSetupNeedsOnlyLookupsWhenAllExists: a user that may only look
// streams and consumers up runs Setup once an admin has created them; it
// is told clearly when something is missing or when it asks to change the
// ack wait.
func TestSetupNeedsOnlyLookupsWhenAllExists(t *testing.T) {
	t.Parallel()
	lookups := &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{"$JS.API.STREAM.INFO.*", "$JS.API.CONSUMER.INFO.*.*"}},
		Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
	}
	s, err := server.NewServer(&server.Options{JetStream: true, StoreDir: t.TempDir(), Host: "127.0.0.1", Port: -1,
		NoSigs: true, NoLog: true, Users: []*server.User{
			{Username: "admin", Password: "admin-pw"},
			{Username: "reader", Password: "reader-pw", Permissions: lookups},
		}})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	setup := func(user string, cfg broker.SetupConfig) error {
		nc, err := nats.Connect(s.ClientURL(), nats.UserInfo(user, user+"-pw"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		// A refused request has no answer: it ends at the deadline.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err = broker.Setup(ctx, js, cfg)
		return err
	}
	if err := setup("reader", broker.SetupConfig{}); err == nil || !strings.Contains(err.Error(), "PRS_BATCHES is missing") {
		t.Fatalf("before the admin: %v", err)
	}
	if err := setup("admin", broker.SetupConfig{AckWait: 7 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := setup("reader", broker.SetupConfig{}); err != nil {
		t.Fatalf("after the admin: %v", err)
	}
	if err := setup("reader", broker.SetupConfig{AckWait: 7 * time.Second}); err != nil {
		t.Fatalf("the same ack wait: %v", err)
	}
	if err := setup("reader", broker.SetupConfig{AckWait: 9 * time.Second}); err == nil || !strings.Contains(err.Error(), "changing the ack wait") {
		t.Fatalf("another ack wait: %v", err)
	}
}

// TestSetupReplicas: replicas a single server cannot hold are refused with
// an error that says a cluster is needed, not that a permission is
// missing; streams that exist with other replicas than asked are refused,
// and asking for none accepts them.
func TestSetupReplicas(t *testing.T) {
	t.Parallel()
	s, err := server.NewServer(&server.Options{JetStream: true, StoreDir: t.TempDir(), Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = broker.Setup(ctx, js, broker.SetupConfig{Replicas: 3})
	if !errors.Is(err, broker.ErrReplicas) || !strings.Contains(err.Error(), "cluster of at least 3") || strings.Contains(err.Error(), "permission") {
		t.Fatalf("3 replicas on one server: %v", err)
	}
	for _, cfg := range []broker.SetupConfig{{Replicas: 1}, {}, {Replicas: 1}} {
		if _, err := broker.Setup(ctx, js, cfg); err != nil {
			t.Fatalf("%+v: %v", cfg, err)
		}
	}
	_, err = broker.Setup(ctx, js, broker.SetupConfig{Replicas: 2})
	if !errors.Is(err, broker.ErrReplicas) || !strings.Contains(err.Error(), "exists with 1 replica(s) and --replicas asks for 2") {
		t.Fatalf("existing R1 streams and --replicas 2: %v", err)
	}
}
