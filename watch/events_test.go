package watch

import (
	"testing"

	"github.com/parallelrun/prs/contracts"
)

func record(event, bucket, key, etag string) *contracts.S3EventRecord {
	var r contracts.S3EventRecord
	r.EventName = event
	r.S3.Bucket.Name = bucket
	r.S3.Object = contracts.S3EventObject{Key: key, ETag: etag, Size: 3}
	return &r
}

// An event becomes an input item only when it is a creation under the
// input's bucket and prefix that include keeps; its digest depends on the
// place and the version alone.
func TestOriginItem(t *testing.T) {
	t.Parallel()
	c := contracts.DefaultConfig()
	c.Input, c.Output, c.Include = "s3://photos/in", "s3://photos/out", []string{"*.jpg"}
	o, err := newOrigin(&c, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		r    *contracts.S3EventRecord
		key  string
		take bool
	}{
		{record("s3:ObjectCreated:Put", "photos", "in/a+b%C3%A9.jpg", `"e1"`), "a bé.jpg", true},
		{record("ObjectCreated:CompleteMultipartUpload", "photos", "in/d/x.jpg", "e2"), "d/x.jpg", true},
		{record("s3:ObjectRemoved:Delete", "photos", "in/a.jpg", ""), "", false},
		{record("s3:ObjectCreated:Put", "other", "in/a.jpg", "e"), "", false},
		{record("s3:ObjectCreated:Put", "photos", "inx/a.jpg", "e"), "", false},
		{record("s3:ObjectCreated:Put", "photos", "in/a.txt", "e"), "", false},
		{record("s3:ObjectCreated:Put", "photos", "in/.prs/j/a.jpg", "e"), "", false},
		{record("s3:ObjectCreated:Put", "photos", "in/bad%zz.jpg", "e"), "", false},
	} {
		it, d, ok := o.item(tc.r)
		if ok != tc.take || ok && (it.Key != tc.key || d == "") {
			t.Errorf("%s %s/%s: item %+v %q %v, want key %q taken %v", tc.r.EventName, tc.r.S3.Bucket.Name, tc.r.S3.Object.Key, it, d, ok, tc.key, tc.take)
		}
	}
	_, d1, _ := o.item(record("s3:ObjectCreated:Put", "photos", "in/a.jpg", `"e1"`))
	_, d2, _ := o.item(record("s3:ObjectCreated:Copy", "photos", "in/a.jpg", "e1"))
	_, d3, _ := o.item(record("s3:ObjectCreated:Put", "photos", "in/a.jpg", "e2"))
	if d1 != d2 || d1 == d3 {
		t.Errorf("digests: same version %q %q, new version %q", d1, d2, d3)
	}
}

// The recent set keeps the newest objects up to its limit.
func TestListerRemember(t *testing.T) {
	t.Parallel()
	l := &lister{recent: map[string]string{}}
	l.remember("a", "1", 2)
	l.remember("b", "1", 2)
	l.remember("a", "2", 2) // a new version moves a to the end
	l.remember("c", "1", 2)
	if len(l.recent) != 2 || l.recent["a"] != "2" || l.recent["c"] != "1" || l.recent["b"] != "" {
		t.Fatalf("recent %v (%v)", l.recent, l.st.Recent)
	}
}
