package contracts

import (
	"reflect"
	"strings"
	"unicode/utf8"
)

// checkText refuses a setting that is not UTF-8 text, naming its key: the
// Job record (JSON) would carry it to the workers with U+FFFD in place of
// its bytes, so that a worker would look for another folder, script or file
// than the one the producer saw.
func (c *Config) checkText() error {
	return checkText(reflect.ValueOf(c).Elem(), "")
}

func checkText(v reflect.Value, key string) error {
	switch v.Kind() {
	case reflect.String:
		if s := v.String(); !utf8.ValidString(s) {
			return invalid(key, "%q is not UTF-8 text", s)
		}
	case reflect.Pointer:
		if !v.IsNil() {
			return checkText(v.Elem(), key)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if key != "" {
				name = key + "." + name
			}
			if err := checkText(v.Field(i), name); err != nil {
				return err
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			if err := checkText(v.Index(i), key); err != nil {
				return err
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if err := checkText(it.Key(), key); err != nil {
				return err
			}
			if err := checkText(it.Value(), key); err != nil {
				return err
			}
		}
	}
	return nil
}
