package partition_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parallelrun/prs/internal/partition"
)

// FuzzParseFormat parses any partition_format and, when it parses, makes a
// key from it with any values: ParseFormat fails with ErrBadFormat quoting
// the format, or gives a format that takes every key made from it apart
// into values that make the same key again (the values themselves may
// differ where a key splits in several ways), each a non-empty run of
// characters other than '/', whatever bytes they hold.
func FuzzParseFormat(f *testing.F) {
	for _, s := range []string{
		"/{user}/{genre}/{filename}.wav", "{a}-{b}", "/data/{year}-{month}/{name}.csv", "{a}.(x)+[y]", "{ünï_1}/f",
		"{a}\n{b}", "exact/key.wav", "", "/", "{a}{b}", "{a", "a}", "{{a}}", "{}", "{a-b}", "{a}/{a}", "\xff{a}", "{a}/",
		"//{a}", "{a}$^", `{a}\{b}`,
	} {
		f.Add(s, "v1", "x-y", "z.w")
	}
	f.Add("{a}/{b}", "bad\xffname", "\xc3", "ok")
	f.Fuzz(func(t *testing.T, format, v1, v2, v3 string) {
		pf, err := partition.ParseFormat(format)
		if err != nil {
			if !errors.Is(err, partition.ErrBadFormat) || !strings.Contains(err.Error(), fmt.Sprintf("%q", format)) {
				t.Fatalf("ParseFormat(%q): %v, want ErrBadFormat quoting the format", format, err)
			}
			return
		}
		if pf.String() != format || !utf8.ValidString(format) {
			t.Fatalf("ParseFormat(%q) gave %q", format, pf.String())
		}
		names := pf.Names()
		values := map[string]string{}
		for i, n := range names {
			v := []string{v1, v2, v3}[i%3]
			if v = strings.ReplaceAll(v, "/", "_"); v == "" {
				v = "_"
			}
			values[n] = v
		}
		key := render(format, values)
		if strings.HasPrefix(key, "/") {
			return // "//{a}": keys are relative to the input root, and Match ignores one leading '/' only
		}
		for _, k := range []string{key, "/" + key} {
			got, ok := pf.Match(k)
			if !ok {
				t.Fatalf("%q does not match %q, made from it with %q", format, k, values)
			}
			if len(got) != len(names) {
				t.Fatalf("%q.Match(%q) = %q, want %d values", format, k, got, len(names))
			}
			for n, v := range got {
				if v == "" || strings.Contains(v, "/") {
					t.Fatalf("%q.Match(%q): %s = %q", format, k, n, v)
				}
			}
			if again := render(format, got); again != key {
				t.Fatalf("%q.Match(%q) = %q, which makes %q", format, k, got, again)
			}
		}
		if len(names) > 0 {
			if err := pf.CheckKeys(names); err != nil {
				t.Fatalf("CheckKeys(%q): %v", names, err)
			}
			if err := pf.CheckKeys([]string{names[0] + "_not"}); !errors.Is(err, partition.ErrMissingColumn) && !strings.Contains(format, "{"+names[0]+"_not}") {
				t.Fatalf("CheckKeys of a name that is not a placeholder: %v", err)
			}
		}
	})
}

// render makes a key from a parsed format (a valid one: literal text and
// {name} placeholders) and the values of its placeholders.
func render(format string, values map[string]string) string {
	var b strings.Builder
	rest := strings.TrimPrefix(format, "/")
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			b.WriteString(rest)
			return b.String()
		}
		j := strings.IndexByte(rest, '}')
		b.WriteString(rest[:i])
		b.WriteString(values[rest[i+1:j]])
		rest = rest[j+1:]
	}
}
