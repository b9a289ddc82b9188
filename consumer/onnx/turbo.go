package onnx

import (
	"fmt"
	"os"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/turbojpeg"
)

// TurboJPEGEnv names the environment variable that points at the
// libjpeg-turbo library (default turbojpeg.DefaultLibrary,
// libturbojpeg.so.0 on the loader's search path).
const TurboJPEGEnv = "PRS_TURBOJPEG_LIB"

// JPEG decoders of onnx.preprocess.jpeg_decoder.
const (
	decoderAuto  = "auto"
	decoderStd   = "std"
	decoderTurbo = "turbo"
)

// TurboJPEGHint says how to get libjpeg-turbo; a *DecoderError ends with it.
const TurboJPEGHint = "install libjpeg-turbo's TurboJPEG library (Debian: apt-get install libturbojpeg0) or set " + TurboJPEGEnv + " to its file"

// DecoderError is the failure to load libjpeg-turbo for
// onnx.preprocess.jpeg_decoder turbo.
type DecoderError struct {
	Library string
	Err     error
}

func (e *DecoderError) Error() string {
	return fmt.Sprintf("onnx: onnx.preprocess.jpeg_decoder turbo: cannot load libjpeg-turbo (%s): %v; %s, or set jpeg_decoder auto or std", e.Library, e.Err, TurboJPEGHint)
}

func (e *DecoderError) Unwrap() error { return e.Err }

// jpegDecoder resolves the setting jpeg_decoder on this worker: the
// library for turbo, or for auto when it loads; nil for Go's decoders.
// fallback says why auto did not load it, for the log.
func jpegDecoder(setting string) (lib *turbojpeg.Lib, fallback, err error) {
	path := os.Getenv(TurboJPEGEnv)
	switch setting {
	case decoderStd:
		return nil, nil, nil
	case "", decoderAuto:
		lib, err := turbojpeg.Open(path)
		return lib, err, nil
	case decoderTurbo:
		lib, err := turbojpeg.Open(path)
		if err != nil {
			if path == "" {
				path = turbojpeg.DefaultLibrary
			}
			return nil, nil, &DecoderError{Library: path, Err: err}
		}
		return lib, nil, nil
	}
	return nil, nil, &contracts.FieldError{Field: "onnx.preprocess.jpeg_decoder", Err: fmt.Errorf("%w: must be auto, std or turbo, got %q", contracts.ErrInvalid, setting)}
}

// isJPEG says whether data starts as a JPEG file does (SOI, then a marker).
func isJPEG(data []byte) bool {
	return len(data) >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff
}

// scaleFor is the factor libjpeg-turbo decodes an image of w x h pixels
// at: the smallest of 1/2, 1/4 and 1/8 at which the image still covers the
// size it is resized to (so that resizing never enlarges what the DCT
// scaled down), else 1. Those are the factors whose inverse DCT
// libjpeg-turbo runs with SIMD; the others (3/4, 5/8, 3/8, ...) run in
// plain C, and were measured slower than a full decode and the larger
// resize: 500x375 to a shorter side of 256 decodes and resizes about 15%
// faster at 1/1 than at 3/4 (BENCHMARKS.md).
func (p *plan) scaleFor(w, h int) turbojpeg.Factor {
	best := turbojpeg.Factor{Num: 1, Denom: 1}
	if p.resize == "none" {
		return best
	}
	tw, th := p.target(w, h)
	for d := 2; d <= 8; d *= 2 {
		f := turbojpeg.Factor{Num: 1, Denom: d}
		if !p.turbo.Has(f) || w < tw*d || h < th*d {
			break
		}
		best = f
	}
	return best
}

// decodeTurbo decodes s.file, a JPEG file, with libjpeg-turbo at the
// scale of scaleFor, then resizes it as
// decodeImage does. ok false means the library did not take the file (a
// CMYK or 12-bit JPEG, a corrupt or truncated one): Go's decoder then
// decodes it, and its error is the item's.
func (p *plan) decodeTurbo(s *scratch) (pix []uint8, ok bool, err error) {
	if s.tj == nil {
		if s.tj, err = p.turbo.NewDecoder(); err != nil {
			return nil, false, nil
		}
	}
	hd, err := s.tj.Header(s.file)
	if err != nil || hd.Width < 1 || hd.Height < 1 {
		return nil, false, nil
	}
	switch hd.Colorspace {
	case turbojpeg.ColorYCbCr, turbojpeg.ColorGray, turbojpeg.ColorRGB:
	default:
		return nil, false, nil
	}
	if err := p.checkSize(hd.Width, hd.Height); err != nil {
		return nil, true, err
	}
	f := p.scaleFor(hd.Width, hd.Height)
	w, h := f.Scaled(hd.Width), f.Scaled(hd.Height)
	switch {
	case !p.gray:
		s.pix = grow(s.pix, w*h*3)
		err = s.tj.Decode(s.file, s.pix, w, h, turbojpeg.RGB)
	case hd.Colorspace == turbojpeg.ColorGray:
		s.pix = grow(s.pix, w*h)
		err = s.tj.Decode(s.file, s.pix, w, h, turbojpeg.Gray)
	default: // PIL's luma of the RGB values, as toPixels
		s.rgb = grow(s.rgb, w*h*3)
		if err = s.tj.Decode(s.file, s.rgb, w, h, turbojpeg.RGB); err == nil {
			s.pix = grow(s.pix, w*h)
			for i := range s.pix {
				s.pix[i] = luma(s.rgb[3*i], s.rgb[3*i+1], s.rgb[3*i+2])
			}
		}
	}
	if err != nil {
		return nil, false, nil
	}
	return p.resizeImage(s, s.pix, w, h, hd.Width, hd.Height, f), true, nil
}
