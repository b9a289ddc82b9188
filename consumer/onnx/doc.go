// Package onnx is the built-in ONNX Runtime handler (handler: onnx): it
// scores image or .npy files, or the rows of a tabular input, with a
// model, without an entry script.
//
// Each slot's handler opens one ORT session in Init (on the CPU, or on
// CUDA or TensorRT with the slot's device from onnx.device_ids) and reuses
// it, with its tensors, for every mini-batch of the job. Run groups a
// mini-batch's items (files or rows) into model batches of
// onnx.model_batch_size (default 32) and decodes the items of model batch
// k+1 in parallel goroutines (Options.DecodeWorkers, default GOMAXPROCS)
// while the model runs model batch k. A model whose batch dimension is fixed gets batches of exactly
// that size, padded with zeros. The two input buffers and the output
// buffer are the session's, with ORT tensors over them kept per size of
// model batch; onnx.io_binding binds them through an ORT I/O binding
// instead of passing them to Run, and onnx.cuda passes CUDA provider
// options through (session.go).
//
// # Items
//
// Images (preprocess kind image, the default) may be PNG, JPEG, GIF (its
// first frame), BMP or WebP, in any colour model: they are converted to
// the mode, rgb or grayscale (PIL's luma), alpha dropped. When mode is not
// set it follows a model input with a fixed channel count of 1
// (grayscale) or 3 (rgb), else rgb. No image is refused for its colour
// model: "wrong mode" is a mode whose channel count (rgb 3, grayscale 1)
// differs from the model input's, and that is an Init error naming both.
// resize none takes images of exactly size; exact resizes to size;
// shorter_side resizes the shorter side to resize_to and crops the centre
// to size (torchvision's Resize + CenterCrop). Resizing is PIL's
// antialiased bilinear, rounded to 8 bits. JPEG files go to libjpeg-turbo
// where it loads (turbo.go, onnx.preprocess.jpeg_decoder), which decodes
// them in the DCT domain at 1/2, 1/4 or 1/8 when that still covers the
// resize's size, and to Go's image/jpeg otherwise. Each value then becomes
// (v*scale - mean[c]) / std[c] (scale default 1/255 for float32, 1 for
// uint8), in layout nchw or nhwc. size defaults to the model input's fixed
// height and width.
//
// NumPy files (kind npy) hold little-endian float32, float64 or uint8
// arrays in C order whose shape, a leading 1 dropped, is the model input's
// shape without its batch dimension; they are fed as they are (converted
// to float32, or uint8 for a uint8 input, which takes only uint8 arrays).
//
// Rows (kind tabular, for a tabular input and only there) are items too:
// the mini-batch's rows as the runtime read them (consumer.Batch.Table:
// CSV, or JSON Lines and Parquet rows as JSON objects). One item is the
// values of preprocess columns, in that order, laid out in the model
// input's shape without its batch dimension: the product of its fixed
// dimensions must be the number of columns (the digits model's [N,1,8,8]
// takes 64 columns; one dynamic dimension takes what the columns leave).
// CSV fields are parsed with strconv.ParseFloat; JSON values may be
// numbers or strings that hold one. Each value v becomes
// (v*scale - mean[j]) / std[j], where scale defaults to 1 (not 1/255 as
// for images), mean to 0 and std to 1, and mean and std hold one value for
// every column or one per column; as float32, or for a uint8 input rounded
// to a whole number that must lie in 0..255. The image settings (mode,
// resize, size, layout) do not apply. A CSV header or Parquet schema
// without a feature column or the id column fails the mini-batch (an
// InputError naming the column).
//
// An item that cannot be used (a corrupt or unknown file, an image of the
// wrong size for resize none, an npy of the wrong shape or dtype; a row
// whose feature value is missing, empty, not a number, NaN or infinite, or
// out of the input type's range, or whose id is missing or empty) fails
// alone: it gets no row and a consumer.ItemError, and the other items are
// scored. A file's ItemError has its index; a row's has Index -1 and Item
// "<object key>: row <n> of the mini-batch", or
// "<object key>: <id> (row <n> of the mini-batch)" when the id is known,
// n counting from 1 over the rows the handler got.
//
// # Rows
//
// One row per scored item, in item order, named by the file's base name
// or, for kind tabular, by the value of preprocess id_column; without
// id_column a table's rows are not named (their order is the rows'
// order). postprocess kind argmax (default) gives "digit-0001.png: 7", or
// "7" for a table without id_column (the label from the labels file, one
// per line, else the index); topk gives the K best with their scores;
// softmax the probability vector; raw the output vector. postprocess
// softmax applies softmax before argmax and topk scores. Format json gives
// objects instead:
//
//	{"file":"digit-0001.png","label":"7","index":7,"score":0.98}
//	{"file":"digit-0001.png","topk":[{"label":"7","index":7,"score":0.98},...]}
//	{"file":"digit-0001.png","output":[0.01,...]}
//
// A table's json rows carry "id" (the id as a string) in place of "file",
// or no name without id_column:
//
//	{"id":"digit-0001.png","label":"7","index":7,"score":0.98}
//	{"label":"7","index":7,"score":0.98}
//
// # Errors
//
// Settings that do not fit the model (for kind tabular, a number of
// columns that is not the model input's item size), a model that is not
// ONNX, a library
// that does not load and a GPU provider that cannot start are Init errors
// (*consumer.InitError holding a *contracts.FieldError, *ModelError,
// *LibraryError or *ProviderError); there is no silent fallback to the
// CPU. When Run's context ends while the model runs, the run is stopped
// through ORT's run options (RunOptions.Terminate) and Run returns an
// error wrapping the context's error, and consumer.ErrRunTimeout after a
// deadline. Check runs the same checks before a job is submitted. A
// preprocess kind that does not fit the job's input (tabular on files,
// image or npy on a table) is refused by New.
//
// The ONNX Runtime library is loaded once per process (see
// Options.Library); `go tool task ort` installs lib/libonnxruntime.so.1.
package onnx
