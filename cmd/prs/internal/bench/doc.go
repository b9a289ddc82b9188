// Package bench measures how much of a model's own speed the ONNX handler
// keeps when it runs as a whole prs job: `prs bench onnx`.
//
// Run generates Config.Images random-content JPEG files (deterministic,
// quality 90) of Config.Size x Config.Size pixels in a work folder, then
// measures, in one process and in this order:
//
//   - decode: the handler (consumer/onnx) scoring the files with a probe
//     model that only reads its input (GlobalAveragePool), on the CPU: the
//     rate of reading, decoding and preprocessing alone, with the handler's
//     own code and parallelism;
//   - raw: the model alone, in one ONNX Runtime session opened with the
//     handler's session options on the chosen provider and device, on input
//     tensors of model_batch_size built before the clock starts;
//   - handler: the handler with the model, called directly over the
//     mini-batches (one slot, no broker, no rows written);
//   - pipeline: a whole job as `prs run` runs it: an embedded JetStream
//     server, producer.Submit (with prs run's preflight) of a job with
//     handler onnx over the local folder, a consumer.Worker with Slots
//     slots, result rows in a local output folder and the final file, timed
//     from Submit to the Completed state, after a small warm-up job.
//
// Every stage but the pipeline warms up before its clock starts. A job opens
// its handler's sessions when its first mini-batch arrives, so the pipeline
// figure includes the start of a session per slot (and, on a GPU, its first
// runs); Result.Pipeline.Steady leaves that start out.
//
// Preprocessing is image, rgb, resize none, size [Size, Size], ImageNet mean
// and std, nchw, float32; postprocessing argmax. The model must take one
// float32 input [N,3,H,W] whose height and width are Size or dynamic.
package bench
