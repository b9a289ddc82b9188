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

	"github.com/parallelrun/prs/internal/turbojpeg"
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
	acc  []int   // one row of the vertical pass, in fixed point
	rgb  []uint8 // a JPEG decoded as RGB for a grayscale plan
	tj   *turbojpeg.Decoder
	hc   coeffs // resize coefficients, kept while sizes repeat
	vc   coeffs
	vals [][]byte // a JSON row's feature values
}

// decodeImage reads the image at path into s.pix as p.height x p.width x
// p.channels bytes, resizing and cropping as the plan says. A JPEG file
// goes to libjpeg-turbo when the plan has it (see turbo.go); one that
// library does not take, and every other file, to Go's decoders.
func (p *plan) decodeImage(path string, s *scratch) ([]uint8, error) {
	var err error
	if s.file, err = readFile(path, s.file); err != nil {
		return nil, err
	}
	if p.turbo != nil && isJPEG(s.file) {
		if pix, ok, err := p.decodeTurbo(s); ok {
			return pix, err
		}
	}
	s.rd.Reset(s.file)
	cfg, _, err := image.DecodeConfig(&s.rd)
	if err != nil {
		return nil, fmt.Errorf("not a PNG, JPEG, GIF, BMP or WebP image: %w", err)
	}
	if err := p.checkSize(cfg.Width, cfg.Height); err != nil {
		return nil, err
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
	return p.resizeImage(s, s.pix, w, h, w, h, turbojpeg.Factor{Num: 1, Denom: 1}), nil
}

// checkSize refuses an image of w x h pixels that is too large, or that
// does not have the model's size under resize none.
func (p *plan) checkSize(w, h int) error {
	if w < 1 || h < 1 || int64(w)*int64(h) > maxImagePixels {
		return fmt.Errorf("image of %dx%d pixels (width x height) is empty or larger than %d pixels", w, h, maxImagePixels)
	}
	if p.resize == "none" && (w != p.width || h != p.height) {
		return fmt.Errorf("%w: image is %dx%d (width x height), the model takes %dx%d; set onnx.preprocess.resize to exact or shorter_side",
			errImageSize, w, h, p.width, p.height)
	}
	return nil
}

// target is the size (full width and height) that an image of w x h
// pixels is resized to before the crop: p's size for resize exact, the
// shorter side at resize_to for shorter_side, w x h for none.
func (p *plan) target(w, h int) (fw, fh int) {
	switch p.resize {
	case "exact":
		return p.width, p.height
	case "shorter_side":
		fw, fh = p.resizeTo, p.resizeTo
		if w <= h {
			fh = int(float64(p.resizeTo) * float64(h) / float64(w))
		} else {
			fw = int(float64(p.resizeTo) * float64(w) / float64(h))
		}
		return fw, fh
	}
	return w, h
}

// resizeImage resizes and crops pix, w x h pixels decoded at scale f from
// an image of ow x oh pixels (f is 1/1 and w x h is ow x oh without a
// scaled decode), as the plan says.
func (p *plan) resizeImage(s *scratch, pix []uint8, w, h, ow, oh int, f turbojpeg.Factor) []uint8 {
	fw, fh := p.target(ow, oh)
	switch {
	case p.resize == "none":
		return pix
	case p.resize == "exact" && f.Num == f.Denom && w == fw && h == fh:
		return pix
	}
	left, top := 0, 0
	if p.resize == "shorter_side" {
		top = int(math.RoundToEven(float64(fh-p.height) / 2))
		left = int(math.RoundToEven(float64(fw-p.width) / 2))
	}
	// A scaled image's pixel covers Denom/Num pixels of the image: its
	// extent in its own pixels is the image's size times the factor.
	ew := float64(ow) * float64(f.Num) / float64(f.Denom)
	eh := float64(oh) * float64(f.Num) / float64(f.Denom)
	return s.resize(pix, w, h, ew, eh, p.channels, fw, fh, left, top, p.width, p.height)
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
	case f32 != nil && c == 3: // rgb nchw: one pass, three planes
		r, g, b := f32[:hw], f32[hw:2*hw], f32[2*hw:3*hw]
		l0, l1, l2 := &p.lut32[0], &p.lut32[1], &p.lut32[2]
		for i := range r {
			px := pix[3*i : 3*i+3 : 3*i+3]
			r[i], g[i], b[i] = l0[px[0]], l1[px[1]], l2[px[2]]
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
