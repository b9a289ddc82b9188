package onnx

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/turbojpeg"
)

// testTurbo is libjpeg-turbo as the handler loads it ($PRS_TURBOJPEG_LIB,
// else libturbojpeg.so.0). Without it the test fails with the install hint:
// CI installs it (go tool task cdeps).
func testTurbo(t testing.TB) *turbojpeg.Lib {
	t.Helper()
	lib, err := turbojpeg.Open(os.Getenv(TurboJPEGEnv))
	if err != nil {
		t.Fatalf("%v; %s (go tool task cdeps)", err, TurboJPEGHint)
	}
	return lib
}

// imagePlan is the plan of an rgb (or grayscale) image input of h x w.
func imagePlan(resize string, resizeTo, h, w int, gray bool) *plan {
	p := &plan{kind: kindImage, resize: resize, resizeTo: resizeTo, height: h, width: w, channels: 3, gray: gray}
	if gray {
		p.channels = 1
	}
	return p
}

func TestScaleFor(t *testing.T) {
	t.Parallel()
	lib := testTurbo(t)
	for _, tc := range []struct {
		resize           string
		resizeTo, ph, pw int
		w, h             int
		want             turbojpeg.Factor
	}{
		// ImageNet's 500x375 to a shorter side of 256: 375/2 < 256, so 1
		// (3/4 would cover, but is no SIMD factor).
		{"shorter_side", 256, 224, 224, 500, 375, turbojpeg.Factor{Num: 1, Denom: 1}},
		{"shorter_side", 256, 224, 224, 375, 500, turbojpeg.Factor{Num: 1, Denom: 1}},
		// 683/2 = 341.5 >= 256 > 683/4.
		{"shorter_side", 256, 224, 224, 1024, 683, turbojpeg.Factor{Num: 1, Denom: 2}},
		// 3000 * 1/8 = 375 >= 256: the smallest factor.
		{"shorter_side", 256, 224, 224, 4000, 3000, turbojpeg.Factor{Num: 1, Denom: 8}},
		// 2048*1/8 = 256 exactly covers 256.
		{"shorter_side", 256, 224, 224, 2048, 2048, turbojpeg.Factor{Num: 1, Denom: 8}},
		{"shorter_side", 256, 224, 224, 2047, 2047, turbojpeg.Factor{Num: 1, Denom: 4}},
		// Smaller than the target: never enlarged by the DCT.
		{"shorter_side", 256, 224, 224, 200, 150, turbojpeg.Factor{Num: 1, Denom: 1}},
		{"shorter_side", 256, 224, 224, 256, 256, turbojpeg.Factor{Num: 1, Denom: 1}},
		// exact: both sides must cover 224 (448/2 does, 447/2 does not).
		{"exact", 0, 224, 224, 900, 448, turbojpeg.Factor{Num: 1, Denom: 2}},
		{"exact", 0, 224, 224, 900, 447, turbojpeg.Factor{Num: 1, Denom: 1}},
		// exact to a wide target: the width decides (1000/2 >= 320 > 1000/4).
		{"exact", 0, 100, 320, 1000, 1000, turbojpeg.Factor{Num: 1, Denom: 2}},
		{"none", 0, 224, 224, 224, 224, turbojpeg.Factor{Num: 1, Denom: 1}},
	} {
		p := imagePlan(tc.resize, tc.resizeTo, tc.ph, tc.pw, false)
		p.turbo = lib
		got := p.scaleFor(tc.w, tc.h)
		if got.Num*tc.want.Denom != tc.want.Num*got.Denom {
			t.Errorf("%s %d to %dx%d, image %dx%d: scale %d/%d, want %d/%d", tc.resize, tc.resizeTo, tc.ph, tc.pw, tc.w, tc.h, got.Num, got.Denom, tc.want.Num, tc.want.Denom)
		}
	}
}

