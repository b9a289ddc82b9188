package objstore_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parallelrun/prs/internal/objstore"
)

// TestListAfter checks the resumption that WithRetry relies on, for each
// backend and through the decorator.
func TestListAfter(t *testing.T) {
	t.Parallel()
	keys := []string{"a-b", "a.b", "a/b", "a/b/c", "a/bc", "b", "c/d/e", "c/d.e"}
	stores := map[string]func(t *testing.T) objstore.Store{
		"local": func(t *testing.T) objstore.Store { return openLocal(t, t.TempDir()) },
		"s3":    func(t *testing.T) objstore.Store { return openS3(t, "s3://"+minio.NewBucket(t)+"/pre", s3Options(t)) },
		"retry": func(t *testing.T) objstore.Store {
			return objstore.WithRetry(openLocal(t, t.TempDir()), time.Second)
		},
	}
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			valid := slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return k == "a/b" })
			slices.Sort(valid)
			for _, k := range valid {
				if err := s.Put(t.Context(), k, strings.NewReader(k)); err != nil {
					t.Fatal(err)
				}
			}
			for _, prefix := range []string{"", "a", "a/", "c/"} {
				for _, after := range []string{"", "a", "a-b", "a.b", "a/", "a/b", "a/b/c", "a/bc", "b", "c/d", "c/d/e", "z"} {
					var want, got []string
					for _, k := range valid {
						if strings.HasPrefix(k, prefix) && k > after {
							want = append(want, k)
						}
					}
					err := objstore.ListAfterForTest(s, t.Context(), prefix, after, func(o objstore.ObjectInfo) error {
						got = append(got, o.Key)
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got, want) {
						t.Errorf("listAfter(%q, %q) = %q, want %q", prefix, after, got, want)
					}
				}
			}
		})
	}
}
