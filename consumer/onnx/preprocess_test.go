package onnx

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/image/bmp"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/parallelrun/prs/contracts"
)

// pilImage is the 7x5 RGB image that the PIL figures below were made
// from: pixel (x, y) is (30x, 50y, 13xy mod 256).
func pilImage() *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, 7, 5))
	for y := range 5 {
		for x := range 7 {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 30), uint8(y * 50), uint8(x * y * 13 % 256), 255})
		}
	}
	return img
}

// PIL 9's Image.resize(..., BILINEAR) and convert("L") of pilImage.
var (
	pilTo3x4 = [][][3]uint8{
		{{26, 13, 3}, {90, 13, 10}, {154, 13, 17}},
		{{26, 71, 16}, {90, 71, 55}, {154, 71, 95}},
		{{26, 129, 28}, {90, 129, 101}, {154, 129, 173}},
		{{26, 188, 42}, {90, 188, 135}, {154, 188, 100}},
	}
	pilTo12x9Blue = [][]uint8{
		{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		{0, 2, 4, 7, 9, 12, 14, 17, 19, 22, 24, 26},
		{0, 4, 11, 18, 25, 31, 38, 44, 52, 59, 65, 69},
		{0, 7, 18, 29, 40, 51, 62, 73, 84, 95, 105, 113},
		{0, 10, 25, 40, 55, 70, 86, 101, 116, 131, 146, 156},
		{0, 13, 32, 51, 71, 90, 109, 129, 148, 168, 187, 199},
		{0, 16, 38, 62, 86, 110, 133, 157, 167, 176, 199, 214},
		{0, 18, 46, 73, 102, 129, 157, 185, 135, 70, 98, 115},
		{0, 20, 50, 80, 111, 141, 171, 202, 115, 6, 37, 56},
	}
	pilTo8x6 = [][][3]uint8{
		{{0, 0, 0}, {24, 0, 0}, {51, 0, 0}, {77, 0, 0}, {103, 0, 0}, {129, 0, 0}, {156, 0, 0}, {180, 0, 0}},
		{{0, 38, 0}, {24, 38, 8}, {51, 38, 17}, {77, 38, 25}, {103, 38, 34}, {129, 38, 42}, {156, 38, 50}, {180, 38, 59}},
		{{0, 79, 0}, {24, 79, 17}, {51, 79, 35}, {77, 79, 53}, {103, 79, 71}, {129, 79, 89}, {156, 79, 107}, {180, 79, 123}},
		{{0, 121, 0}, {24, 121, 26}, {51, 121, 53}, {77, 121, 81}, {103, 121, 108}, {129, 121, 135}, {156, 121, 163}, {180, 121, 189}},
		{{0, 163, 0}, {24, 163, 35}, {51, 163, 72}, {77, 163, 108}, {103, 163, 145}, {129, 163, 162}, {156, 163, 155}, {180, 163, 190}},
		{{0, 200, 0}, {24, 200, 42}, {51, 200, 88}, {77, 200, 133}, {103, 200, 179}, {129, 200, 144}, {156, 200, 14}, {180, 200, 56}},
	}
	pilGray = [][]uint8{
		{0, 9, 18, 27, 36, 45, 54},
		{29, 40, 50, 61, 71, 82, 92},
		{59, 71, 83, 95, 106, 118, 130},
		{88, 101, 115, 128, 142, 155, 169},
		{117, 132, 147, 162, 177, 163, 178},
	}
)

// near fails unless got (h x w x c) is want within 1 (PIL resamples in
// fixed point).
func near(t *testing.T, what string, got []uint8, want [][]uint8) {
	t.Helper()
	w := len(want[0])
	for y, row := range want {
		for x, v := range row {
			if g := got[y*w+x]; int(g)-int(v) > 1 || int(v)-int(g) > 1 {
				t.Fatalf("%s: value (%d, %d) is %d, PIL gives %d\ngot %v", what, x, y, g, v, got)
			}
		}
	}
}

func flatten(px [][][3]uint8, ch int) [][]uint8 {
	out := make([][]uint8, len(px))
	for y, row := range px {
		for _, p := range row {
			out[y] = append(out[y], p[:ch]...)
		}
	}
	return out
}

func TestResizeMatchesPIL(t *testing.T) {
	t.Parallel()
	pix := toPixels(pilImage(), false, nil)
	var s scratch
	near(t, "7x5 to 3x4", s.resize(pix, 7, 5, 7, 5, 3, 3, 4, 0, 0, 3, 4), flatten(pilTo3x4, 3))
	up := s.resize(pix, 7, 5, 7, 5, 3, 12, 9, 0, 0, 12, 9)
	blue := make([]uint8, 0, 12*9)
	for i := 2; i < len(up); i += 3 {
		blue = append(blue, up[i])
	}
	near(t, "7x5 to 12x9", blue, pilTo12x9Blue)
	// shorter_side: the 5 rows to 6, so 8 columns, then the centre 6x4.
	want := flatten(pilTo8x6, 3)[1:5]
	for i := range want {
		want[i] = want[i][3 : 3+6*3]
	}
	p := &plan{resize: "shorter_side", resizeTo: 6, height: 4, width: 6, channels: 3}
	path := writeFile(t, filepath.Join(t.TempDir(), "x.png"), encodePNG(t, pilImage()))
	got, err := p.decodeImage(path, &s)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "shorter_side 6, crop 6x4", got, want)
	// The same size is the same image.
	if same := s.resize(pix, 7, 5, 7, 5, 3, 7, 5, 0, 0, 7, 5); !bytes.Equal(same, pix) {
		t.Fatalf("resizing to the same size changed the image")
	}
}