// diffStats are, per channel of two images of c channels, the mean
// absolute difference, its 99th percentile and the largest.
func diffStats(a, b []uint8, c int) (mean []float64, p99, most []int) {
	mean, p99, most = make([]float64, c), make([]int, c), make([]int, c)
	hist := make([][256]int, c)
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < 0 {
			d = -d
		}
		mean[i%c] += float64(d)
		most[i%c] = max(most[i%c], d)
		hist[i%c][d]++
	}
	n := len(a) / c
	for ch := range mean {
		mean[ch] /= float64(n)
		for d, seen := 0, 0; d < 256; d++ {
			if seen += hist[ch][d]; seen*100 >= n*99 {
				p99[ch] = d
				break
			}
		}
	}
	return mean, p99, most
}

// TestTurboMatchesStd: on photo-like JPEG files of several sizes (500x375
// among them), libjpeg-turbo's scaled decode then the resize gives what Go's
// decode at full size then the resize gives, within bounds per channel on
// the mean absolute difference, its 99th percentile and the largest (at
// hard edges, where the DCT's low-pass and the bilinear filter differ
// most). A file the DCT does not scale (smaller than the target) differs
// more in colour: Go's decoder repeats each subsampled chroma value,
// libjpeg-turbo interpolates them (as PIL does); with TJFLAG_FASTUPSAMPLE
// the two would agree within 3 levels there.
func TestTurboMatchesStd(t *testing.T) {
	t.Parallel()
	lib := testTurbo(t)
	dir := t.TempDir()
	modes := []struct {
		name string
		p    *plan
	}{
		{"shorter_side 256, crop 224", imagePlan("shorter_side", 256, 224, 224, false)},
		{"exact 224x224", imagePlan("exact", 0, 224, 224, false)},
		{"exact 96x160", imagePlan("exact", 0, 96, 160, false)},
		{"grayscale shorter_side 256, crop 224", imagePlan("shorter_side", 256, 224, 224, true)},
	}
	sizes := [][2]int{{500, 375}, {375, 500}, {640, 480}, {1024, 683}, {2048, 1536}, {224, 224}, {200, 150}}
	scaledSeen := 0
	type bound struct {
		mean     float64
		p99, max int
	}
	scaled := bound{2, 12, 40}
	unscaled := bound{3, 32, 128}
	for i, sz := range sizes {
		for _, q := range []int{75, 95} {
			path := writeFile(t, filepath.Join(dir, fmt.Sprintf("p%d-%d.jpg", i, q)), encodeJPEG(t, photo(sz[0], sz[1], uint64(i)), q))
			for _, m := range modes {
				var ss, ts scratch
				want, err := m.p.decodeImage(path, &ss)
				if err != nil {
					t.Fatal(err)
				}
				pt := *m.p
				pt.turbo = lib
				if ts.file, err = readFile(path, nil); err != nil {
					t.Fatal(err)
				}
				got, ok, err := pt.decodeTurbo(&ts)
				if !ok || err != nil {
					t.Fatalf("%dx%d q%d %s: libjpeg-turbo did not decode it (ok %v, %v)", sz[0], sz[1], q, m.name, ok, err)
				}
				if len(got) != len(want) {
					t.Fatalf("%dx%d %s: %d values, std %d", sz[0], sz[1], m.name, len(got), len(want))
				}
				mean, p99, most := diffStats(got, want, m.p.channels)
				f := pt.scaleFor(sz[0], sz[1])
				t.Logf("%4dx%-4d q%d %-38s scale %2d/%d  mean |diff| %.2f  p99 %v  max %v", sz[0], sz[1], q, m.name, f.Num, f.Denom, mean, p99, most)
				b := scaled
				if f.Num == f.Denom {
					b = unscaled
				} else {
					scaledSeen++
				}
				for c := range mean {
					if mean[c] > b.mean || p99[c] > b.p99 || most[c] > b.max {
						t.Errorf("%dx%d q%d %s, channel %d: mean |diff| %.2f, p99 %d, max %d; bounds %v", sz[0], sz[1], q, m.name, c, mean[c], p99[c], most[c], b)
					}
				}
			}
		}
	}
	if scaledSeen == 0 {
		t.Fatal("no file was decoded at a DCT scale: the bounds of a scaled decode went untested")
	}
}

