package consumer

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parallelrun/prs/contracts"
)

// poisoned is a run() over items named i0, i1, ... that raises when a part
// holds a bad item, and otherwise returns one row per item, its name.
type poisoned struct {
	bad   map[int]bool
	calls int
}

func (p *poisoned) run(lo, hi int) (Result, error) {
	p.calls++
	var res Result
	for i := lo; i < hi; i++ {
		if p.bad[i] {
			return Result{}, &ScriptError{Type: "ValueError", Message: fmt.Sprintf("bad item i%d", i), Traceback: "Traceback\nValueError"}
		}
		res.Rows = append(res.Rows, json.RawMessage(fmt.Sprintf("%q", itemName(i))))
	}
	return res, nil
}

func itemName(i int) string { return fmt.Sprintf("i%d", i) }

func never(error) bool { return false }

// isolateAll isolates n items with the given bad ones, after the whole
// mini-batch's run() failed.
func isolateAll(n, maxCalls int, bad ...int) (*isolation, *poisoned) {
	p := &poisoned{bad: map[int]bool{}}
	for _, b := range bad {
		p.bad[b] = true
	}
	iso := newIsolation(n, maxCalls, p.run, never, itemName, false)
	_, first := p.run(0, n)
	p.calls = 0
	iso.isolate(first, time.Now(), time.Millisecond)
	return iso, p
}

// bound is 2·k·⌈log2 n⌉, the most extra calls for k bad items among n.
func bound(k, n int) int { return 2 * k * int(math.Ceil(math.Log2(float64(n)))) }

// checkExact checks that every item is decided once: a row for each good
// item, in input order, and an item error for each bad one.
func checkExact(t *testing.T, iso *isolation, n int, bad map[int]bool) {
	t.Helper()
	var want []string
	var wantErr []int
	for i := 0; i < n; i++ {
		if bad[i] {
			wantErr = append(wantErr, i)
		} else {
			want = append(want, fmt.Sprintf("%q", itemName(i)))
		}
	}
	var got []string
	for _, r := range iso.res.Rows {
		got = append(got, string(r))
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("n=%d bad=%v: rows %v, want %v", n, bad, got, want)
	}
	var gotErr []int
	for _, ie := range iso.res.ItemErrors {
		gotErr = append(gotErr, ie.Index)
		if !strings.HasPrefix(ie.Err, "ValueError: bad item i"+fmt.Sprint(ie.Index)) {
			t.Fatalf("item %d failed with %q, not its own error", ie.Index, ie.Err)
		}
	}
	if !reflect.DeepEqual(gotErr, wantErr) || iso.raised != len(wantErr) {
		t.Fatalf("n=%d: failed items %v (raised %d), want %v", n, gotErr, iso.raised, wantErr)
	}
}

// The good items of every mini-batch keep their rows, in order, and the
// bad ones fail alone with their own error, within 2·k·⌈log2 n⌉ extra calls,
// for every size up to 70 and random sets of up to 6 bad items.
func TestIsolationFindsEveryBadItemWithinTheBound(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(15, 15))
	for n := 1; n <= 70; n++ {
		for k := 1; k <= min(n, 6); k++ {
			for range 5 {
				bad := map[int]bool{}
				var list []int
				for len(bad) < k {
					i := rng.IntN(n)
					if !bad[i] {
						bad[i] = true
						list = append(list, i)
					}
				}
				iso, p := isolateAll(n, 1<<20, list...)
				checkExact(t, iso, n, bad)
				if p.calls != iso.calls || iso.calls > bound(k, n) {
					t.Fatalf("n=%d bad=%v: %d extra calls (counted %d), bound %d", n, list, p.calls, iso.calls, bound(k, n))
				}
			}
		}
	}
}

