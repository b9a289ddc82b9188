package contracts

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Set parses text as the value of a scalar setting (text, number, bool) and
// stores it in c. A number that no setting could hold (beyond 64 bits, or
// not finite) is an error that names the key and its limit; one that is
// merely out of range is stored, for [Config.Validate] to report. An
// enumerated text is stored in its canonical spelling when it matches one
// without regard to case, else as given.
func (s *Setting) Set(c *Config, text string) error {
	switch p := s.field.get(c, true).(type) {
	case *string:
		*p = s.canonical(text)
	case *int:
		n, err := s.parseInt(text)
		if err != nil {
			return err
		}
		*p = n
	case *float64:
		f, err := s.parseFloat(text)
		if err != nil {
			return err
		}
		*p = f
	case *bool:
		b, err := parseBool(text)
		if err != nil {
			return invalid(s.Key, "%q is not true or false", text)
		}
		*p = b
	default:
		return invalid(s.Key, "takes a list, not %q", text)
	}
	return nil
}

// Append parses text as one element of a list setting and adds it.
func (s *Setting) Append(c *Config, text string) error {
	switch p := s.field.get(c, true).(type) {
	case *[]string:
		*p = append(*p, text)
	case *[]int:
		n, err := s.parseInt(text)
		if err != nil {
			return err
		}
		*p = append(*p, n)
	case *[]float64:
		f, err := s.parseFloat(text)
		if err != nil {
			return err
		}
		*p = append(*p, f)
	default:
		return invalid(s.Key, "takes one value, not a list")
	}
	return nil
}

// Put sets name to text in a NAME: value setting.
func (s *Setting) Put(c *Config, name, text string) error {
	p, ok := s.field.get(c, true).(*map[string]string)
	if !ok {
		return invalid(s.Key, "takes one value, not NAME: value pairs")
	}
	if *p == nil {
		*p = map[string]string{}
	}
	(*p)[name] = text
	return nil
}

// Clear empties a list or NAME: value setting, so that what follows
// replaces it.
func (s *Setting) Clear(c *Config) {
	switch p := s.field.get(c, true).(type) {
	case *[]string:
		*p = nil
	case *[]int:
		*p = nil
	case *[]float64:
		*p = nil
	case *map[string]string:
		*p = nil
	}
}

// Check reports the setting's value in c if it is out of range or not one
// of its Values, naming the key and the limit or the valid values.
func (s *Setting) Check(c *Config) error { return s.check(c, true) }

