package onnx

import "math"

// precision is the fixed-point precision of the weights, PIL's
// PRECISION_BITS.
const precision = 22

// coeffs are the weights of a 1-D resampling: output position i reads
// n[i] input positions from start[i] with weights w[i*taps:], in fixed
// point (1 << precision is 1).
type coeffs struct {
	in, full, off, out int     // the key they were made for
	extent             float64 // with in
	taps               int
	start, n           []int
	w                  []int
	f                  []float64 // the weights before rounding, of one position
}

// make computes, as PIL's BILINEAR resampling does, the triangle
// filter weights (widened by the downscale factor, so that shrinking
// averages instead of aliasing) that resample in positions to full
// positions, for the out positions from off. The in positions span extent
// (in, or less when the last one covers only part of a pixel, as after a
// scaled JPEG decode).
func (c *coeffs) make(in int, extent float64, full, off, out int) {
	if c.in == in && c.extent == extent && c.full == full && c.off == off && c.out == out {
		return
	}
	scale := extent / float64(full)
	filterScale := max(scale, 1)
	support := filterScale // the triangle's support is 1
	c.in, c.extent, c.full, c.off, c.out = in, extent, full, off, out
	c.taps = int(math.Ceil(support))*2 + 1
	c.start, c.n = grow(c.start, out), grow(c.n, out)
	c.w = grow(c.w, out*c.taps)
	c.f = grow(c.f, c.taps)
	for i := range out {
		center := (float64(i+off) + 0.5) * scale
		lo := max(int(center-support+0.5), 0)
		hi := min(int(center+support+0.5), in)
		f := c.f[:hi-lo]
		sum := 0.0
		for x := lo; x < hi; x++ {
			t := math.Abs((float64(x) - center + 0.5) / filterScale)
			f[x-lo] = max(0, 1-t)
			sum += f[x-lo]
		}
		w := c.w[i*c.taps : (i+1)*c.taps]
		for k, v := range f {
			if sum > 0 {
				v /= sum
			}
			w[k] = int(math.Round(v * (1 << precision)))
		}
		c.start[i], c.n[i] = lo, hi-lo
	}
}

// resize resamples pix (w x h x ch, spanning ew x eh: see coeffs.make) as
// if to fw x fh and returns the out window of ow x oh pixels from (left,
// top), rounding to 8 bits after each pass as PIL does (in fixed point, as
// PIL does).
func (s *scratch) resize(pix []uint8, w, h int, ew, eh float64, ch, fw, fh, left, top, ow, oh int) []uint8 {
	s.vc.make(h, eh, fh, top, oh)
	s.hc.make(w, ew, fw, left, ow)
	// Rows of the input that the vertical pass reads.
	r0, r1 := s.vc.start[0], s.vc.start[oh-1]+s.vc.n[oh-1]
	stride := ow * ch
	s.tmp = grow(s.tmp, (r1-r0)*stride)
	for y := r0; y < r1; y++ {
		s.hc.row(pix[y*w*ch:(y+1)*w*ch], s.tmp[(y-r0)*stride:(y-r0+1)*stride], ch)
	}
	s.res = grow(s.res, oh*stride)
	for y := range oh {
		s.column(y, r0, stride)
	}
	return s.res
}

