// Package turbojpeg decodes JPEG files with libjpeg-turbo's TurboJPEG API,
// which it loads at run time (dlopen) rather than at link time: a binary
// built without the library (or its header) runs everywhere, and uses the
// library where it is installed (Debian's libturbojpeg0 gives
// libturbojpeg.so.0). The API used is TurboJPEG 2.x's (tjInitDecompress,
// tjDecompressHeader3, tjGetScalingFactors, tjDecompress2), which
// libjpeg-turbo 2.0 and later export, 3.x included.
//
// A Decoder holds one TurboJPEG handle: use it from one goroutine at a time.
package turbojpeg

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

typedef void *prs_tjhandle;
typedef struct { int num; int denom; } prs_tjscalingfactor;

typedef struct {
	void *lib;
	prs_tjhandle (*initDecompress)(void);
	int (*decompressHeader3)(prs_tjhandle, const unsigned char *, unsigned long, int *, int *, int *, int *);
	int (*decompress2)(prs_tjhandle, const unsigned char *, unsigned long, unsigned char *, int, int, int, int, int);
	int (*destroy)(prs_tjhandle);
	char *(*getErrorStr2)(prs_tjhandle);
	prs_tjscalingfactor *(*getScalingFactors)(int *);
} prs_tj;

// prs_tj_open loads the library at path and its symbols into t. It returns
// NULL, or what failed (dlerror's text, copied by the caller before any
// other dl call on this thread).
static const char *prs_tj_open(prs_tj *t, const char *path) {
	t->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (t->lib == NULL) {
		return dlerror();
	}
#define PRS_SYM(field, name) \
	*(void **)(&t->field) = dlsym(t->lib, name); \
	if (t->field == NULL) { const char *e = dlerror(); dlclose(t->lib); t->lib = NULL; return e ? e : name; }
	PRS_SYM(initDecompress, "tjInitDecompress")
	PRS_SYM(decompressHeader3, "tjDecompressHeader3")
	PRS_SYM(decompress2, "tjDecompress2")
	PRS_SYM(destroy, "tjDestroy")
	PRS_SYM(getErrorStr2, "tjGetErrorStr2")
	PRS_SYM(getScalingFactors, "tjGetScalingFactors")
#undef PRS_SYM
	return NULL;
}

static prs_tjhandle prs_tj_init(prs_tj *t) { return t->initDecompress(); }
static int prs_tj_destroy(prs_tj *t, prs_tjhandle h) { return t->destroy(h); }
static const char *prs_tj_error(prs_tj *t, prs_tjhandle h) { return t->getErrorStr2(h); }
static prs_tjscalingfactor *prs_tj_factors(prs_tj *t, int *n) { return t->getScalingFactors(n); }

static int prs_tj_header(prs_tj *t, prs_tjhandle h, const unsigned char *src, unsigned long n,
		int *w, int *hgt, int *subsamp, int *cs) {
	return t->decompressHeader3(h, src, n, w, hgt, subsamp, cs);
}

