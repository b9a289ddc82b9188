package onnx

import (
	"bytes"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"testing"
)

// photo is a w x h picture that compresses and decodes about as a
// photograph does: per channel a base level and three waves, a few
// hard-edged discs and boxes (edges, where decoders differ most), and
// noise of up to ±12 levels. seed picks it.
func photo(w, h int, seed uint64) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, uint64(w)<<32|uint64(h)))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	type wave struct{ amp, fx, fy, phase float64 }
	var base [3]float64
	var waves [3][3]wave
	for c := range 3 {
		base[c] = 60 + 135*r.Float64()
		for k := range waves[c] {
			f := (0.5 + 6*r.Float64()) * 2 * math.Pi / float64(max(w, h))
			dir := [3][2]float64{{1, 0}, {0, 1}, {0.7, 0.7}}[k]
			waves[c][k] = wave{20 + 30*r.Float64(), f * dir[0], f * dir[1], 2 * math.Pi * r.Float64()}
		}
	}
	type shape struct {
		disc           bool
		x0, y0, x1, y1 float64
		col            [3]float64
	}
	shapes := make([]shape, 6)
	for i := range shapes {
		x, y := r.Float64()*float64(w), r.Float64()*float64(h)
		sw, sh := (0.05+0.25*r.Float64())*float64(w), (0.05+0.25*r.Float64())*float64(h)
		shapes[i] = shape{disc: i%2 == 0, x0: x, y0: y, x1: x + sw, y1: y + sh,
			col: [3]float64{255 * r.Float64(), 255 * r.Float64(), 255 * r.Float64()}}
	}
	for y := range h {
		row := img.Pix[y*img.Stride : y*img.Stride+4*w]
		for x := range w {
			var px [3]float64
			for c := range 3 {
				px[c] = base[c]
				for _, wv := range waves[c] {
					px[c] += wv.amp * math.Sin(wv.fx*float64(x)+wv.fy*float64(y)+wv.phase)
				}
			}
			for _, s := range shapes {
				in := float64(x) >= s.x0 && float64(x) < s.x1 && float64(y) >= s.y0 && float64(y) < s.y1
				if in && s.disc {
					cx, cy := (s.x0+s.x1)/2, (s.y0+s.y1)/2
					dx, dy := (float64(x)-cx)/((s.x1-s.x0)/2), (float64(y)-cy)/((s.y1-s.y0)/2)
					in = dx*dx+dy*dy <= 1
				}
				if in {
					px = s.col
				}
			}
			noise := r.Uint64()
			for c := range 3 {
				v := px[c] + float64(int(noise>>(8*c)&0xff)%25-12)
				row[4*x+c] = uint8(min(255, max(0, v)))
			}
			row[4*x+3] = 255
		}
	}
	return img
}

func encodeJPEG(t testing.TB, img image.Image, quality int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