// column computes row y of the vertical pass from the rows of s.tmp (the
// horizontal pass of the input's rows from r0), with the common counts of
// taps unrolled.
func (s *scratch) column(y, r0, stride int) {
	vc := &s.vc
	wt := vc.w[y*vc.taps : y*vc.taps+vc.n[y]]
	base := (vc.start[y] - r0) * stride
	row := func(k int) []uint8 { return s.tmp[base+k*stride : base+(k+1)*stride] }
	dst := s.res[y*stride : (y+1)*stride]
	switch len(wt) {
	case 2:
		w0, w1 := wt[0], wt[1]
		a, b := row(0)[:len(dst)], row(1)[:len(dst)]
		for i := range dst {
			dst[i] = clamp8(half + w0*int(a[i]) + w1*int(b[i]))
		}
	case 3:
		w0, w1, w2 := wt[0], wt[1], wt[2]
		a, b, c := row(0)[:len(dst)], row(1)[:len(dst)], row(2)[:len(dst)]
		for i := range dst {
			dst[i] = clamp8(half + w0*int(a[i]) + w1*int(b[i]) + w2*int(c[i]))
		}
	case 4:
		w0, w1, w2, w3 := wt[0], wt[1], wt[2], wt[3]
		a, b, c, d := row(0)[:len(dst)], row(1)[:len(dst)], row(2)[:len(dst)], row(3)[:len(dst)]
		for i := range dst {
			dst[i] = clamp8(half + w0*int(a[i]) + w1*int(b[i]) + w2*int(c[i]) + w3*int(d[i]))
		}
	default:
		s.acc = grow(s.acc, stride)
		acc := s.acc
		for i := range acc {
			acc[i] = half
		}
		for k, wk := range wt {
			for i, v := range row(k)[:len(acc)] {
				acc[i] += wk * int(v)
			}
		}
		for i, v := range acc[:len(dst)] {
			dst[i] = clamp8(v)
		}
	}
}

// half is 0.5 in fixed point: sums start from it to round.
const half = 1 << (precision - 1)

// row resamples one row of pixels of ch channels from src into dst.
func (c *coeffs) row(src, dst []uint8, ch int) {
	if ch == 3 {
		c.row3(src, dst)
		return
	}
	for x := range len(dst) / ch {
		wt := c.w[x*c.taps : x*c.taps+c.n[x]]
		in := src[c.start[x]*ch : (c.start[x]+len(wt))*ch]
		for c := range ch {
			v := half
			for k, wk := range wt {
				v += wk * int(in[k*ch+c])
			}
			dst[x*ch+c] = clamp8(v)
		}
	}
}

// row3 is row for RGB pixels, with the common counts of taps unrolled.
func (c *coeffs) row3(src, dst []uint8) {
	for x := range len(dst) / 3 {
		wt := c.w[x*c.taps : x*c.taps+c.n[x]]
		o := c.start[x] * 3
		out := dst[3*x : 3*x+3]
		var r, g, b int
		switch len(wt) {
		case 2:
			p := src[o : o+6]
			w0, w1 := wt[0], wt[1]
			r = half + w0*int(p[0]) + w1*int(p[3])
			g = half + w0*int(p[1]) + w1*int(p[4])
			b = half + w0*int(p[2]) + w1*int(p[5])
		case 3:
			p := src[o : o+9]
			w0, w1, w2 := wt[0], wt[1], wt[2]
			r = half + w0*int(p[0]) + w1*int(p[3]) + w2*int(p[6])
			g = half + w0*int(p[1]) + w1*int(p[4]) + w2*int(p[7])
			b = half + w0*int(p[2]) + w1*int(p[5]) + w2*int(p[8])
		case 4:
			p := src[o : o+12]
			w0, w1, w2, w3 := wt[0], wt[1], wt[2], wt[3]
			r = half + w0*int(p[0]) + w1*int(p[3]) + w2*int(p[6]) + w3*int(p[9])
			g = half + w0*int(p[1]) + w1*int(p[4]) + w2*int(p[7]) + w3*int(p[10])
			b = half + w0*int(p[2]) + w1*int(p[5]) + w2*int(p[8]) + w3*int(p[11])
		default:
			r, g, b = half, half, half
			in := src[o : o+3*len(wt)]
			for _, wk := range wt {
				_ = in[2]
				r += wk * int(in[0])
				g += wk * int(in[1])
				b += wk * int(in[2])
				in = in[3:]
			}
		}
		out[0], out[1], out[2] = clamp8(r), clamp8(g), clamp8(b)
	}
}

// clamp8 is a fixed-point sum (rounding included) as 8 bits.
func clamp8(v int) uint8 {
	v >>= precision
	if uint(v) <= 255 {
		return uint8(v)
	}
	if v < 0 {
		return 0
	}
	return 255
}