// The report's parts: the whole was split, halves that returned kept their
// rows, the bad item failed alone with its traceback.
func TestIsolationRecordsItsParts(t *testing.T) {
	t.Parallel()
	iso, _ := isolateAll(8, 64, 5)
	var got []string
	for _, p := range iso.parts {
		r := p.rec
		got = append(got, fmt.Sprintf("%s %s %d/%d/%d %s %s", r.Part, r.Result, r.Items, r.Succeeded, r.Failed, r.FirstItem, r.ErrorType))
	}
	want := []string{
		"items 0-7 split 8/0/0 i0 ValueError",
		"items 0-3 succeeded 4/4/0 i0 ",
		"items 4-7 split 4/0/0 i4 ValueError",
		"items 4-5 split 2/0/0 i4 ValueError",
		"item 4 succeeded 1/1/0 i4 ",
		"item 5 failed 1/0/1 i5 ValueError",
		"items 6-7 succeeded 2/2/0 i6 ",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if iso.calls != 6 || iso.parts[5].traceback != "Traceback\nValueError" || iso.parts[2].traceback != "" {
		t.Fatalf("%d calls; tracebacks %q, %q", iso.calls, iso.parts[5].traceback, iso.parts[2].traceback)
	}
}

// A mini-batch of one item that fails is that item's failure: no extra call.
func TestIsolationOfOneItem(t *testing.T) {
	t.Parallel()
	iso, p := isolateAll(1, 64, 0)
	checkExact(t, iso, 1, map[int]bool{0: true})
	if p.calls != 0 || len(iso.parts) != 1 || iso.parts[0].rec.Part != "item 0" || iso.parts[0].rec.Result != contracts.ResultFailed {
		t.Fatalf("%d calls, parts %+v", p.calls, iso.parts)
	}
}

// At isolate_max_calls the items not yet decided fail together, in one
// record per run of adjoining items, naming the cap and the last error;
// the rows of the parts decided are kept and no item is counted twice.
func TestIsolationStopsAtItsCap(t *testing.T) {
	t.Parallel()
	iso, p := isolateAll(64, 5, 3, 40)
	if p.calls != 5 || iso.calls != 5 {
		t.Fatalf("%d calls, want the cap of 5", p.calls)
	}
	failed := map[int]bool{}
	for _, ie := range iso.res.ItemErrors {
		if failed[ie.Index] {
			t.Fatalf("item %d failed twice", ie.Index)
		}
		failed[ie.Index] = true
	}
	if len(failed)+len(iso.res.Rows) != 64 || iso.raised != len(failed) || !failed[3] || !failed[40] {
		t.Fatalf("%d failed + %d rows, want 64 items each once", len(failed), len(iso.res.Rows))
	}
	var cut []contracts.AttemptRecord
	for _, pr := range iso.parts {
		if pr.rec.ErrorType == "IsolationLimit" {
			cut = append(cut, pr.rec)
		}
	}
	if len(cut) == 0 || !strings.Contains(cut[0].Error, "isolate_max_calls (5) reached") || !strings.Contains(cut[0].Error, "ValueError: bad item") {
		t.Fatalf("no IsolationLimit record naming the cap and the last error: %+v", cut)
	}
	// Depth first: 0-31, 0-15, 0-7 and 0-3 fail, 0-1 returns: the cap;
	// items 2-3, 4-7, ... 32-63 are undecided, in one record.
	if len(cut) != 1 || cut[0].Part != "items 2-63" || cut[0].Items != 62 || cut[0].Failed != 62 || len(iso.res.Rows) != 2 {
		t.Fatalf("undecided records %+v, want items 2-63 in one; rows %d", cut, len(iso.res.Rows))
	}
}

// An init() that fails during the isolation ends it: the undecided items
// fail together with init()'s error. Storage trouble or a stopping worker
// halts it with no outcome.
func TestIsolationInitFailsAndHalts(t *testing.T) {
	t.Parallel()
	calls := 0
	initFails := func(lo, hi int) (Result, error) {
		calls++
		return Result{}, &InitError{Err: &ScriptError{Type: "ImportError", Message: "no torch"}}
	}
	iso := newIsolation(10, 64, initFails, never, itemName, false)
	iso.isolate(&ScriptError{Type: "ValueError", Message: "bad"}, time.Now(), 0)
	if calls != 1 || iso.raised != 10 || len(iso.res.ItemErrors) != 10 {
		t.Fatalf("%d calls, %d raised", calls, iso.raised)
	}
	last := iso.parts[len(iso.parts)-1].rec
	if last.ErrorType != "ImportError" || last.Part != "items 0-9" || !strings.Contains(last.Error, "init() failed during the isolation") {
		t.Fatalf("last record %+v", last)
	}

	storage := &TransientError{Err: errors.New("503")}
	halt := newIsolation(10, 64, func(lo, hi int) (Result, error) { return Result{}, storage }, func(err error) bool { return errors.Is(err, storage) }, itemName, false)
	halt.isolate(&ScriptError{Type: "ValueError", Message: "bad"}, time.Now(), 0)
	if !errors.Is(halt.halted, storage) || halt.calls != 1 {
		t.Fatalf("halted %v after %d calls", halt.halted, halt.calls)
	}
}

// A redelivery that takes up an isolation runs the whole first; the item
// errors a part's handler returns keep their places in the mini-batch.
func TestIsolationTakenUpAndItemErrors(t *testing.T) {
	t.Parallel()
	p := &poisoned{bad: map[int]bool{6: true}}
	run := func(lo, hi int) (Result, error) {
		res, err := p.run(lo, hi)
		if err == nil && lo <= 2 && 2 < hi {
			res.ItemErrors = []ItemError{{Index: 2 - lo, Err: "cannot decode"}}
		}
		return res, err
	}
	iso := newIsolation(8, 64, run, never, itemName, false)
	iso.isolate(nil, time.Time{}, 0)
	if iso.parts[0].rec.Part != "items 0-7" || iso.parts[0].rec.Result != contracts.ResultSplit {
		t.Fatalf("first part %+v: the whole is run first", iso.parts[0].rec)
	}
	var idx []int
	for _, ie := range iso.res.ItemErrors {
		idx = append(idx, ie.Index)
	}
	if !reflect.DeepEqual(idx, []int{2, 6}) || iso.raised != 1 {
		t.Fatalf("item errors at %v (raised %d), want 2 (the handler's) and 6", idx, iso.raised)
	}
}
