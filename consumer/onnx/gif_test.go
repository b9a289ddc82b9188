package onnx

import (
	"bytes"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"path/filepath"
	"testing"
)

// A GIF whose first frame covers part of its screen decodes to the
// screen's size, the frame in its place and black around it; it gave the
// frame's size, which a model input of the screen's size could not hold
// (a panic of the decoder, reported as the item's error).
func TestGIFFrameSmallerThanScreen(t *testing.T) {
	t.Parallel()
	frame := image.NewPaletted(image.Rect(2, 2, 6, 5), palette.Plan9)
	frame.SetColorIndex(3, 3, 200)
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, &gif.GIF{Image: []*image.Paletted{frame}, Delay: []int{0},
		Config: image.Config{ColorModel: color.Palette(palette.Plan9), Width: 8, Height: 8}}); err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, filepath.Join(t.TempDir(), "small-frame.gif"), b.Bytes())
	for _, resize := range []string{"none", "exact"} {
		p := &plan{kind: kindImage, height: 8, width: 8, channels: 1, gray: true, resize: resize}
		var s scratch
		pix, err := p.decodeImage(path, &s)
		if err != nil {
			t.Fatalf("%s: %v", resize, err)
		}
		r, g, bl, _ := palette.Plan9[200].RGBA()
		want := luma(uint8(r>>8), uint8(g>>8), uint8(bl>>8))
		if len(pix) != 64 || pix[3*8+3] != want || pix[0] != 0 || pix[7*8+7] != 0 {
			t.Fatalf("%s: %d values, (3,3) = %d want %d, corners %d %d", resize, len(pix), pix[3*8+3], want, pix[0], pix[63])
		}
	}
}