func TestToPixels(t *testing.T) {
	t.Parallel()
	near(t, "NRGBA to L", toPixels(pilImage(), true, nil), pilGray)
	if g := luma(255, 0, 0); g != 76 {
		t.Errorf("luma of red is %d, PIL gives 76", g)
	}

	gray := grayImage(2, 1, 7)
	if got := toPixels(gray, false, nil); !slices.Equal(got, []uint8{7, 7, 7, 7, 7, 7}) {
		t.Errorf("gray to rgb: %v", got)
	}
	if got := toPixels(gray, true, nil); !slices.Equal(got, []uint8{7, 7}) {
		t.Errorf("gray to gray: %v", got)
	}
	// Alpha is dropped, not composited.
	trans := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	trans.SetNRGBA(0, 0, color.NRGBA{200, 100, 50, 0})
	if got := toPixels(trans, false, nil); !slices.Equal(got, []uint8{200, 100, 50}) {
		t.Errorf("NRGBA: %v", got)
	}
	pal := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{color.RGBA{10, 20, 30, 255}, color.NRGBA{40, 50, 60, 128}})
	pal.Pix[1] = 1
	if got := toPixels(pal, false, nil); !slices.Equal(got, []uint8{10, 20, 30, 40, 50, 60}) {
		t.Errorf("paletted: %v", got)
	}
	g16 := image.NewGray16(image.Rect(0, 0, 1, 1))
	g16.SetGray16(0, 0, color.Gray16{0x8081})
	if got := toPixels(g16, true, nil); !slices.Equal(got, []uint8{0x80}) {
		t.Errorf("gray16: %v", got)
	}
	// A sub-image starts at its bounds.
	sub := pilImage().SubImage(image.Rect(2, 1, 4, 3))
	if got := toPixels(sub, true, nil); !slices.Equal(got, []uint8{50, 61, 83, 95}) {
		t.Errorf("sub-image: %v", got)
	}
}