// check is Check; strict refuses an Extensible setting's other names too.
func (s *Setting) check(c *Config, strict bool) error {
	switch p := s.field.get(c, false).(type) {
	case *string:
		if len(s.Values) == 0 || (*p == "" && s.ZeroDefault) || contains(s.Values, *p) {
			return nil
		}
		if s.Extensible && !strict && validName(*p) && Closest(*p, s.Values) == "" {
			return nil
		}
		msg := fmt.Sprintf("must be one of %s, got %q", strings.Join(s.Values, ", "), *p)
		if s.ZeroDefault {
			msg = fmt.Sprintf("must be one of %s (or unset), got %q", strings.Join(s.Values, ", "), *p)
		}
		if near := Closest(*p, s.Values); near != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", near)
		}
		return invalid(s.Key, "%s", msg)
	case *int:
		return s.checkNum(float64(*p), fmt.Sprint(*p), "")
	case *float64:
		return s.checkNum(*p, fmt.Sprint(*p), "")
	case *[]int:
		for i, v := range *p {
			if err := s.checkNum(float64(v), fmt.Sprint(v), fmt.Sprintf("element %d: ", i+1)); err != nil {
				return err
			}
		}
	case *[]float64:
		for i, v := range *p {
			if err := s.checkNum(v, fmt.Sprint(v), fmt.Sprintf("element %d: ", i+1)); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkNum checks v (written text) against the bounds; where names an
// element of a list.
func (s *Setting) checkNum(v float64, text, where string) error {
	switch {
	case v == 0 && s.ZeroDefault:
		return nil
	case math.IsNaN(v) || math.IsInf(v, 0):
		return invalid(s.Key, "%s%s is not a finite number", where, text)
	case v > s.Max:
		return invalid(s.Key, "%s%s", where, s.tooLarge(text))
	case v < s.Min:
		return invalid(s.Key, "%s%s", where, s.tooSmall(text))
	}
	return nil
}

func (s *Setting) tooLarge(v string) string {
	return fmt.Sprintf("%s is too large, at most %s%s", v, num(s.Max), s.unitSuffix())
}

func (s *Setting) tooSmall(v string) string {
	return fmt.Sprintf("%s is too small, at least %s%s", v, num(s.Min), s.unitSuffix())
}

func (s *Setting) unitSuffix() string {
	u := ""
	if s.Unit != "" {
		u = " " + s.Unit
	}
	if s.ZeroDefault {
		u += " (0 or unset: the default)"
	}
	return u
}

// parseInt reads a whole number; one beyond what an int holds is reported
// against the setting's bounds, not as a float or a syntax error.
func (s *Setting) parseInt(text string) (int, error) {
	t := strings.TrimSpace(text)
	n, err := strconv.ParseInt(t, 10, 64)
	if err == nil && n == int64(int(n)) {
		return int(n), nil
	}
	if err == nil || errors.Is(err, strconv.ErrRange) {
		if strings.HasPrefix(t, "-") {
			return 0, invalid(s.Key, "%s", s.tooSmall(t))
		}
		return 0, invalid(s.Key, "%s", s.tooLarge(t))
	}
	// 1e3 and 3.0 are whole numbers too; 1e30 is one too large.
	f, ferr := strconv.ParseFloat(t, 64)
	if (ferr == nil || errors.Is(ferr, strconv.ErrRange)) && !math.IsNaN(f) && f == math.Trunc(f) {
		switch {
		case f > s.Max && f != 0:
			return 0, invalid(s.Key, "%s", s.tooLarge(t))
		case f < s.Min && f != 0:
			return 0, invalid(s.Key, "%s", s.tooSmall(t))
		}
		return int(f), nil
	}
	return 0, invalid(s.Key, "%q is not a whole number", text)
}

// parseFloat reads a finite number; NaN and the infinities (YAML's .nan and
// .inf too) are refused with the setting's limits.
func (s *Setting) parseFloat(text string) (float64, error) {
	t := strings.TrimSpace(text)
	f, err := strconv.ParseFloat(t, 64)
	switch strings.ToLower(t) {
	case ".nan":
		f, err = math.NaN(), nil
	case ".inf", "+.inf":
		f, err = math.Inf(1), nil
	case "-.inf":
		f, err = math.Inf(-1), nil
	}
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange):
		return 0, invalid(s.Key, "%q is not a number", text)
	case math.IsNaN(f), math.IsInf(f, 0) && s.Max >= math.MaxFloat64:
		return 0, invalid(s.Key, "%q is not a finite number", text)
	case math.IsInf(f, 1):
		return 0, invalid(s.Key, "%s", s.tooLarge(t))
	case math.IsInf(f, -1):
		return 0, invalid(s.Key, "%s", s.tooSmall(t))
	}
	return f, nil
}

// parseBool reads what YAML and Go's flags read as booleans.
func parseBool(text string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(text)) {
	case "true", "t", "1", "yes", "y", "on":
		return true, nil
	case "false", "f", "0", "no", "n", "off":
		return false, nil
	}
	return false, strconv.ErrSyntax
}

// canonical returns the Values entry that text names without regard to
// case, or text as given.
func (s *Setting) canonical(text string) string {
	t := strings.TrimSpace(text)
	for _, v := range s.Values {
		if strings.EqualFold(v, t) {
			return v
		}
	}
	if len(s.Values) > 0 && t == "" {
		return ""
	}
	return text
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Closest returns the candidate nearest to word (by edit distance, ignoring
// case, '-' against '_'), or "" when none is near enough to be a likely
// misspelling: what a message suggests for an unknown name.
func Closest(word string, candidates []string) string {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }
	w := norm(word)
	best, bestD := "", 0
	for _, c := range candidates {
		d := editDistance(w, norm(c))
		if best == "" || d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > max(1, len(w)/4) {
		return ""
	}
	return best
}

// editDistance is the edit distance of a and b, a swap of two neighbours
// counting as one edit (optimal string alignment).
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
