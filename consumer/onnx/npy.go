package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

// errNPY is wrapped by the errors of files that are not usable .npy arrays.
var errNPY = errors.New("bad npy file")

// npyArray is a parsed .npy file.
type npyArray struct {
	descr string // '<f4', '<f8' or '|u1' (normalised)
	shape []int64
	data  []byte
}

// readFile reads path into buf, reusing its memory.
func readFile(path string, buf []byte) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return buf, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return buf, err
	}
	if fi.Size() > 1<<31 {
		return buf, fmt.Errorf("file of %d bytes is too large for one item", fi.Size())
	}
	buf = grow(buf, int(fi.Size()))
	if _, err := io.ReadFull(f, buf); err != nil {
		return buf, err
	}
	return buf, nil
}

// parseNPY parses a NumPy .npy file (format versions 1 to 3) holding a
// C-order array of little-endian float32, float64 or uint8.
func parseNPY(b []byte) (npyArray, error) {
	var a npyArray
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" {
		return a, fmt.Errorf("%w: no NumPy magic string", errNPY)
	}
	var hlen, off int
	switch b[6] {
	case 1:
		hlen, off = int(binary.LittleEndian.Uint16(b[8:10])), 10
	case 2, 3:
		if len(b) < 12 {
			return a, fmt.Errorf("%w: truncated header", errNPY)
		}
		hlen, off = int(binary.LittleEndian.Uint32(b[8:12])), 12
	default:
		return a, fmt.Errorf("%w: unknown format version %d", errNPY, b[6])
	}
	if off+hlen > len(b) {
		return a, fmt.Errorf("%w: truncated header", errNPY)
	}
	h := string(b[off : off+hlen])
	descr, ok := npyField(h, "descr")
	if !ok {
		return a, fmt.Errorf("%w: header has no descr: %s", errNPY, strings.TrimSpace(h))
	}
	descr = strings.Trim(descr, `'"`)
	switch descr {
	case "<f4", "=f4":
		a.descr = "<f4"
	case "<f8", "=f8":
		a.descr = "<f8"
	case "|u1", "<u1", "=u1", ">u1":
		a.descr = "|u1"
	default:
		return a, fmt.Errorf("%w: dtype %s; the onnx handler reads little-endian float32 (<f4), float64 (<f8) and uint8 (|u1)", errNPY, descr)
	}
	if fo, _ := npyField(h, "fortran_order"); fo != "False" {
		return a, fmt.Errorf("%w: fortran_order %s; save the array in C order (np.ascontiguousarray)", errNPY, fo)
	}
	sh, ok := npyField(h, "shape")
	if !ok || !strings.HasPrefix(sh, "(") || !strings.HasSuffix(sh, ")") {
		return a, fmt.Errorf("%w: header has no shape: %s", errNPY, strings.TrimSpace(h))
	}
	count := int64(1)
	for _, f := range strings.Split(strings.Trim(sh, "()"), ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		d, err := strconv.ParseInt(strings.TrimSuffix(f, "L"), 10, 64)
		if err != nil || d < 0 || d > 1<<31 {
			return a, fmt.Errorf("%w: shape %s", errNPY, sh)
		}
		if count *= d; count > 1<<31 {
			return a, fmt.Errorf("%w: shape %s is too large for one item", errNPY, sh)
		}
		a.shape = append(a.shape, d)
	}
	a.data = b[off+hlen:]
	if want := count * a.size(); int64(len(a.data)) != want {
		return a, fmt.Errorf("%w: shape %v of %s needs %d bytes of data, the file has %d", errNPY, a.shape, a.descr, want, len(a.data))
	}
	return a, nil
}

func (a npyArray) size() int64 {
	switch a.descr {
	case "<f4":
		return 4
	case "<f8":
		return 8
	}
	return 1
}

// npyField returns the value of key in the header's Python dict literal.
func npyField(h, key string) (string, bool) {
	i := strings.Index(h, "'"+key+"'")
	if i < 0 {
		i = strings.Index(h, `"`+key+`"`)
	}
	if i < 0 {
		return "", false
	}
	rest := strings.TrimSpace(h[i+len(key)+2:])
	rest, ok := strings.CutPrefix(rest, ":")
	if !ok {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	if rest == "" {
		return "", false
	}
	switch rest[0] {
	case '(':
		if j := strings.IndexByte(rest, ')'); j >= 0 {
			return rest[:j+1], true
		}
	case '\'', '"':
		if j := strings.IndexByte(rest[1:], rest[0]); j >= 0 {
			return rest[:j+2], true
		}
	default:
		if j := strings.IndexAny(rest, ",}"); j >= 0 {
			return strings.TrimSpace(rest[:j]), true
		}
	}
	return "", false
}

// decodeNPY reads the .npy file at path into one item's input.
func (p *plan) decodeNPY(path string, s *scratch, f32 []float32, u8 []uint8) error {
	var err error
	if s.file, err = readFile(path, s.file); err != nil {
		return err
	}
	a, err := parseNPY(s.file)
	if err != nil {
		return err
	}
	shape := a.shape
	if len(shape) == len(p.item)+1 && shape[0] == 1 {
		shape = shape[1:]
	}
	if !slices.Equal(shape, p.item) {
		return fmt.Errorf("%w: shape %v does not match the model input's per-item shape %v (a leading 1 may be added)", errNPY, a.shape, p.item)
	}
	d := a.data
	if u8 != nil {
		if a.descr != "|u1" {
			return fmt.Errorf("%w: holds %s, the model input %q holds uint8", errNPY, a.descr, p.in.Name)
		}
		copy(u8, d)
		return nil
	}
	switch a.descr {
	case "<f4":
		for i := range f32[:p.itemLen] {
			f32[i] = math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:]))
		}
	case "<f8":
		for i := range f32[:p.itemLen] {
			f32[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(d[8*i:])))
		}
	default:
		for i := range f32[:p.itemLen] {
			f32[i] = float32(d[i])
		}
	}
	return nil
}
