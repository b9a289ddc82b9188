package onnx

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/gif" // registers GIF
	_ "image/jpeg"
	_ "image/png"
	"math"

	_ "golang.org/x/image/bmp" // registers BMP
	_ "golang.org/x/image/webp"
)

// maxImagePixels bounds the pixels of an image the handler decodes, against
// files that would take the worker's memory.
const maxImagePixels = 1 << 28

// errImageSize is wrapped by the error of an image whose size does not fit
// resize none.
var errImageSize = errors.New("image size does not match the model input")

// scratch holds one decoding goroutine's buffers, reused across items.
type scratch struct {
	file []byte // the item's file
	rd   bytes.Reader
	pix  []uint8 // decoded pixels, height x width x channels
	res  []uint8 // resized pixels
	tmp  []uint8 // the horizontal pass of a resize
	hc   coeffs  // resize coefficients, kept while sizes repeat
	vc   coeffs
	vals [][]byte // a JSON row's feature values
}

// decodeImage reads the image at path into s.pix as p.height x p.width x
// p.channels bytes, resizing and cropping as the plan says.
func (p *plan) decodeImage(path string, s *scratch) ([]uint8, error) {
	var err error
	if s.file, err = readFile(path, s.file); err != nil {
		return nil, err
	}
	s.rd.Reset(s.file)
	cfg, _, err := image.DecodeConfig(&s.rd)
	if err != nil {
		return nil, fmt.Errorf("not a PNG, JPEG, GIF, BMP or WebP image: %w", err)
	}
	if cfg.Width < 1 || cfg.Height < 1 || int64(cfg.Width)*int64(cfg.Height) > maxImagePixels {
		return nil, fmt.Errorf("image of %dx%d pixels (width x height) is empty or larger than %d pixels", cfg.Width, cfg.Height, maxImagePixels)
	}
	if p.resize == "none" && (cfg.Width != p.width || cfg.Height != p.height) {
		return nil, fmt.Errorf("%w: image is %dx%d (width x height), the model takes %dx%d; set onnx.preprocess.resize to exact or shorter_side",
			errImageSize, cfg.Width, cfg.Height, p.width, p.height)
	}
	s.rd.Reset(s.file)
	img, format, err := image.Decode(&s.rd)
	if err != nil {
		return nil, fmt.Errorf("decoding the %s image: %w", format, err)
	}
	if screen := image.Rect(0, 0, cfg.Width, cfg.Height); img.Bounds() != screen {
		// A GIF's first frame may cover part of its screen only: place it
		// on a screen-sized canvas, black around it, as the file says.
		canvas := image.NewNRGBA(screen)
		draw.Draw(canvas, screen, image.NewUniform(color.Black), image.Point{}, draw.Src)
		draw.Draw(canvas, img.Bounds(), img, img.Bounds().Min, draw.Over)
		img = canvas
	}
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	s.pix = toPixels(img, p.gray, s.pix)
	switch p.resize {
	case "exact":
		if w == p.width && h == p.height {
			return s.pix, nil
		}
		return s.resize(s.pix, w, h, p.channels, p.width, p.height, 0, 0, p.width, p.height), nil
	case "shorter_side":
		fw, fh := p.resizeTo, p.resizeTo
		if w <= h {
			fh = int(float64(p.resizeTo) * float64(h) / float64(w))
		} else {
			fw = int(float64(p.resizeTo) * float64(w) / float64(h))
		}
		top := int(math.RoundToEven(float64(fh-p.height) / 2))
		left := int(math.RoundToEven(float64(fw-p.width) / 2))
		return s.resize(s.pix, w, h, p.channels, fw, fh, left, top, p.width, p.height), nil
	}
	return s.pix, nil
}

// toPixels converts img to 8-bit grayscale or RGB, row by row, into buf.
// Alpha is dropped (as PIL's convert("RGB") does); gray is the ITU-R 601-2
// luma of the RGB values (as PIL's convert("L") does).
func toPixels(img image.Image, gray bool, buf []uint8) []uint8 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	c := 3
	if gray {
		c = 1
	}
	buf = grow(buf, w*h*c)
	put := func(i int, r, g, bl uint8) {
		if gray {
			buf[i] = luma(r, g, bl)
			return
		}
		buf[i*3], buf[i*3+1], buf[i*3+2] = r, g, bl
	}
	switch m := img.(type) {
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			if gray {
				copy(buf[y*w:], row)
				continue
			}
			for x, v := range row {
				put(y*w+x, v, v, v)
			}
		}
	case *image.YCbCr:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				yi := m.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := m.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bl := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				put(y*w+x, r, g, bl)
			}
		}
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			for x := 0; x < w; x++ {
				put(y*w+x, row[4*x], row[4*x+1], row[4*x+2])
			}
		}
	case *image.RGBA:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			for x := 0; x < w; x++ {
				put(y*w+x, row[4*x], row[4*x+1], row[4*x+2])
			}
		}
	case *image.Paletted:
		var pal [256][3]uint8
		for i, pc := range m.Palette {
			n := color.NRGBAModel.Convert(pc).(color.NRGBA)
			pal[i] = [3]uint8{n.R, n.G, n.B}
		}
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for x, v := range row {
				put(y*w+x, pal[v][0], pal[v][1], pal[v][2])
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				n := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				put(y*w+x, n.R, n.G, n.B)
			}
		}
	}
	return buf
}

// luma is PIL's "L" of an RGB pixel: (299 R + 587 G + 114 B) / 1000 in
// fixed point.
func luma(r, g, b uint8) uint8 {
	return uint8((19595*uint32(r) + 38470*uint32(g) + 7471*uint32(b) + 1<<15) >> 16)
}

// store writes pixels (height x width x channels) into one item's input
// through the plan's normalisation tables, in the plan's layout.
func (p *plan) store(pix []uint8, f32 []float32, u8 []uint8) {
	hw, c := p.height*p.width, p.channels
	pix = pix[:hw*c]
	switch {
	case f32 != nil && p.nhwc:
		f32 = f32[:hw*c]
		for i := 0; i < len(pix); i += c {
			for ch := 0; ch < c; ch++ {
				f32[i+ch] = p.lut32[ch][pix[i+ch]]
			}
		}
	case f32 != nil:
		for ch := 0; ch < c; ch++ {
			lut, dst := &p.lut32[ch], f32[ch*hw:(ch+1)*hw]
			for i := range dst {
				dst[i] = lut[pix[i*c+ch]]
			}
		}
	case p.nhwc:
		u8 = u8[:hw*c]
		for i := 0; i < len(pix); i += c {
			for ch := 0; ch < c; ch++ {
				u8[i+ch] = p.lut8[ch][pix[i+ch]]
			}
		}
	default:
		for ch := 0; ch < c; ch++ {
			lut, dst := &p.lut8[ch], u8[ch*hw:(ch+1)*hw]
			for i := range dst {
				dst[i] = lut[pix[i*c+ch]]
			}
		}
	}
}

func grow[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	return b[:n]
}
