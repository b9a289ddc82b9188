package bench

import (
	"bufio"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
)

// imageName is the file name of image i; names sort in index order, so
// mini-batches follow it.
func imageName(i int) string { return fmt.Sprintf("img-%07d.jpg", i) }

// writeImages writes n JPEG files of w x h pixels into dir, image i
// from its own generator seeded with (seed, i), in parallel. It returns the
// files' paths and their total size in bytes.
func writeImages(ctx context.Context, dir string, n, w, h int, seed uint64, quality int) ([]string, int64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, 0, err
	}
	paths := make([]string, n)
	for i := range paths {
		paths[i] = filepath.Join(dir, imageName(i))
	}
	var (
		next  atomic.Int64
		total atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	workers := min(runtime.GOMAXPROCS(0), n)
	for range workers {
		wg.Go(func() {
			img := image.NewRGBA(image.Rect(0, 0, w, h))
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				paint(img, rand.New(rand.NewPCG(seed, uint64(i))))
				sz, err := writeJPEG(paths[i], img, quality)
				if err != nil {
					once.Do(func() { first = err })
					next.Store(int64(n))
					return
				}
				total.Add(sz)
			}
		})
	}
	wg.Wait()
	if first != nil {
		return nil, 0, first
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	return paths, total.Load(), nil
}

// paint fills img with a random picture that compresses about as a
// photograph does: per channel, a base level, three waves (horizontal,
// vertical, diagonal) of random amplitude, frequency and phase, and noise
// of up to ±24 levels. At 224x224 and quality 90 a file takes some 24 KB;
// pure noise would take several times that, and decode slower.
func paint(img *image.RGBA, r *rand.Rand) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	var (
		xs, ys [3][]float64 // per channel: the horizontal and vertical waves
		ds     [3][]float64 // the diagonal wave, indexed by x+y
		base   [3]float64
	)
	wave := func(n int) []float64 {
		amp := 20 + 40*r.Float64()
		freq := (0.5 + 6*r.Float64()) * 2 * math.Pi / float64(max(w, h))
		phase := 2 * math.Pi * r.Float64()
		v := make([]float64, n)
		for i := range v {
			v[i] = amp * math.Sin(freq*float64(i)+phase)
		}
		return v
	}
	for c := range 3 {
		base[c] = 60 + 135*r.Float64()
		xs[c], ys[c], ds[c] = wave(w), wave(h), wave(w+h)
	}
	for y := range h {
		row := img.Pix[y*img.Stride : y*img.Stride+4*w]
		for x := range w {
			noise := r.Uint64()
			for c := range 3 {
				v := base[c] + xs[c][x] + ys[c][y] + ds[c][x+y] + float64(int(noise>>(8*c)&0xff)%49-24)
				row[4*x+c] = uint8(min(255, max(0, v)))
			}
			row[4*x+3] = 255
		}
	}
}

func writeJPEG(path string, img image.Image, quality int) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriter(f)
	err = jpeg.Encode(bw, img, &jpeg.Options{Quality: quality})
	if err == nil {
		err = bw.Flush()
	}
	var size int64
	if err == nil {
		var fi os.FileInfo
		if fi, err = f.Stat(); err == nil {
			size = fi.Size()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("writing %s: %w", path, err)
	}
	return size, nil
}

// linkImages makes dir hold the files paths under the same names: hard
// links where the file system allows, else copies.
func linkImages(dir string, paths []string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Join(dir, filepath.Base(p))
		if err := os.Link(p, out[i]); err == nil {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(out[i], data, 0o644); err != nil {
			return nil, err
		}
	}
	return out, nil
}
