package onnx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

func TestParseNPY(t *testing.T) {
	t.Parallel()
	data := f32bytes([]float32{1, 2, 3, 4, 5, 6})
	a, err := parseNPY(npyFile("<f4", []int{2, 3}, data))
	if err != nil {
		t.Fatal(err)
	}
	if a.descr != "<f4" || !slices.Equal(a.shape, []int64{2, 3}) || !bytes.Equal(a.data, data) {
		t.Fatalf("%+v", a)
	}
	// Version 2 has a 4-byte header length.
	v1 := npyFile("|u1", []int{3}, []byte{7, 8, 9})
	hlen := binary.LittleEndian.Uint16(v1[8:10])
	v2 := append([]byte("\x93NUMPY\x02\x00"), binary.LittleEndian.AppendUint32(nil, uint32(hlen))...)
	v2 = append(v2, v1[10:]...)
	if a, err := parseNPY(v2); err != nil || !slices.Equal(a.shape, []int64{3}) || !bytes.Equal(a.data, []byte{7, 8, 9}) {
		t.Fatalf("version 2: %+v, %v", a, err)
	}
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"not npy", []byte("hello, world"), "no NumPy magic string"},
		{"big-endian", npyFile(">f4", []int{1}, make([]byte, 4)), "dtype >f4"},
		{"int64", npyFile("<i8", []int{1}, make([]byte, 8)), "dtype <i8"},
		{"fortran", bytes.Replace(npyFile("<f4", []int{2, 2}, make([]byte, 16)), []byte("False"), []byte("True "), 1), "fortran_order True"},
		{"short", npyFile("<f4", []int{2, 3}, make([]byte, 20)), "needs 24 bytes of data, the file has 20"},
		{"long", npyFile("<f4", []int{2}, make([]byte, 12)), "needs 8 bytes of data, the file has 12"},
		{"truncated header", npyFile("<f4", []int{2}, nil)[:30], "truncated header"},
		{"huge", npyFile("<f4", []int{1 << 20, 1 << 20}, nil), "too large"},
	} {
		_, err := parseNPY(tc.file)
		if !errors.Is(err, errNPY) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestDecodeNPY(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := &plan{kind: kindNPY, item: []int64{2, 2}, itemLen: 4, in: ort.InputOutputInfo{Name: "x"}}
	var s scratch
	dst := make([]float32, 4)
	for _, tc := range []struct {
		file string
		data []byte
	}{
		{"f4.npy", npyFile("<f4", []int{1, 2, 2}, f32bytes([]float32{1.5, 2, 3, 4}))},
		{"f8.npy", npyFile("<f8", []int{2, 2}, f64bytes([]float32{1.5, 2, 3, 4}))},
	} {
		clear(dst)
		if err := p.decodeNPY(writeFile(t, filepath.Join(dir, tc.file), tc.data), &s, dst, nil); err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if !slices.Equal(dst, []float32{1.5, 2, 3, 4}) {
			t.Errorf("%s: %v", tc.file, dst)
		}
	}
	u1 := writeFile(t, filepath.Join(dir, "u1.npy"), npyFile("|u1", []int{2, 2}, []byte{1, 2, 3, 255}))
	if err := p.decodeNPY(u1, &s, dst, nil); err != nil || !slices.Equal(dst, []float32{1, 2, 3, 255}) {
		t.Errorf("uint8 to float32: %v %v", dst, err)
	}
	u8 := make([]uint8, 4)
	if err := p.decodeNPY(u1, &s, nil, u8); err != nil || !slices.Equal(u8, []uint8{1, 2, 3, 255}) {
		t.Errorf("uint8 to uint8: %v %v", u8, err)
	}
	f4 := writeFile(t, filepath.Join(dir, "f4.npy"), npyFile("<f4", []int{2, 2}, make([]byte, 16)))
	if err := p.decodeNPY(f4, &s, nil, u8); err == nil || !strings.Contains(err.Error(), `holds <f4, the model input "x" holds uint8`) {
		t.Errorf("float32 to uint8: %v", err)
	}
	shape := writeFile(t, filepath.Join(dir, "shape.npy"), npyFile("<f4", []int{4}, make([]byte, 16)))
	if err := p.decodeNPY(shape, &s, dst, nil); err == nil || !strings.Contains(err.Error(), "shape [4] does not match the model input's per-item shape [2 2]") {
		t.Errorf("shape: %v", err)
	}
}
