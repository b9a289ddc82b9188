package turbojpeg

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"testing"
)

// open loads the library as the handler does ($PRS_TURBOJPEG_LIB, else
// libturbojpeg.so.0); without it the test fails (CI installs Debian's
// libturbojpeg0: go tool task cdeps).
func open(t *testing.T) *Lib {
	t.Helper()
	l, err := Open(os.Getenv("PRS_TURBOJPEG_LIB"))
	if err != nil {
		t.Fatalf("%v (install libturbojpeg0: go tool task cdeps)", err)
	}
	return l
}

// gradient is a w x h grayscale ramp as a JPEG file of quality 95.
func gradient(t *testing.T, w, h int) ([]byte, *image.Gray) {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetGray(x, y, color.Gray{Y: uint8((x*255/w + y*255/h) / 2)})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), img
}

func TestDecode(t *testing.T) {
	t.Parallel()
	l := open(t)
	if again, err := Open(l.Path()); err != nil || again != l {
		t.Fatalf("Open again: %p %v, want the same library %p", again, err, l)
	}
	fs := l.Factors()
	has := map[Factor]bool{}
	for _, f := range fs {
		has[f] = true
	}
	if !has[Factor{1, 1}] || !has[Factor{1, 8}] || !has[Factor{3, 4}] {
		t.Fatalf("factors %v lack 1/1, 3/4 or 1/8", fs)
	}
	for _, f := range []Factor{{1, 1}, {1, 2}, {1, 4}, {1, 8}, {3, 4}} {
		if !l.Has(f) {
			t.Errorf("Has(%v) is false; the factors are %v", f, fs)
		}
	}
	if l.Has(Factor{1, 3}) || l.Has(Factor{1, 16}) {
		t.Errorf("Has 1/3 or 1/16; the factors are %v", fs)
	}
	if got := (Factor{3, 4}).Scaled(375); got != 282 {
		t.Fatalf("375 at 3/4 is %d pixels, TJSCALED gives 282", got)
	}

	data, img := gradient(t, 64, 48)
	d, err := l.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	hd, err := d.Header(data)
	if err != nil || hd.Width != 64 || hd.Height != 48 || hd.Colorspace != ColorGray {
		t.Fatalf("Header: %+v %v", hd, err)
	}
	gray := make([]byte, 64*48)
	if err := d.Decode(data, gray, 64, 48, Gray); err != nil {
		t.Fatal(err)
	}
	for i, v := range gray {
		if diff := int(v) - int(img.Pix[i]); diff > 3 || diff < -3 {
			t.Fatalf("pixel %d is %d, the image's %d", i, v, img.Pix[i])
		}
	}
	rgb := make([]byte, 32*24*3)
	if err := d.Decode(data, rgb, 32, 24, RGB); err != nil {
		t.Fatal(err)
	}
	// At 1/2 each pixel is the mean of 2x2 of the image's, grey in R, G and B.
	for y := range 24 {
		for x := range 32 {
			p := img.Pix[2*y*64+2*x:]
			mean := (int(p[0]) + int(p[1]) + int(p[64]) + int(p[65])) / 4
			px := rgb[(y*32+x)*3:]
			if px[0] != px[1] || px[1] != px[2] || int(px[0])-mean > 3 || mean-int(px[0]) > 3 {
				t.Fatalf("pixel (%d, %d) at 1/2 is %v, the image's mean %d", x, y, px[:3], mean)
			}
		}
	}

	if _, err := d.Header([]byte("not a jpeg")); !errors.Is(err, ErrDecode) {
		t.Fatalf("Header of text: %v", err)
	}
	if err := d.Decode(data[:len(data)/2], gray, 64, 48, Gray); !errors.Is(err, ErrDecode) {
		t.Fatalf("Decode of half a file: %v (a warning is an error)", err)
	}
	if err := d.Decode(data, gray[:10], 64, 48, Gray); !errors.Is(err, ErrDecode) {
		t.Fatalf("Decode into a short buffer: %v", err)
	}
}

func TestOpenMissing(t *testing.T) {
	t.Parallel()
	for range 2 { // a failure is not kept
		if l, err := Open("/nonexistent/libturbojpeg.so.0"); err == nil || l != nil {
			t.Fatalf("Open of a missing file: %v %v", l, err)
		}
	}
	if _, err := Open("/etc/hostname"); err == nil {
		t.Fatal("Open of a file that is no library succeeded")
	}
}