// digitJPEGs writes the held-out digits as JPEG files of quality 95 into
// dir: as they are (8x8 grayscale), as colour JPEG files (chroma
// subsampled, so decoded to RGB and then to luma), or enlarged 8 times
// (64x64, each pixel a block: resize exact decodes them at scale 1/8).
func digitJPEGs(t *testing.T, ds []digit, dir, variant string) []string {
	t.Helper()
	var paths []string
	for _, d := range ds {
		data, err := os.ReadFile(filepath.Join(digitsDir, "images", d.file))
		if err != nil {
			t.Fatal(err)
		}
		src, _, err := image.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		var img image.Image = src
		switch variant {
		case "colour":
			rgb := image.NewRGBA(src.Bounds())
			draw.Draw(rgb, rgb.Bounds(), src, image.Point{}, draw.Src)
			img = rgb
		case "enlarged":
			big := image.NewGray(image.Rect(0, 0, 64, 64))
			for y := range 64 {
				for x := range 64 {
					big.Set(x, y, src.At(x/8, y/8))
				}
			}
			img = big
		}
		name := strings.TrimSuffix(d.file, ".png") + ".jpg"
		paths = append(paths, writeFile(t, filepath.Join(dir, name), encodeJPEG(t, img, 95)))
	}
	return paths
}

// TestDigitsJPEGSamePredictions: the held-out digits as 8x8 JPEG files,
// grayscale and colour, get the same predictions from libjpeg-turbo as from
// Go's decoder (and, as a check that the files still are the digits, the
// PNG files' predictions). Enlarged to 64x64 and scored with resize exact,
// libjpeg-turbo decodes them at 1/8 (each 8x8 block's mean) where Go's
// decoder decodes 64x64 and the bilinear filter then also blends the
// neighbouring blocks: predictions may differ there, and each decoder must
// still give at least 95% of the PNG files' predictions.
func TestDigitsJPEGSamePredictions(t *testing.T) {
	t.Parallel()
	testTurbo(t)
	ds := expected(t)
	for _, variant := range []string{"gray", "colour", "enlarged"} {
		paths := digitJPEGs(t, ds, t.TempDir(), variant)
		asPNG := map[string]int{}
		rows := map[string][]string{}
		for _, dec := range []string{decoderStd, decoderTurbo} {
			b := setup(t)
			b.cfg.Preprocess.JPEGDecoder = dec
			if variant == "enlarged" {
				b.cfg.Preprocess.Resize = "exact"
			}
			h := b.handler(t)
			if got := h.(*handler).s.plan.turbo != nil; got != (dec == decoderTurbo) {
				t.Fatalf("%s: jpeg_decoder %s loaded libjpeg-turbo: %v", variant, dec, got)
			}
			res := run(t, h, batch(paths...))
			if len(res.ItemErrors) > 0 {
				t.Fatalf("%s, %s: %v", variant, dec, res.ItemErrors)
			}
			rows[dec] = texts(t, res)
			for i, row := range rows[dec] {
				if _, label, _ := strings.Cut(row, ": "); label == ds[i].prediction {
					asPNG[dec]++
				}
			}
		}
		differ := 0
		for i, d := range ds {
			if std, turbo := rows[decoderStd][i], rows[decoderTurbo][i]; std != turbo {
				differ++
				if variant != "enlarged" {
					t.Errorf("%s %s: Go's decoder gives %q, libjpeg-turbo %q", variant, d.file, std, turbo)
				}
			}
		}
		t.Logf("%s: %d of %d predictions differ; as the PNG files': std %d, turbo %d", variant, differ, len(ds), asPNG[decoderStd], asPNG[decoderTurbo])
		for dec, n := range asPNG {
			if n < len(ds)*95/100 || (variant != "enlarged" && n != len(ds)) {
				t.Errorf("%s, %s: %d of %d predictions are the PNG files'", variant, dec, n, len(ds))
			}
		}
	}
}

