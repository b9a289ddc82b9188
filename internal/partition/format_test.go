package partition_test

import (
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parallelrun/prs/internal/partition"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	type m = map[string]string
	tests := []struct {
		format, key string
		want        m // nil: no match
	}{
		{"/{user}/{genre}/{filename}.wav", "ada/jazz/take1.wav", m{"user": "ada", "genre": "jazz", "filename": "take1"}},
		{"{user}/{genre}/{filename}.wav", "ada/jazz/take1.wav", m{"user": "ada", "genre": "jazz", "filename": "take1"}},
		{"/{user}/{genre}/{filename}.wav", "/ada/jazz/take1.wav", m{"user": "ada", "genre": "jazz", "filename": "take1"}},
		{"/{user}/{genre}/{filename}.wav", "ada/jazz/take1.mp3", nil},     // literal differs
		{"/{user}/{genre}/{filename}.wav", "ada/jazz/take1.WAV", nil},     // case matters
		{"/{user}/{genre}/{filename}.wav", "ada/jazz/x/take1.wav", nil},   // a placeholder holds no '/'
		{"/{user}/{genre}/{filename}.wav", "ada/jazz/.wav", nil},          // nor nothing
		{"/{user}/{genre}/{filename}.wav", "ada//take1.wav", nil},         // empty segment
		{"/{user}/{genre}/{filename}.wav", "ada/jazz/take1.wav.bak", nil}, // the whole key
		{"/{user}/{genre}/{filename}.wav", "x/ada/jazz/take1.wav", nil},   // from the start
		{"/data/{year}-{month}/{name}.csv", "data/2024-05/a.b.csv", m{"year": "2024", "month": "05", "name": "a.b"}},
		{"/data/{year}-{month}/{name}.csv", "data/2024_05/a.csv", nil},
		{"{a}-{b}", "x-y-z", m{"a": "x-y", "b": "z"}}, // earlier takes the longest
		{"{a}.(x)+[y]", "q.(x)+[y]", m{"a": "q"}},     // regexp characters are literal
		{"{ünï_1}/f", "päth/f", m{"ünï_1": "päth"}},   // letters beyond ASCII
		{"{a}\n{b}", "1\n2", m{"a": "1", "b": "2"}},   // line breaks are characters
		{"exact/key.wav", "exact/key.wav", m{}},       // no placeholders
		{"exact/key.wav", "exact/key2.wav", nil},
	}
	for _, tt := range tests {
		f, err := partition.ParseFormat(tt.format)
		if err != nil {
			t.Fatalf("ParseFormat(%q): %v", tt.format, err)
		}
		got, ok := f.Match(tt.key)
		if ok != (tt.want != nil) || !maps.Equal(got, tt.want) {
			t.Errorf("%q.Match(%q) = %v, %v; want %v", tt.format, tt.key, got, ok, tt.want)
		}
	}
}

func TestNames(t *testing.T) {
	t.Parallel()
	f, err := partition.ParseFormat("/{user}/{genre}/{filename}.wav")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Names(); !slices.Equal(got, []string{"user", "genre", "filename"}) {
		t.Errorf("Names() = %q", got)
	}
	f.Names()[0] = "changed" // a copy
	if f.Names()[0] != "user" || f.String() != "/{user}/{genre}/{filename}.wav" {
		t.Errorf("Names() = %q, String() = %q", f.Names(), f)
	}
}

func TestParseFormatErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ format, why string }{
		{"", "empty"},
		{"/", "empty"},
		{"/{user", "not closed"},
		{"/user}/x", "closes no placeholder"},
		{"/{a}/}{b}", "closes no placeholder"},
		{"/{a{b}}", "nested"},
		{"/{}/x", "empty name"},
		{"/{a b}/x", "holds"},
		{"/{a-b}/x", "holds"},
		{"/{a}/{a}.wav", "appears twice"},
		{"/{a}{b}.wav", "nothing between"},
		{"/\xff{a}", "UTF-8"},
	}
	for _, tt := range tests {
		f, err := partition.ParseFormat(tt.format)
		if !errors.Is(err, partition.ErrBadFormat) || f != nil {
			t.Errorf("ParseFormat(%q) = %v, %v; want ErrBadFormat", tt.format, f, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, strconv.Quote(tt.format)) || !strings.Contains(msg, tt.why) {
			t.Errorf("ParseFormat(%q): %q should quote the format and say %q", tt.format, msg, tt.why)
		}
	}
}

func TestCheckKeys(t *testing.T) {
	t.Parallel()
	f, err := partition.ParseFormat("/{user}/{genre}/{filename}.wav")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.CheckKeys([]string{"genre", "user"}); err != nil {
		t.Errorf("CheckKeys(genre, user): %v", err)
	}
	err = f.CheckKeys([]string{"user", "album"})
	if !errors.Is(err, partition.ErrMissingColumn) {
		t.Fatalf("CheckKeys(user, album) = %v, want ErrMissingColumn", err)
	}
	for _, want := range []string{`"album"`, `"user", "genre", "filename"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q should name %s", err, want)
		}
	}
	for _, keys := range [][]string{nil, {""}, {"user", "user"}} {
		if err := f.CheckKeys(keys); !errors.Is(err, partition.ErrInvalidConfig) {
			t.Errorf("CheckKeys(%q) = %v, want ErrInvalidConfig", keys, err)
		}
	}
}
