package onnx

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

// FuzzNPY parses any bytes as a .npy file and decodes the arrays it accepts
// into a model input of their own shape: parseNPY fails only with errNPY;
// an array it accepts has a supported dtype and exactly the bytes its shape
// needs; and decoding it into float32 (and uint8 for |u1) neither panics
// nor fails.
func FuzzNPY(f *testing.F) {
	for _, s := range [][]byte{
		npyFile("<f4", []int{2, 3}, f32bytes([]float32{1, 2, 3, 4, 5, 6})),
		npyFile("<f8", []int{1, 2, 2}, f64bytes([]float32{1.5, 2, 3, 4})),
		npyFile("|u1", []int{3}, []byte{7, 8, 9}),
		npyFile("<f4", []int{}, f32bytes([]float32{1})),
		npyFile("<f4", []int{0, 5}, nil),
		npyFile(">f4", []int{1}, make([]byte, 4)),
		npyFile("<f4", []int{1 << 20, 1 << 20}, nil),
		[]byte("\x93NUMPY\x02\x00\x10\x00\x00\x00{'descr':'|u1'}"), []byte("\x93NUMPY\x03\x00\xff\xff\xff\xff"), []byte("hello"),
	} {
		f.Add(s)
	}
	path := filepath.Join(f.TempDir(), "item.npy") // one per fuzzing process, which runs inputs one at a time
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parseNPY(b)
		if err != nil {
			if !errors.Is(err, errNPY) {
				t.Fatalf("parseNPY(%q): %v, want errNPY", b, err)
			}
			return
		}
		n := int64(1)
		for _, d := range a.shape {
			if d < 0 {
				t.Fatalf("parseNPY(%q): shape %v", b, a.shape)
			}
			n *= d
		}
		if a.descr != "<f4" && a.descr != "<f8" && a.descr != "|u1" || n*a.size() != int64(len(a.data)) {
			t.Fatalf("parseNPY(%q): %s of shape %v with %d bytes", b, a.descr, a.shape, len(a.data))
		}
		if n > 1<<16 {
			return
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		p := &plan{kind: kindNPY, item: a.shape, itemLen: int(n), in: ort.InputOutputInfo{Name: "x"}}
		var s scratch
		if err := p.decodeNPY(path, &s, make([]float32, n), nil); err != nil {
			t.Fatalf("decodeNPY of an array of the model's shape %v: %v", a.shape, err)
		}
		if a.descr == "|u1" {
			if err := p.decodeNPY(path, &s, nil, make([]uint8, n)); err != nil {
				t.Fatalf("decodeNPY into uint8: %v", err)
			}
		}
	})
}

// FuzzDecodeImage decodes any bytes as an item's image for a model input of
// a fuzzed size, mode and resize: decodeImage neither panics nor returns
// pixels of another size than the model's, whatever the file claims; and
// the pixels store into the model input.
func FuzzDecodeImage(f *testing.F) {
	var pngGray, jpg, gifSmallFrame bytes.Buffer
	pngGray.Write(encodePNG(f, grayImage(8, 8, 200)))
	if err := jpeg.Encode(&jpg, rgbImage(9, 5), nil); err != nil {
		f.Fatal(err)
	}
	// A GIF whose first frame is smaller than its logical screen: the
	// screen has the model's size, the decoded image has not.
	frame := image.NewPaletted(image.Rect(2, 2, 6, 5), palette.Plan9)
	frame.SetColorIndex(3, 3, 200)
	if err := gif.EncodeAll(&gifSmallFrame, &gif.GIF{Image: []*image.Paletted{frame}, Delay: []int{0},
		Config: image.Config{ColorModel: color.Palette(palette.Plan9), Width: 8, Height: 8}}); err != nil {
		f.Fatal(err)
	}
	for i, s := range [][]byte{pngGray.Bytes(), jpg.Bytes(), gifSmallFrame.Bytes(), encodePNG(f, rgbImage(1, 40)), []byte("GIF89a"), []byte("\x89PNG\r\n\x1a\n")} {
		for mode := range uint8(6) {
			f.Add(s, mode+uint8(6*i), uint8(7), uint8(7))
		}
	}
	path := filepath.Join(f.TempDir(), "item") // one per fuzzing process, which runs inputs one at a time
	f.Fuzz(func(t *testing.T, b []byte, mode, hh, ww uint8) {
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(b)); err == nil && int64(cfg.Width)*int64(cfg.Height) > 1<<20 {
			return // a real limit (maxImagePixels) but too much memory for a fuzzing run
		}
		h, w := int(hh%32)+1, int(ww%32)+1
		p := &plan{kind: kindImage, height: h, width: w, channels: 3, gray: mode%2 == 1,
			resize: []string{"none", "exact", "shorter_side"}[mode/2%3], resizeTo: max(h, w) + int(mode/6%16)}
		if p.gray {
			p.channels = 1
		}
		p.lut32 = make([][256]float32, p.channels)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		var s scratch
		pix, err := p.decodeImage(path, &s)
		if err != nil {
			return
		}
		if len(pix) != h*w*p.channels {
			t.Fatalf("%s to %dx%dx%d: %d values", p.resize, h, w, p.channels, len(pix))
		}
		p.store(pix, make([]float32, h*w*p.channels), nil)
	})
}