// TestFormats decodes one image saved as PNG, GIF, BMP and JPEG into the
// same pixels (JPEG nearly).
func TestFormats(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	img := rgbImage(16, 16)
	var gifBuf, bmpBuf, jpgBuf bytes.Buffer
	pal := image.NewPaletted(img.Bounds(), nil)
	pal.Palette = color.Palette{}
	for i := range 256 {
		pal.Palette = append(pal.Palette, color.NRGBA{uint8(i), uint8(i), uint8(i), 255})
	}
	gray := grayImage(16, 16, 0)
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i)
		pal.Pix[i] = uint8(i)
	}
	if err := gif.Encode(&gifBuf, pal, &gif.Options{NumColors: 256}); err != nil {
		t.Fatal(err)
	}
	if err := bmp.Encode(&bmpBuf, img); err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(&jpgBuf, img, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	p := &plan{resize: "none", height: 16, width: 16, channels: 3}
	var s scratch
	decode := func(name string, data []byte) []uint8 {
		got, err := p.decodeImage(writeFile(t, filepath.Join(dir, name), data), &s)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return slices.Clone(got)
	}
	want := toPixels(img, false, nil)
	if got := decode("x.png", encodePNG(t, img)); !bytes.Equal(got, want) {
		t.Errorf("PNG differs")
	}
	if got := decode("x.bmp", bmpBuf.Bytes()); !bytes.Equal(got, want) {
		t.Errorf("BMP differs")
	}
	got := decode("x.jpg", jpgBuf.Bytes())
	for i := range got {
		if d := int(got[i]) - int(want[i]); d > 8 || d < -8 {
			t.Fatalf("JPEG value %d is %d, want about %d", i, got[i], want[i])
		}
	}
	if got := decode("x.gif", gifBuf.Bytes()); !bytes.Equal(got, toPixels(gray, false, nil)) {
		t.Errorf("GIF differs")
	}
	// WebP: a 1x1 lossless image.
	webp := []byte("RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00")
	p1 := &plan{resize: "none", height: 1, width: 1, channels: 3}
	if _, err := p1.decodeImage(writeFile(t, filepath.Join(dir, "x.webp"), webp), &s); err != nil {
		t.Errorf("WebP: %v", err)
	}
	_, err := p.decodeImage(writeFile(t, filepath.Join(dir, "x.txt"), []byte("hello")), &s)
	if err == nil || !strings.Contains(err.Error(), "not a PNG, JPEG, GIF, BMP or WebP image") {
		t.Errorf("text file: %v", err)
	}
	if _, err := p.decodeImage(filepath.Join(dir, "missing.png"), &s); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}

// TestStore checks the layouts and the normalisation.
func TestStore(t *testing.T) {
	t.Parallel()
	info := ort.InputOutputInfo{Name: "x", OrtValueType: ort.ONNXTypeTensor, DataType: ort.TensorElementDataTypeFloat, Dimensions: ort.Shape{-1, 3, 1, 2}}
	out := ort.InputOutputInfo{Name: "y", OrtValueType: ort.ONNXTypeTensor, DataType: ort.TensorElementDataTypeFloat, Dimensions: ort.Shape{-1, 2}}
	cfg := &contracts.ONNXConfig{Preprocess: contracts.Preprocess{Scale: 1, Mean: []float64{1, 2, 3}, Std: []float64{1, 2, 4}}}
	p, err := newPlan(cfg, "m.onnx", []ort.InputOutputInfo{info}, []ort.InputOutputInfo{out})
	if err != nil {
		t.Fatal(err)
	}
	pix := []uint8{10, 20, 30, 11, 21, 31} // two RGB pixels
	f := make([]float32, 6)
	p.store(pix, f, nil)
	if want := []float32{9, 10, 9, 9.5, 6.75, 7}; !slices.Equal(f, want) {
		t.Errorf("nchw: %v, want %v", f, want)
	}
	info.Dimensions = ort.Shape{-1, 1, 2, 3}
	cfg.Preprocess.Layout = "nhwc"
	if p, err = newPlan(cfg, "m.onnx", []ort.InputOutputInfo{info}, []ort.InputOutputInfo{out}); err != nil {
		t.Fatal(err)
	}
	p.store(pix, f, nil)
	if want := []float32{9, 9, 6.75, 10, 9.5, 7}; !slices.Equal(f, want) {
		t.Errorf("nhwc: %v, want %v", f, want)
	}
	info.DataType = ort.TensorElementDataTypeUint8
	cfg.Preprocess = contracts.Preprocess{Layout: "nhwc"}
	if p, err = newPlan(cfg, "m.onnx", []ort.InputOutputInfo{info}, []ort.InputOutputInfo{out}); err != nil {
		t.Fatal(err)
	}
	u := make([]uint8, 6)
	p.store(pix, nil, u)
	if !slices.Equal(u, pix) {
		t.Errorf("uint8 nhwc: %v", u)
	}
}

func tensor(name string, dt ort.TensorElementDataType, dims ...int64) ort.InputOutputInfo {
	return ort.InputOutputInfo{Name: name, OrtValueType: ort.ONNXTypeTensor, DataType: dt, Dimensions: dims}
}

