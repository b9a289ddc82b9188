package onnx

import "math"

// coeffs are the weights of a 1-D resampling: output position i reads
// n[i] input positions from start[i] with weights w[i*taps:].
type coeffs struct {
	in, full, off, out int // the key they were made for
	taps               int
	start, n           []int
	w                  []float32
}

// make computes, as PIL's BILINEAR resampling does, the triangle
// filter weights (widened by the downscale factor, so that shrinking
// averages instead of aliasing) that resample in positions to full
// positions, for the out positions from off.
func (c *coeffs) make(in, full, off, out int) {
	if c.in == in && c.full == full && c.off == off && c.out == out {
		return
	}
	scale := float64(in) / float64(full)
	filterScale := max(scale, 1)
	support := filterScale // the triangle's support is 1
	c.in, c.full, c.off, c.out = in, full, off, out
	c.taps = int(math.Ceil(support))*2 + 1
	c.start, c.n = grow(c.start, out), grow(c.n, out)
	c.w = grow(c.w, out*c.taps)
	for i := range out {
		center := (float64(i+off) + 0.5) * scale
		lo := max(int(center-support+0.5), 0)
		hi := min(int(center+support+0.5), in)
		w := c.w[i*c.taps : (i+1)*c.taps]
		sum := 0.0
		for x := lo; x < hi; x++ {
			t := math.Abs((float64(x) - center + 0.5) / filterScale)
			v := max(0, 1-t)
			w[x-lo] = float32(v)
			sum += v
		}
		if sum > 0 {
			for k := range hi - lo {
				w[k] = float32(float64(w[k]) / sum)
			}
		}
		c.start[i], c.n[i] = lo, hi-lo
	}
}

// resize resamples pix (w x h x ch) as if to fw x fh and returns the out
// window of ow x oh pixels from (left, top), rounding to 8 bits after each
// pass as PIL does.
func (s *scratch) resize(pix []uint8, w, h, ch, fw, fh, left, top, ow, oh int) []uint8 {
	s.vc.make(h, fh, top, oh)
	s.hc.make(w, fw, left, ow)
	// Rows of the input that the vertical pass reads.
	r0, r1 := s.vc.start[0], s.vc.start[oh-1]+s.vc.n[oh-1]
	s.tmp = grow(s.tmp, (r1-r0)*ow*ch)
	hc := &s.hc
	for y := r0; y < r1; y++ {
		src := pix[y*w*ch : (y+1)*w*ch]
		dst := s.tmp[(y-r0)*ow*ch : (y-r0+1)*ow*ch]
		for x := range ow {
			wt := hc.w[x*hc.taps : x*hc.taps+hc.n[x]]
			base := hc.start[x] * ch
			for c := range ch {
				var acc float32
				for k, wk := range wt {
					acc += wk * float32(src[base+k*ch+c])
				}
				dst[x*ch+c] = clamp8(acc)
			}
		}
	}
	s.res = grow(s.res, ow*oh*ch)
	vc, stride := &s.vc, ow*ch
	for y := range oh {
		wt := vc.w[y*vc.taps : y*vc.taps+vc.n[y]]
		base := (vc.start[y] - r0) * stride
		dst := s.res[y*stride : (y+1)*stride]
		for i := range dst {
			var acc float32
			for k, wk := range wt {
				acc += wk * float32(s.tmp[base+k*stride+i])
			}
			dst[i] = clamp8(acc)
		}
	}
	return s.res
}

func clamp8(v float32) uint8 {
	v += 0.5
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v)
}