// TestJPEGDecoderSetting: jpeg_decoder auto uses libjpeg-turbo where it
// loads and Go's decoder where it does not (the log says why); turbo
// without the library is an Init error naming the setting and the
// library; std never loads it.
func TestJPEGDecoderSetting(t *testing.T) {
	testTurbo(t)
	path := writeFile(t, filepath.Join(t.TempDir(), "seven.jpg"), encodeJPEG(t, grayImage(8, 8, 200), 95))
	for _, tc := range []struct {
		setting, lib string
		turbo        bool
	}{
		{"", "", true}, {decoderAuto, "", true}, {decoderTurbo, "", true}, {decoderStd, "", false},
		{decoderAuto, "/nonexistent/libturbojpeg.so.0", false}, {decoderStd, "/nonexistent/libturbojpeg.so.0", false},
	} {
		t.Setenv(TurboJPEGEnv, tc.lib)
		b := setup(t)
		b.cfg.Preprocess.JPEGDecoder = tc.setting
		h := b.handler(t)
		if got := h.(*handler).s.plan.turbo != nil; got != tc.turbo {
			t.Errorf("jpeg_decoder %q with %s=%q: libjpeg-turbo loaded %v, want %v", tc.setting, TurboJPEGEnv, tc.lib, got, tc.turbo)
		}
		if rows := texts(t, run(t, h, batch(path))); len(rows) != 1 {
			t.Errorf("jpeg_decoder %q: rows %q", tc.setting, rows)
		}
		fellBack := strings.Contains(b.logs.String(), "libjpeg-turbo did not load")
		if want := tc.lib != "" && tc.setting == decoderAuto; fellBack != want {
			t.Errorf("jpeg_decoder %q with %s=%q: fallback logged %v, want %v:\n%s", tc.setting, TurboJPEGEnv, tc.lib, fellBack, want, b.logs.String())
		}
	}

	t.Setenv(TurboJPEGEnv, "/nonexistent/libturbojpeg.so.0")
	b := setup(t)
	b.cfg.Preprocess.JPEGDecoder = decoderTurbo
	err := b.initErr(t)
	var de *DecoderError
	if !errors.As(err, &de) || de.Library != "/nonexistent/libturbojpeg.so.0" {
		t.Fatalf("jpeg_decoder turbo without the library: %v (%T)", err, err)
	}
	mustContain(t, err, "onnx.preprocess.jpeg_decoder turbo", "/nonexistent/libturbojpeg.so.0", "libturbojpeg0", TurboJPEGEnv)

	b = setup(t)
	b.cfg.Preprocess.JPEGDecoder = "fast"
	var fe *contracts.FieldError
	if err := b.initErr(t); !errors.As(err, &fe) || fe.Field != "onnx.preprocess.jpeg_decoder" {
		t.Fatalf("jpeg_decoder fast: %v", err)
	}
}

// TestTurboFallsBackToStd: files libjpeg-turbo does not decode cleanly (a
// truncated or corrupt JPEG file, one that only starts like a JPEG file)
// go to Go's decoder, so that an item fails or decodes exactly as it does
// without libjpeg-turbo; a JPEG file of the wrong size for resize none
// fails with the same error.
func TestTurboFallsBackToStd(t *testing.T) {
	t.Parallel()
	lib := testTurbo(t)
	dir := t.TempDir()
	whole := encodeJPEG(t, photo(64, 48, 1), 90)
	corrupt := append([]byte(nil), whole...)
	for i := len(corrupt) / 2; i < len(corrupt)/2+64; i++ {
		corrupt[i] = 0xff
	}
	files := map[string][]byte{
		"truncated.jpg":   whole[:len(whole)*2/3],
		"header-only.jpg": whole[:200],
		"corrupt.jpg":     corrupt,
		"soi-only.jpg":    {0xff, 0xd8, 0xff, 0xd9},
		"wrong-size.jpg":  whole,
	}
	for name, data := range files {
		path := writeFile(t, filepath.Join(dir, name), data)
		for _, p := range []*plan{imagePlan("exact", 0, 24, 32, false), imagePlan("none", 0, 24, 32, false)} {
			if (name == "wrong-size.jpg") != (p.resize == "none") {
				continue
			}
			var ss, ts scratch
			want, werr := p.decodeImage(path, &ss)
			pt := *p
			pt.turbo = lib
			got, gerr := pt.decodeImage(path, &ts)
			if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
				t.Errorf("%s, resize %s: Go's decoder: %v; with libjpeg-turbo: %v", name, p.resize, werr, gerr)
			}
			if werr == nil && !bytes.Equal(got, want) {
				t.Errorf("%s: decoded differently after the fallback", name)
			}
			t.Logf("%s, resize %s: %v", name, p.resize, gerr)
		}
	}
}
