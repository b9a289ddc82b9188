package integration

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/parallelrun/prs/internal/pandastest"
)

// badInputs are the rows of README's table of bad inputs, in its order. A
// row's says are verbatim fragments of what prs shows; keep them short and
// telling, since README quotes them.
var badInputs = []badInput{
	// Settings.
	{area: "settings", input: "`mini_batch_sise: 3` in the YAML (an unknown key)", code: 2,
		try:  func(e *badEnv) []string { return e.run("--config", e.file("job.yaml", "mini_batch_sise: 3\n")) },
		says: []string{"mini_batch_sise: invalid configuration: unknown key (did you mean mini_batch_size?)"}},
	{area: "settings", input: "`inputs: [a]` in the YAML (a misspelt key)", code: 2,
		try:  func(e *badEnv) []string { return e.run("--config", e.file("job.yaml", "inputs: [a]\n")) },
		says: []string{"line 1: inputs: invalid configuration: unknown key (did you mean input?)"}},
	{area: "settings", input: "a key given twice in the YAML", code: 2,
		try: func(e *badEnv) []string {
			return e.run("--config", e.file("job.yaml", "mini_batch_size: 3\nmini_batch_size: 4\n"))
		},
		says: []string{"line 2: mini_batch_size: invalid configuration: given twice"}},
	{area: "settings", input: "`--mini-batch-size 0`", code: 2,
		try:  func(e *badEnv) []string { return e.run("--mini-batch-size", "0") },
		says: []string{"mini_batch_size: invalid configuration: 0 is too small, at least 1 file"}},
	{area: "settings", input: "`--mini-batch-size ten`", code: 2,
		try:  func(e *badEnv) []string { return e.run("--mini-batch-size", "ten") },
		says: []string{`mini_batch_size: invalid configuration: "ten" is not a whole number of files`}},
	{area: "settings", input: "`--mini-batch-size 99999999999999999999`", code: 2,
		try:  func(e *badEnv) []string { return e.run("--mini-batch-size", "99999999999999999999") },
		says: []string{"mini_batch_size: invalid configuration: 99999999999999999999 is too large, at most 10000 files"}},
	{area: "settings", input: "`run_invocation_timeout: 9223372036854775807` in the YAML", code: 2,
		try: func(e *badEnv) []string {
			return e.run("--config", e.file("job.yaml", "run_invocation_timeout: 9223372036854775807\n"))
		},
		says: []string{"line 1: run_invocation_timeout: invalid configuration: 9223372036854775807 is too large, at most 259200 seconds"}},
	{area: "settings", input: "`--run-invocation-timeout 9223372036854775807`", code: 2,
		try:  func(e *badEnv) []string { return e.run("--run-invocation-timeout", "9223372036854775807") },
		says: []string{"run_invocation_timeout: invalid configuration: 9223372036854775807 is too large, at most 259200 seconds"}},
	{area: "settings", input: "`--run-invocation-timeout 0`", code: 2,
		try:  func(e *badEnv) []string { return e.run("--run-invocation-timeout", "0") },
		says: []string{"run_invocation_timeout: invalid configuration: 0 is too small, at least 1 seconds"}},
	{area: "settings", input: "`error_threshold: 99999999999999999999` in the YAML", code: 2,
		try: func(e *badEnv) []string {
			return e.run("--config", e.file("job.yaml", "error_threshold: 99999999999999999999\n"))
		},
		says: []string{"line 1: error_threshold: invalid configuration: 99999999999999999999 is too large, at most 2147483647"}},
	{area: "settings", input: "`--error-threshold -2`", code: 2,
		try:  func(e *badEnv) []string { return e.run("--error-threshold", "-2") },
		says: []string{"error_threshold: invalid configuration: -2 is too small, at least -1"}},
	{area: "settings", input: "`allowed_failed_percent: .nan` in the YAML", code: 2,
		try: func(e *badEnv) []string {
			return e.run("--config", e.file("job.yaml", "allowed_failed_percent: .nan\n"))
		},
		says: []string{`allowed_failed_percent: invalid configuration: ".nan" is not a finite number`}},
	{area: "settings", input: "`--allowed-failed-percent 150`", code: 2,
		try:  func(e *badEnv) []string { return e.run("--allowed-failed-percent", "150") },
		says: []string{"allowed_failed_percent: invalid configuration: 150 is too large, at most 100"}},
	{area: "settings", input: "`--run-max-try 0`", code: 2,
		try:  func(e *badEnv) []string { return e.run("--run-max-try", "0") },
		says: []string{"run_max_try: invalid configuration: 0 is too small, at least 1"}},
	{area: "settings", input: "`--node-count 0`", code: 2,
		try:  func(e *badEnv) []string { return e.run("--node-count", "0") },
		says: []string{"node_count: invalid configuration: 0 is too small, at least 1"}},
	{area: "settings", input: "`--handler onnxx` (an unknown handler)", code: 2,
		try:  func(e *badEnv) []string { return e.run("--handler", "onnxx") },
		says: []string{`handler: invalid configuration: must be one of entry_script, onnx, got "onnxx" (did you mean onnx?)`}},
	{area: "settings", input: "`--output-action append`", code: 2,
		try:  func(e *badEnv) []string { return e.run("--output-action", "append") },
		says: []string{`output_action: invalid configuration: must be one of append_row, summary_only, got "append"`}},
	{area: "settings", input: "`--logging-level LOUD`", code: 2,
		try:  func(e *badEnv) []string { return e.run("--logging-level", "LOUD") },
		says: []string{`logging_level: invalid configuration: must be one of DEBUG, INFO, WARNING, got "LOUD"`}},
	{area: "settings", input: "`--output-format xml`", code: 2,
		try:  func(e *badEnv) []string { return e.run("--output-format", "xml") },
		says: []string{`output_format: invalid configuration: must be one of csv, jsonl, parquet (or unset), got "xml"`}},
	{area: "settings", input: "`--onnx-execution-provider gpu`", code: 2,
		try: func(e *badEnv) []string {
			return e.run("--handler", "onnx", "--onnx-model", "m.onnx", "--onnx-execution-provider", "gpu")
		},
		says: []string{`onnx.execution_provider: invalid configuration: must be one of cpu, cuda, tensorrt (or unset), got "gpu"`}},
	{area: "settings", input: "`handler: onnx` with a model file that does not exist", code: 2,
		try:  func(e *badEnv) []string { return e.run("--handler", "onnx", "--onnx-model", "nope.onnx") },
		says: []string{"onnx.model: invalid configuration: open nope.onnx: no such file or directory"}},
	{area: "settings", input: "`mini_batch_size: 64KB` for files that are not tables", code: 2,
		try:  func(e *badEnv) []string { return e.run("--mini-batch-size", "64KB") },
		says: []string{`input_format: invalid configuration: mini_batch_size "64KB" is a size, which is for a tabular input`, `its files are not tables (such as "a.txt")`}},
	{area: "settings", input: "an Azure ML pipeline (`type: pipeline`) as the job file", code: 2,
		try:  func(e *badEnv) []string { return e.run("--config", e.file("job.yaml", "type: pipeline\njobs: {}\n")) },
		says: []string{"give the parallel step (jobs.NAME) as a YAML file of its own"}},
	{area: "settings", input: "`--side-input foo` (not NAME=VALUE)", code: 2,
		try:  func(e *badEnv) []string { return e.run("--side-input", "foo") },
		says: []string{`side_inputs: invalid configuration: --side-input "foo" is not NAME=VALUE`}},
	{area: "settings", input: "`append_row_file_name: .prs` (prs's own name)", code: 2,
		try:  func(e *badEnv) []string { return e.run("--append-row-file-name", ".prs") },
		says: []string{`append_row_file_name: invalid configuration: ".prs" collides with prs's own names under the output`}},
	{area: "settings", input: "`append_row_file_name: .prs.lock`", code: 2,
		try:  func(e *badEnv) []string { return e.run("--append-row-file-name", ".prs.lock") },
		says: []string{`".prs.lock" collides with prs's own names under the output`}},
	{area: "settings", input: "`append_row_file_name: logs` (the logs folder)", code: 2,
		try:  func(e *badEnv) []string { return e.run("--append-row-file-name", "logs") },
		says: []string{`"logs" collides with prs's own names under the output`}},
	{area: "settings", input: "`append_row_file_name: Logs`", code: 2,
		try:  func(e *badEnv) []string { return e.run("--append-row-file-name", "Logs") },
		says: []string{`"Logs" collides with prs's own names under the output`}},
	{area: "settings", input: "`append_row_file_name` that names a folder of the output", code: 2,
		try: func(e *badEnv) []string {
			mkdir(e.t, filepath.Join(e.out, "results"))
			return e.run("--append-row-file-name", "results")
		},
		says: []string{"append_row_file_name: invalid configuration: ", "out/results is a folder: the final file cannot be written there"}},

	// The entry script.
	{area: "entry script", input: "an entry script that does not exist", code: 2,
		try:  func(e *badEnv) []string { return e.run("--entry-script", filepath.Join(e.dir, "nope.py")) },
		says: []string{"entry_script: invalid configuration: stat ", "nope.py: no such file or directory"}},
	{area: "entry script", input: "an entry script with a syntax error", code: 2,
		try: func(e *badEnv) []string {
			return e.run("--entry-script", e.file("broken.py", "def init():\n    pass\n\ndef run(mini_batch)\n    return mini_batch\n"))
		},
		says: []string{"entry_script: entry script ", "broken.py, line 4: SyntaxError"}},
	{area: "entry script", input: "an entry script without `run()`", code: 2,
		try: func(e *badEnv) []string {
			return e.run("--entry-script", e.file("norun.py", "def init():\n    pass\n\ndef score(mini_batch):\n    return mini_batch\n"))
		},
		says: []string{"entry_script: entry script ", "norun.py: defines no top-level run(mini_batch) function"}},
	{area: "entry script", input: "`init()` that raises on every try", code: 1,
		try: func(e *badEnv) []string {
			return e.run("--entry-script", e.file("init.py", "def init():\n    raise RuntimeError('no model here')\n\ndef run(mb):\n    return mb\n"),
				"--run-max-try", "2")
		},
		says: []string{"reason: every item failed (5 of 5 items)"}},
	{area: "entry script", input: "`run()` that raises on every item", code: 1,
		try: func(e *badEnv) []string {
			return e.run("--entry-script", e.script("raise.py", "    raise ValueError('bad model')\n"), "--run-max-try", "1")
		},
		says: []string{"reason: every item failed (5 of 5 items)", "ValueError: bad model"}},
	{area: "entry script", input: "`run()` that returns more rows than it got files", code: 0, place: "logs/user/error.txt",
		try: func(e *badEnv) []string {
			return e.run("--entry-script", e.script("twice.py", "    return [p + s for p in mini_batch for s in ('', '!')]\n"))
		},
		says: []string{"ExtraRows: run() returned 10 rows for 5 items; the 5 extra rows are kept in the output but not counted as items"}},
	{area: "entry script", input: "`run()` that returns fewer rows than it got files", code: 0,
		try: func(e *badEnv) []string {
			return e.run("--entry-script", e.script("fewer.py", "    return [p for p in mini_batch if not p.endswith('b.txt')]\n"))
		},
		says: []string{"items: 4 succeeded, 1 failed", "completed with 1 of 5 items failed: see "}},
	{area: "entry script", input: "failed items over `error_threshold`", code: 1,
		try: func(e *badEnv) []string {
			return e.run("--entry-script", e.script("fewer.py", "    return mini_batch[1:]\n"),
				"--mini-batch-size", "1", "--error-threshold", "2")
		},
		says: []string{"failed items exceed error_threshold 2"}},
	{area: "entry script", input: "a `run()` that hangs", code: 0,
		try: func(e *badEnv) []string {
			return e.run("--entry-script", e.script("hang.py", "    if mini_batch[0].endswith('a.txt'):\n        time.sleep(3600)\n    return mini_batch\n"),
				"--mini-batch-size", "1", "--run-invocation-timeout", "1", "--run-max-try", "1")
		},
		says: []string{"#0 attempt 1 on ", "Timeout: run() passed run_invocation_timeout", "completed with 1 of 5 items failed"}},
	{area: "entry script", input: "`run()` whose answer is over `run_result_max_size`", code: 0, place: "logs/user/error.txt",
		try: func(e *badEnv) []string {
			return e.run("--entry-script", e.script("big.py", "    if mini_batch[0].endswith('a.txt'):\n        return ['x' * 4096]\n    return mini_batch\n"),
				"--mini-batch-size", "1", "--run-result-max-size", "1KB", "--run-max-try", "1")
		},
		says: []string{"ProtocolError: the script wrote a response line of more than 1024 bytes to fd 4, over the limit that run_result_max_size sets"}},
	{area: "entry script", input: "`run()` that returns `bytes`", code: 0, place: "parallel_run_step.txt",
		try: func(e *badEnv) []string {
			return e.run("--entry-script", e.script("bytes.py", "    return [os.path.basename(p).encode() for p in mini_batch]\n"))
		},
		says: []string{"a.txt\nb.txt\n"}, hides: []string{"b'"}},
	{area: "entry script", input: "50 MB written to stdout without a line break", code: 0, place: "logs/user/stdout/*/*",
		try: func(e *badEnv) []string {
			return e.run("--entry-script", e.script("loud.py", "    for _ in range(50):\n        sys.stdout.write('z' * (1 << 20))\n"+
				"    print('\\nthe end')\n    return mini_batch\n"))
		},
		says: []string{"zzzz\n", "\nthe end\n"}, note: "every byte kept, in lines of 64 KiB at most",
		check: func(e *badEnv) {
			logged := e.place("logs/user/stdout/*/*", "")
			for i, line := range strings.Split(logged, "\n") {
				if len(line) > 64<<10 {
					e.t.Fatalf("line %d of the script's stdout has %d bytes", i, len(line))
				}
			}
			if n := strings.Count(logged, "z"); n != 50<<20 {
				e.t.Fatalf("the script's stdout holds %d of its %d bytes", n, 50<<20)
			}
		}},
	{area: "entry script", input: "`run()` that starts a process in a session of its own and leaves it", code: 0,
		try: func(e *badEnv) []string {
			return e.run("--entry-script", e.script("stray.py", "    import subprocess\n"+
				"    child = subprocess.Popen(['sleep', '1000'], start_new_session=True)\n"+
				"    with open(os.path.join("+pyString(e.dir)+", 'stray.pid'), 'w') as f:\n        f.write(str(child.pid))\n"+
				"    return mini_batch\n"))
		},
		says: []string{"items: 5 succeeded, 0 failed"}, note: "the process ends with the job",
		check: func(e *badEnv) {
			b, err := os.ReadFile(filepath.Join(e.dir, "stray.pid"))
			if err != nil {
				e.t.Fatal(err)
			}
			eventually(e.t, 20*time.Second, "the script's stray process to end", func() bool { return !pidAlive(string(b)) })
		}},
	{area: "entry script", input: "`run()` that looks for `AWS_SECRET_ACCESS_KEY` and `PRS_NATS_URL`", code: 0, place: "parallel_run_step.txt",
		try: func(e *badEnv) []string {
			e.env = []string{"PRS_NATS_URL=nats://prs:nats-pw@127.0.0.1:1"}
			return e.run("--nats", "", "--entry-script", e.script("env.py",
				"    return [os.environ.get('AWS_SECRET_ACCESS_KEY', 'no key') + ', ' + os.environ.get('PRS_NATS_URL', 'no URL') for p in mini_batch]\n"))
		},
		says: []string{"no key, no URL\n"}, hides: []string{minio.SecretKey(), "nats-pw"}},

	// Inputs and outputs.
	{area: "input and output", input: "an empty input folder", code: 2,
		try:  func(e *badEnv) []string { return e.run("--input", mkdir(e.t, filepath.Join(e.dir, "empty"))) },
		says: []string{"input: the input has no files: ", "empty"}},
	{area: "input and output", input: "an input folder that does not exist", code: 2,
		try:  func(e *badEnv) []string { return e.run("--input", filepath.Join(e.dir, "absent")) },
		says: []string{"input: objstore: check ", "absent: bucket not found: stat ", "absent: no such file or directory"}},
	{area: "input and output", input: "a file named with a byte that is not UTF-8 (`bad\\xffname.txt`)", code: 0, place: "parallel_run_step.txt",
		try: func(e *badEnv) []string {
			writeFile(e.t, e.in, "bad\xffname.txt", []byte("B"))
			return e.run("--entry-script", e.script("names.py",
				"    return [os.path.basename(p) + ' ' + open(p).read() for p in mini_batch]\n"))
		},
		says: []string{"b.txt b.txt\nbad\xffname.txt B\nc.txt c.txt\n"}},
	{area: "input and output", input: "one file (not a table) as the input", code: 0,
		try:  func(e *badEnv) []string { return e.run("--input", filepath.Join(e.in, "c.txt")) },
		says: []string{"items: 1 succeeded, 0 failed"}},
	{area: "input and output", input: "the output is the input folder", code: 2,
		try:  func(e *badEnv) []string { return e.run("--output", e.in) },
		says: []string{"output: invalid configuration: ", "in is the input folder: the job would take its own results and logs for input"}},
	{area: "input and output", input: "the output is the input folder, as `file://` with a trailing `/`", code: 2,
		try:  func(e *badEnv) []string { return e.run("--output", "file://"+e.in+"/") },
		says: []string{"output: invalid configuration: file://", "in/ is the input folder"}},
	{area: "input and output", input: "the S3 output is the S3 input", code: 2,
		try:  func(e *badEnv) []string { return e.run("--input", e.h.s3("in"), "--output", e.h.s3("in/")) },
		says: []string{"output: invalid configuration: s3://", "in/ is the input folder"}},
	{area: "input and output", input: "the output is a folder inside the input", code: 0,
		try:  func(e *badEnv) []string { e.out = filepath.Join(e.in, "results"); return e.run() },
		says: []string{"the output folder is inside the input folder: its objects are left out of the input", "items: 5 succeeded, 0 failed"}},
	{area: "input and output", input: "an input inside an earlier output's `logs/`", code: 2,
		try: func(e *badEnv) []string {
			prev := filepath.Join(e.dir, "prev")
			e.file("prev/logs/a.txt", "a")
			return e.run("--input", filepath.Join(prev, "logs"), "--output", prev)
		},
		says: []string{"input: invalid configuration: ", "prev/logs is inside logs, prs's own folder of the output"}},
	{area: "input and output", input: "the output is a file", code: 2,
		try:  func(e *badEnv) []string { return e.run("--output", e.file("afile.txt", "not a folder")) },
		says: []string{"output: invalid configuration: ", "afile.txt is a file, not a folder"}},
	{area: "input and output", input: "the output is under a file", code: 2,
		try: func(e *badEnv) []string {
			return e.run("--output", filepath.Join(e.file("afile.txt", "not a folder"), "out"))
		},
		says: []string{"output: invalid configuration: cannot make the folder ", "afile.txt/out: ", "afile.txt is a file"}},
	{area: "input and output", input: "a symbolic link out of the input folder", code: 0,
		try: func(e *badEnv) []string {
			symlink(e, e.file("outside/secret.txt", "not for the job"), filepath.Join(e.in, "leak.txt"))
			return e.run()
		},
		says: []string{"skipping a symbolic link to ", "secret.txt, outside the folder ", "not followed (follow_symlinks: true follows it)", "leak.txt", "items: 5 succeeded, 0 failed"}},
	{area: "input and output", input: "a dangling symbolic link and a link loop in the input", code: 0,
		try: func(e *badEnv) []string {
			symlink(e, filepath.Join(e.dir, "missing.txt"), filepath.Join(e.in, "gone.txt"))
			symlink(e, e.in, filepath.Join(e.in, "loop"))
			return e.run()
		},
		says: []string{"skipping a dangling symbolic link (its target ", "gone.txt", "skipping a symbolic link loop (it leads back to a folder above it)", "items: 5 succeeded, 0 failed"}},
	{area: "input and output", input: "a CSV file with a quoted field never closed", code: 2,
		try: func(e *badEnv) []string {
			return e.run("--input", e.file("t/bad.csv", "id,x\n1,\"abc\n2,3\n"), "--input-format", "csv")
		},
		says: []string{"input: tabular: malformed file: bad.csv: row 1 (byte 5): the quoted field opened on line 2 runs to the end of the file (line 3) without a proper closing quote"}},
	{area: "input and output", input: "a truncated Parquet file", code: 2,
		try: func(e *badEnv) []string {
			return e.run("--input", e.file("t/x.parquet", "PAR1 not really"), "--input-format", "parquet")
		},
		says: []string{"input: tabular: malformed file: x.parquet: not a readable Parquet file (truncated?)"}},
	{area: "input and output", input: "a Parquet file whose page header claims a 2 GiB page", code: 1,
		try: func(e *badEnv) []string {
			data := fuzzSeed(e, "../internal/tabular/testdata/fuzz/FuzzPlanParquet/page-header-compressed")
			return e.run("--input", e.file("t/big.parquet", data), "--input-format", "parquet", "--run-max-try", "1",
				"--interpreter", pandastest.Python(e.t))
		},
		says: []string{"tabular: malformed file: big.parquet: row group 0, column [id]: the page at byte 4 claims 2147483647 bytes, 40 are left in its column chunk"}},

	// Storage and NATS.
	{area: "storage and NATS", input: "an S3 input in a bucket that does not exist", code: 2,
		try:  func(e *badEnv) []string { return e.run("--input", "s3://no-such-bucket-prs/in") },
		says: []string{"input: objstore: check s3://no-such-bucket-prs/in: bucket not found"}},
	{area: "storage and NATS", input: "an S3 output in a bucket that does not exist", code: 2,
		try:  func(e *badEnv) []string { return e.run("--output", "s3://no-such-bucket-prs/out") },
		says: []string{"output: objstore: check s3://no-such-bucket-prs/out: bucket not found"}},
	{area: "storage and NATS", input: "a wrong S3 secret key", code: 2,
		try: func(e *badEnv) []string {
			e.env = []string{"AWS_SECRET_ACCESS_KEY=wrong-secret-key"}
			return e.run("--input", e.h.s3("in"))
		},
		says: []string{"input: objstore: check s3://", "access denied"}, hides: []string{"wrong-secret-key"}},
	{area: "storage and NATS", input: "an S3 endpoint that does not answer", code: 2,
		try:  func(e *badEnv) []string { return e.run("--input", e.h.s3("in"), "--s3-endpoint", "http://127.0.0.1:1") },
		says: []string{"input: objstore: check s3://", "at endpoint http://127.0.0.1:1", "connect: connection refused"}},
	{area: "storage and NATS", input: "credentials in an S3 URI (`s3://KEY:SECRET@bucket/...`)", code: 2,
		try: func(e *badEnv) []string {
			return e.run("--input", "s3://AKIAEXAMPLE:topsecret@bucket/in")
		},
		says: []string{"credentials do not belong in an S3 URI (they come from the AWS credential chain)"}, hides: []string{"topsecret"}},
	{area: "storage and NATS", input: "a NATS server that does not answer, its password in the URL", code: 2,
		try:  func(e *badEnv) []string { return e.run("--nats", "nats://prs:hunter2@127.0.0.1:1") },
		says: []string{"connecting to NATS at nats://prs:xxxxx@127.0.0.1:1"}, hides: []string{"hunter2"}},
	{area: "storage and NATS", input: "a wrong NATS password", code: 2,
		try: func(e *badEnv) []string {
			s := startAuthServer(e.t, &server.Options{Username: "prs", Password: "right-password"}, nil)
			return []string{"status", "--nats", s.ClientURL(), "--nats-user", "prs", "--nats-password", "wrong-password"}
		},
		says: []string{"connecting to NATS at nats://127.0.0.1:", "nats: Authorization Violation"}, hides: []string{"wrong-password"}},

	// Jobs.
	{area: "jobs", input: "a second job into an output that a running job holds", code: 2, busy: true,
		try: func(e *badEnv) []string {
			first := e.h.startIn(e.t, e.run("--job-id", "first", "--mini-batch-size", "1",
				"--entry-script", e.script("slow.py", "    time.sleep(1)\n    return mini_batch\n"))...)
			eventually(e.t, time.Minute, "the first job to take the output", func() bool { return holds(e, first) })
			return e.run("--job-id", "second")
		},
		says: []string{"output: ", "is in use by job first (taken by ", "a holder that is not renewed for 2m0s loses it"}},
	{area: "jobs", input: "a second `prs run` on the `--state-dir` of a running one", code: 2, busy: true,
		try: func(e *badEnv) []string {
			state := mkdir(e.t, filepath.Join(e.dir, "state"))
			first := e.h.startIn(e.t, e.run("--state-dir", state, "--mini-batch-size", "1",
				"--entry-script", e.script("slow.py", "    time.sleep(1)\n    return mini_batch\n"))...)
			eventually(e.t, time.Minute, "the first job to start", func() bool { return holds(e, first) })
			return e.run("--state-dir", state, "--output", filepath.Join(e.dir, "out2"))
		},
		says: []string{"--state-dir ", "the state folder is in use by another prs process (process "}},
	{area: "jobs", input: "a completed job whose rows were staged as objects (`inline_rows_max: 0`) resubmitted after its final file was deleted", code: 2,
		try: func(e *badEnv) []string {
			args := e.run("--state-dir", filepath.Join(e.dir, "state"), "--job-id", "job-a", "--inline-rows-max", "0",
				"--entry-script", e.script("calls.py", "    with open("+pyString(filepath.Join(e.dir, "calls"))+", 'a') as f:\n        f.write('x')\n"+
					"    return [os.path.basename(p) for p in mini_batch]\n"))
			mustRun(e, args)
			if err := os.Remove(filepath.Join(e.out, "parallel_run_step.txt")); err != nil {
				e.t.Fatal(err)
			}
			return args
		},
		says: []string{"its final file ", "parallel_run_step.txt was deleted, and the rows it staged under ", " were removed when it ended (keep_staging: true keeps them); submit the job again with a new job id"},
		check: func(e *badEnv) {
			if b, _ := os.ReadFile(filepath.Join(e.dir, "calls")); string(b) != "x" {
				e.t.Fatalf("run() was called %d times, want once (by the first run)", len(b))
			}
		}},
	{area: "jobs", input: "a new job id for a completed job (`allow_reuse`) whose final file was deleted", code: 0, place: "parallel_run_step.txt",
		try: func(e *badEnv) []string {
			args := e.run("--state-dir", filepath.Join(e.dir, "state"), "--job-id", "job-a",
				"--entry-script", e.script("calls.py", "    with open("+pyString(filepath.Join(e.dir, "calls"))+", 'a') as f:\n        f.write('x')\n"+
					"    return [os.path.basename(p) for p in mini_batch]\n"))
			mustRun(e, args)
			if err := os.Remove(filepath.Join(e.out, "parallel_run_step.txt")); err != nil {
				e.t.Fatal(err)
			}
			args[slices.Index(args, "job-a")] = "job-b"
			return args
		},
		says: []string{"a.txt\nb.txt\nc.txt\nd.txt\ne.txt\n"}, note: "the identical earlier job's output is gone, so the job runs again",
		check: func(e *badEnv) {
			if b, _ := os.ReadFile(filepath.Join(e.dir, "calls")); string(b) != "xx" {
				e.t.Fatalf("run() was called %d times, want twice (the first job and the second)", len(b))
			}
		}},
	{area: "jobs", input: "a completed job whose rows rode in its outcomes (up to `inline_rows_max`) resubmitted after its final file was deleted", code: 0, place: "parallel_run_step.txt",
		try: func(e *badEnv) []string {
			args := e.run("--state-dir", filepath.Join(e.dir, "state"), "--job-id", "job-a",
				"--entry-script", e.script("calls.py", "    with open("+pyString(filepath.Join(e.dir, "calls"))+", 'a') as f:\n        f.write('x')\n"+
					"    return [os.path.basename(p) for p in mini_batch]\n"))
			mustRun(e, args)
			if err := os.Remove(filepath.Join(e.out, "parallel_run_step.txt")); err != nil {
				e.t.Fatal(err)
			}
			return args
		},
		says: []string{"a.txt\nb.txt\nc.txt\nd.txt\ne.txt\n"}, note: "written again from the rows in its recorded outcomes, though its staging was removed; nothing runs again",
		check: func(e *badEnv) {
			if b, _ := os.ReadFile(filepath.Join(e.dir, "calls")); string(b) != "x" {
				e.t.Fatalf("run() was called %d times, want once (by the first run)", len(b))
			}
		}},
	{area: "jobs", input: "a completed job with `keep_staging: true` resubmitted after its final file was deleted", code: 0, place: "parallel_run_step.txt",
		try: func(e *badEnv) []string {
			args := e.run("--state-dir", filepath.Join(e.dir, "state"), "--job-id", "job-a", "--keep-staging", "true",
				"--entry-script", e.script("calls.py", "    with open("+pyString(filepath.Join(e.dir, "calls"))+", 'a') as f:\n        f.write('x')\n"+
					"    return [os.path.basename(p) for p in mini_batch]\n"))
			mustRun(e, args)
			if err := os.Remove(filepath.Join(e.out, "parallel_run_step.txt")); err != nil {
				e.t.Fatal(err)
			}
			return args
		},
		says: []string{"a.txt\nb.txt\nc.txt\nd.txt\ne.txt\n"}, note: "written again from the recorded outcomes; nothing runs again",
		check: func(e *badEnv) {
			if b, _ := os.ReadFile(filepath.Join(e.dir, "calls")); string(b) != "x" {
				e.t.Fatalf("run() was called %d times, want once (by the first run)", len(b))
			}
		}},
	{area: "jobs", input: "a completed job resubmitted after a file was added to its input", code: 2,
		try: func(e *badEnv) []string {
			args := e.run("--state-dir", filepath.Join(e.dir, "state"), "--job-id", "job-a")
			mustRun(e, args)
			writeFile(e.t, e.in, "f.txt", []byte("new"))
			return args
		},
		says: []string{"the input has 6 files now, 5 when the job was submitted"}},
	{area: "jobs", input: "`prs debug --limit 0`", code: 2,
		try: func(e *badEnv) []string {
			return []string{"debug", "--entry-script", e.good, "--input", e.in, "--limit", "0"}
		},
		says: []string{"--limit must be at least 1 file, got 0 (leave it out for mini_batch_size)"}},
}