static int prs_tj_decompress(prs_tj *t, prs_tjhandle h, const unsigned char *src, unsigned long n,
		unsigned char *dst, int w, int pitch, int hgt, int pf, int flags) {
	return t->decompress2(h, src, n, dst, w, pitch, hgt, pf, flags);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// DefaultLibrary is the library's name as Debian's libturbojpeg0 installs
// it, found through the dynamic loader's search path.
const DefaultLibrary = "libturbojpeg.so.0"

// PixelFormat is a TurboJPEG pixel format of the decoded image.
type PixelFormat int

// The pixel formats Decode writes.
const (
	RGB  PixelFormat = 0 // TJPF_RGB: 3 bytes a pixel, R G B
	Gray PixelFormat = 6 // TJPF_GRAY: 1 byte a pixel
)

// Colorspace is the colour space of a JPEG file (TJCS_*).
type Colorspace int

// The JPEG colour spaces.
const (
	ColorRGB   Colorspace = 0
	ColorYCbCr Colorspace = 1
	ColorGray  Colorspace = 2
	ColorCMYK  Colorspace = 3
	ColorYCCK  Colorspace = 4
)

// flagLimitScans (TJFLAG_LIMITSCANS) refuses a progressive file of more than
// 500 scans, which would take minutes of CPU to decode.
const flagLimitScans = 32768

// ErrDecode is wrapped by the errors of Header and Decode: the library did
// not accept the file (TurboJPEG's message follows).
var ErrDecode = errors.New("libjpeg-turbo cannot decode the file")

// Lib is a loaded TurboJPEG library.
type Lib struct {
	path    string
	t       *C.prs_tj // C memory: never freed, a library stays loaded
	factors []Factor
}

// Factor is a scaling factor Num/Denom that the library decodes at.
type Factor struct{ Num, Denom int }

// Scaled is dim scaled by f, rounded up, as the library sizes a scaled
// image (TJSCALED).
func (f Factor) Scaled(dim int) int { return (dim*f.Num + f.Denom - 1) / f.Denom }

var loaded struct {
	mu   sync.Mutex
	libs map[string]*Lib
}

// Open loads the library at path (a file, or a name the dynamic loader
// searches for; DefaultLibrary when ""). A library that loaded is kept and
// returned again for the same path; a failure may be retried.
func Open(path string) (*Lib, error) {
	if path == "" {
		path = DefaultLibrary
	}
	loaded.mu.Lock()
	defer loaded.mu.Unlock()
	if l, ok := loaded.libs[path]; ok {
		return l, nil
	}
	t := (*C.prs_tj)(C.calloc(1, C.sizeof_prs_tj))
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	if msg := openLib(t, cpath); msg != "" {
		C.free(unsafe.Pointer(t))
		return nil, fmt.Errorf("loading %s: %s", path, msg)
	}
	l := &Lib{path: path, t: t}
	var n C.int
	fs := C.prs_tj_factors(t, &n)
	if fs == nil || n <= 0 {
		return nil, fmt.Errorf("loading %s: tjGetScalingFactors gives none", path)
	}
	for _, f := range unsafe.Slice(fs, int(n)) {
		l.factors = append(l.factors, Factor{Num: int(f.num), Denom: int(f.denom)})
	}
	if loaded.libs == nil {
		loaded.libs = map[string]*Lib{}
	}
	loaded.libs[path] = l
	return l, nil
}

// openLib runs prs_tj_open and dlerror's copy on one OS thread.
func openLib(t *C.prs_tj, path *C.char) string {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if e := C.prs_tj_open(t, path); e != nil {
		return C.GoString(e)
	}
	return ""
}

// Path is the path or name the library was opened with.
func (l *Lib) Path() string { return l.path }

// Factors are the scaling factors the library decodes at, as it lists them
// (largest first).
func (l *Lib) Factors() []Factor { return append([]Factor(nil), l.factors...) }

// Has says whether the library decodes at f.
func (l *Lib) Has(f Factor) bool {
	for _, g := range l.factors {
		if g == f {
			return true
		}
	}
	return false
}

// Decoder decodes JPEG files with one TurboJPEG handle.
type Decoder struct {
	lib     *Lib
	h       C.prs_tjhandle
	cleanup runtime.Cleanup
}

// NewDecoder returns a decoder; its handle is freed when the Decoder is
// garbage (or by Close).
func (l *Lib) NewDecoder() (*Decoder, error) {
	h := C.prs_tj_init(l.t)
	if h == nil {
		return nil, errors.New("tjInitDecompress failed")
	}
	d := &Decoder{lib: l, h: h}
	t := l.t
	d.cleanup = runtime.AddCleanup(d, func(h C.prs_tjhandle) { C.prs_tj_destroy(t, h) }, h)
	return d, nil
}

// Header is what the file's header says.
type Header struct {
	Width, Height int
	Colorspace    Colorspace
}

// Header reads src's header.
func (d *Decoder) Header(src []byte) (Header, error) {
	if len(src) == 0 {
		return Header{}, fmt.Errorf("%w: empty", ErrDecode)
	}
	var w, h, sub, cs C.int
	rc := C.prs_tj_header(d.lib.t, d.h, (*C.uchar)(unsafe.Pointer(&src[0])), C.ulong(len(src)), &w, &h, &sub, &cs)
	if rc != 0 {
		return Header{}, d.err()
	}
	runtime.KeepAlive(d)
	return Header{Width: int(w), Height: int(h), Colorspace: Colorspace(cs)}, nil
}

// Decode decodes src scaled to width x height (one of the library's
// factors applied to the file's size, see Factor.Scaled) into dst, which
// must hold width*height pixels of pf, rows packed. The library's
// warnings (a truncated or corrupt file it could still decode) are errors
// too.
func (d *Decoder) Decode(src, dst []byte, width, height int, pf PixelFormat) error {
	bpp := 3
	if pf == Gray {
		bpp = 1
	}
	if len(src) == 0 || width < 1 || height < 1 || len(dst) < width*height*bpp {
		return fmt.Errorf("%w: %d bytes to decode into %d bytes for %dx%d", ErrDecode, len(src), len(dst), width, height)
	}
	rc := C.prs_tj_decompress(d.lib.t, d.h, (*C.uchar)(unsafe.Pointer(&src[0])), C.ulong(len(src)),
		(*C.uchar)(unsafe.Pointer(&dst[0])), C.int(width), C.int(width*bpp), C.int(height), C.int(pf), flagLimitScans)
	if rc != 0 {
		return d.err()
	}
	runtime.KeepAlive(d)
	return nil
}

func (d *Decoder) err() error {
	err := fmt.Errorf("%w: %s", ErrDecode, C.GoString(C.prs_tj_error(d.lib.t, d.h)))
	runtime.KeepAlive(d)
	return err
}

// Close frees the handle now; the Decoder cannot be used after.
func (d *Decoder) Close() {
	if d.h != nil {
		d.cleanup.Stop()
		C.prs_tj_destroy(d.lib.t, d.h)
		d.h = nil
	}
}