// TestPlan resolves settings against model shapes, without a model.
func TestPlan(t *testing.T) {
	t.Parallel()
	f32, u8 := ort.TensorElementDataType(ort.TensorElementDataTypeFloat), ort.TensorElementDataType(ort.TensorElementDataTypeUint8)
	logits := []ort.InputOutputInfo{tensor("logits", f32, -1, 1000)}
	for _, tc := range []struct {
		name  string
		in    []ort.InputOutputInfo
		out   []ort.InputOutputInfo
		pre   contracts.Preprocess
		check func(t *testing.T, p *plan)
		err   string
	}{
		{name: "rgb defaults", in: []ort.InputOutputInfo{tensor("x", f32, -1, 3, 224, 224)}, check: func(t *testing.T, p *plan) {
			if p.gray || p.channels != 3 || p.height != 224 || p.width != 224 || p.resize != "none" || p.batch != 32 || p.fixedBatch != 0 || p.itemLen != 3*224*224 {
				t.Errorf("%+v", p)
			}
			if p.lut32[0][255] != 1 || p.lut32[2][0] != 0 {
				t.Errorf("scale is not 1/255: %v %v", p.lut32[0][255], p.lut32[2][0])
			}
		}},
		{name: "fixed batch", in: []ort.InputOutputInfo{tensor("x", f32, 1, 3, 224, 224)}, check: func(t *testing.T, p *plan) {
			if p.batch != 1 || p.fixedBatch != 1 {
				t.Errorf("batch %d fixed %d", p.batch, p.fixedBatch)
			}
		}},
		{name: "uint8 nhwc", in: []ort.InputOutputInfo{tensor("x", u8, -1, 300, 300, 3)}, pre: contracts.Preprocess{Layout: "nhwc", Resize: "shorter_side", ResizeTo: 320}, check: func(t *testing.T, p *plan) {
			if !p.nhwc || p.elem != u8 || p.lut8[1][200] != 200 || !slices.Equal(p.item, []int64{300, 300, 3}) {
				t.Errorf("%+v", p)
			}
		}},
		{name: "dynamic size", in: []ort.InputOutputInfo{tensor("x", f32, -1, 3, -1, -1)}, pre: contracts.Preprocess{Size: []int{64, 48}, Resize: "exact"}, check: func(t *testing.T, p *plan) {
			if p.height != 64 || p.width != 48 || !slices.Equal(p.item, []int64{3, 64, 48}) {
				t.Errorf("%+v", p)
			}
		}},
		{name: "no size", in: []ort.InputOutputInfo{tensor("x", f32, -1, 3, -1, -1)}, err: "onnx.preprocess.size: the model does not fit the onnx settings: is required: model input \"x\" [-1 3 -1 -1] has a dynamic height or width"},
		{name: "two inputs", in: []ort.InputOutputInfo{tensor("x", f32, -1, 3, 8, 8), tensor("mask", f32, -1, 8)}, err: `has 2 inputs ("x" [-1 3 8 8] float32, "mask" [-1 8] float32)`},
		{name: "2-D image input", in: []ort.InputOutputInfo{tensor("x", f32, -1, 64)}, err: "image items need a 4-D model input"},
		{name: "int64 input", in: []ort.InputOutputInfo{tensor("x", ort.TensorElementDataTypeInt64, -1, 3, 8, 8)}, err: "holds int64"},
		{name: "crop larger", in: []ort.InputOutputInfo{tensor("x", f32, -1, 3, 224, 224)}, pre: contracts.Preprocess{Resize: "shorter_side", ResizeTo: 200}, err: "onnx.preprocess.resize_to"},
		{name: "sequence output", in: []ort.InputOutputInfo{tensor("x", f32, -1, 3, 8, 8)}, out: []ort.InputOutputInfo{{Name: "probs", OrtValueType: ort.ONNXTypeSequence}}, err: `model output "probs" is a sequence, not a tensor; choose a tensor output (outputs: "probs" (sequence))`},
		{name: "npy", in: []ort.InputOutputInfo{tensor("x", f32, -1, 20)}, pre: contracts.Preprocess{Kind: "npy"}, check: func(t *testing.T, p *plan) {
			if p.itemLen != 20 {
				t.Errorf("%+v", p)
			}
		}},
		{name: "npy dynamic", in: []ort.InputOutputInfo{tensor("x", f32, -1, -1)}, pre: contracts.Preprocess{Kind: "npy"}, err: "npy items need a model input whose shape is fixed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := tc.out
			if out == nil {
				out = logits
			}
			p, err := newPlan(&contracts.ONNXConfig{Preprocess: tc.pre}, "m.onnx", tc.in, out)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, p)
		})
	}
}
