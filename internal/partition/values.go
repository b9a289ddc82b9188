package partition

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"

	"github.com/parallelrun/prs/contracts"
)

// valueKind is how a group's key value is typed in mini_batch_context:
// as the DataFrame that run() gets holds the key column.
type valueKind byte

const (
	// kindString: a JSON string (a JSON Lines string, a CSV field of a
	// group staged as JSON Lines, whose DataFrame holds text).
	kindString valueKind = iota
	// kindText: a CSV field of a group staged as CSV; pandas.read_csv
	// infers its type (pandasValue).
	kindText
	// kindJSON: a JSON value other than a string, as written (a number, a
	// boolean, an object or an array).
	kindJSON
	// kindNull: a JSON null or a missing key.
	kindNull
)

// typedValues returns a group's values in the order of keys, typed by
// kinds.
func typedValues(keys, vals []string, kinds []valueKind) contracts.PartitionValues {
	out := make(contracts.PartitionValues, len(keys))
	for i, k := range keys {
		switch kinds[i] {
		case kindText:
			out[i] = contracts.PartitionValue{Key: k, Value: pandasValue(vals[i])}
		case kindJSON:
			out[i] = contracts.PartitionValue{Key: k, Value: json.RawMessage(vals[i])}
		case kindNull:
			out[i] = contracts.PartitionValue{Key: k, Value: json.RawMessage("null")}
		default:
			out[i] = contracts.StringValue(k, vals[i])
		}
	}
	return out
}

// naText are the texts that pandas.read_csv reads as a missing value by
// default (pandas 2).
var naText = map[string]bool{
	"": true, "#N/A": true, "#N/A N/A": true, "#NA": true, "-1.#IND": true, "-1.#QNAN": true,
	"-NaN": true, "-nan": true, "1.#IND": true, "1.#QNAN": true, "<NA>": true, "N/A": true,
	"NA": true, "NULL": true, "NaN": true, "None": true, "n/a": true, "nan": true, "null": true,
}

var (
	intText   = regexp.MustCompile(`^[+-]?[0-9]+$`)
	floatText = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)
)

// pandasValue types a CSV field as pandas.read_csv types a column whose
// every value is that field (the key column of a group's DataFrame), as
// JSON: a missing value (NA, empty, ...) is null; True/TRUE/true and
// False/FALSE/false are booleans; a whole number within 64 bits (signed or
// not) is an integer, leading zeros and a sign allowed ("007" is 7); a
// decimal number is a float, always written with a point or an exponent so
// that Python reads a float ("2.0"); anything else, an infinite or
// out-of-range number included, is the text as a string.
func pandasValue(text string) json.RawMessage {
	t := strings.TrimSpace(text)
	switch {
	case naText[t]:
		return json.RawMessage("null")
	case t == "True" || t == "TRUE" || t == "true":
		return json.RawMessage("true")
	case t == "False" || t == "FALSE" || t == "false":
		return json.RawMessage("false")
	case intText.MatchString(t):
		if n, err := strconv.ParseInt(t, 10, 64); err == nil {
			return json.RawMessage(strconv.FormatInt(n, 10))
		}
		if n, err := strconv.ParseUint(strings.TrimPrefix(t, "+"), 10, 64); err == nil {
			return json.RawMessage(strconv.FormatUint(n, 10))
		}
	case floatText.MatchString(t):
		if f, err := strconv.ParseFloat(t, 64); err == nil {
			s := strconv.FormatFloat(f, 'g', -1, 64)
			if !strings.ContainsAny(s, ".e") {
				s += ".0"
			}
			return json.RawMessage(s)
		}
	}
	return contracts.AppendName(nil, text)
}
