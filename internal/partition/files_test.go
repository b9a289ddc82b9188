package partition_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/partition"
)

// ListFileGroups groups a local folder's files by the values their paths hold,
// in the order of each group's first file, and names a file that does not
// match the format.
func TestListFileGroups(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, p := range []string{"bob/jazz/1.wav", "ada/jazz/1.wav", "ada/rock/1.wav", "ada/jazz/2.wav", "bob/jazz/2.wav"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in, err := objstore.Open(context.Background(), dir, objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := contracts.DefaultConfig()
	c.Input, c.PartitionFormat, c.PartitionKeys = dir, "/{user}/{genre}/{take}.wav", []string{"user"}
	groups, err := partition.ListFileGroups(context.Background(), in, &c)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range groups {
		var keys []string
		for _, it := range g.Items {
			keys = append(keys, it.Key)
		}
		got = append(got, fmt.Sprintf("%v %s %v", g.Values, g.Ordered.Object(), keys))
	}
	// The listing is in key order: ada's files come first.
	want := []string{`map[user:ada] {"user":"ada"} [ada/jazz/1.wav ada/jazz/2.wav ada/rock/1.wav]`, `map[user:bob] {"user":"bob"} [bob/jazz/1.wav bob/jazz/2.wav]`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("groups\n %q\nwant\n %q", got, want)
	}

	c.PartitionFormat = "/{user}/{take}.wav"
	_, err = partition.ListFileGroups(context.Background(), in, &c)
	var fe *contracts.FieldError
	if !errors.As(err, &fe) || fe.Field != "partition_format" || !errors.Is(err, contracts.ErrInvalid) {
		t.Fatalf("a file that does not match: %v", err)
	}
	c.PartitionFormat, c.PartitionKeys = "/{user}/{genre}/{take}.wav", []string{"mood"}
	if _, err = partition.ListFileGroups(context.Background(), in, &c); !errors.As(err, &fe) || fe.Field != "partition_keys" {
		t.Fatalf("a key the format does not hold: %v", err)
	}
}
