package prscli

import (
	"testing"
)

func TestUsageOfTheRealBinary(t *testing.T) {
	w := Get(t, "worker")
	if f := w.Flags["slots"]; !f.TakesValue || f.Default != "1" {
		t.Errorf("worker --slots: %+v", f)
	}
	if f := w.Flags["drain-timeout"]; !f.TakesValue || f.Default != "10m0s" {
		t.Errorf("worker --drain-timeout: %+v", f)
	}
	if !w.Env["PRS_NATS_URL"] || !w.Env["PRS_S3_ENDPOINT"] {
		t.Errorf("worker env: %v", w.Env)
	}
	if f, ok := Get(t, "submit").Flags["wait"]; !ok || f.TakesValue {
		t.Errorf("submit --wait is a boolean: %+v", f)
	}
	if !Get(t, "submit").Env["PRS_ORT_LIB"] {
		t.Error("submit -h names PRS_ORT_LIB (--onnx-library's default)")
	}
	if f := Get(t, "exporter").Flags["metrics-addr"]; f.Default != ":9091" {
		t.Errorf("exporter --metrics-addr: %+v", f)
	}
}

func TestParse(t *testing.T) {
	inv, err := Parse(t, []string{"worker", "--slots", "2", "--drain-timeout=5m", "--metrics-addr", ":9090"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Value(t, "slots") != "2" || inv.Value(t, "drain-timeout") != "5m" || inv.Value(t, "log-flush") != "5s" {
		t.Errorf("%+v", inv)
	}
	inv, err = Parse(t, []string{"submit", "--config", "/job/job.yaml", "--wait", "--job-id", "x"}, nil)
	if err != nil || inv.Flags["wait"] != "true" || inv.Flags["job-id"] != "x" {
		t.Errorf("%+v %v", inv, err)
	}
	for _, bad := range [][]string{
		{"worker", "--slotz", "2"},
		{"worker", "--slots"},
		{"worker", "--slots", "1", "--slots", "2"},
		{"--slots", "2"},
	} {
		if _, err := Parse(t, bad, nil); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// A pending flag passes only where Pending lists it.
	for _, f := range Pending["worker"] {
		args := []string{"worker", "--" + f, "60s"}
		if _, err := Parse(t, args, Pending); err != nil {
			t.Errorf("pending %q: %v", args, err)
		}
		if _, ok := Get(t, "worker").Flags[f]; !ok {
			if _, err := Parse(t, args, nil); err == nil {
				t.Errorf("%q accepted without Pending", args)
			}
		}
	}
}

func TestPendingFlagsAreNotYetInTheBinary(t *testing.T) { CheckPending(t) }