// holds reports whether the background prs run first holds the case's
// output (it runs, and the output has a lock record); it fails the case
// when first has ended.
func holds(e *badEnv, first *bgRun) bool {
	e.t.Helper()
	if !first.running() {
		e.t.Fatalf("the first job ended:\n%s%s", first.out.String(), tail(first.errOut.String(), 3000))
	}
	locks, _ := filepath.Glob(filepath.Join(e.out, ".prs", "lock.*.json"))
	return len(locks) > 0
}

// fuzzSeed reads the []byte of a Go fuzz corpus file.
func fuzzSeed(e *badEnv, path string) string {
	e.t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		e.t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[1], "[]byte(") {
		e.t.Fatalf("%s is not a fuzz corpus file of []byte", path)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		e.t.Fatalf("%s: %v", path, err)
	}
	return s
}

// pyString is s as a Python string literal.
func pyString(s string) string { return strconv.Quote(s) }

// symlink makes a symbolic link, failing the case on error.
func symlink(e *badEnv, target, link string) {
	e.t.Helper()
	if err := os.Symlink(target, link); err != nil {
		e.t.Fatal(err)
	}
}

// mustRun runs prs to its end and fails the case unless it exits 0.
func mustRun(e *badEnv, args []string) {
	e.t.Helper()
	if out, code := e.prs(args...); code != 0 {
		e.t.Fatalf("prs %s: exit %d\n%s", strings.Join(args, " "), code, tail(out, 3000))
	}
}
