package sextant

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// deviceProbe is a program that uses the whole device-side SDK.
const deviceProbe = "./internal/deviceprobe"

// sizeBudget is DESIGN.md's limit for a stripped android/arm64 build of a
// program using the whole SDK.
const sizeBudget = 8 << 20

// serverOnly lists packages (by import-path prefix) that must never reach a
// phone build, each with the reason.
var serverOnly = map[string]string{
	"testing":                                   "test framework: adds flags and code to the binary",
	"net/http/pprof":                            "exposes profiling endpoints; server diagnostics only",
	"github.com/spf13/cobra":                    "CLI framework: only cmd/sextant uses it",
	"github.com/spf13/pflag":                    "CLI flags: only cmd/sextant uses it",
	"modernc.org/sqlite":                        "server-side store",
	"github.com/jackc/pgx":                      "server-side PostgreSQL store",
	"github.com/nats-io/nats-server":            "embedded message broker of the server",
	"github.com/prometheus":                     "server metrics",
	"github.com/chromedp":                       "browser tests only",
	"github.com/parquet-go":                     "data-set reader for training and evaluation on servers",
	"github.com/yalue/onnxruntime_go":           "reference peer for benchmarks only",
	"github.com/google/differential-privacy":    "central DP aggregates run on the server",
	"github.com/aws/aws-sdk-go-v2":              "object storage on the server",
	"github.com/minio/minio-go":                 "object storage on the server",
	"filippo.io/age":                            "offline signing keys: operator tooling",
	"github.com/sextant-ml/sextant/cmd":         "the CLI",
	"github.com/sextant-ml/sextant/onnx":        "ONNX import happens at convert time, not on the phone",
	"github.com/sextant-ml/sextant/conformance": "test-suite runner",
	"github.com/sextant-ml/sextant/server":      "the server",
	"github.com/sextant-ml/sextant/store":       "server persistence",
	"github.com/sextant-ml/sextant/sim":         "fleet simulator",
	"github.com/sextant-ml/sextant/mobility":    "city simulator for training data",
	"github.com/sextant-ml/sextant/eval":        "offline evaluation",
}

// phoneTargets are the builds whose package lists are checked. ios/arm64
// always links externally, through cgo, so it is listed with cgo on (listing
// needs no C toolchain).
var phoneTargets = []struct {
	goos, goarch string
	cgo          bool
}{
	{"android", "arm64", false},
	{"ios", "arm64", true},
}

func goEnv(goos, goarch string, cgo bool) []string {
	c := "0"
	if cgo {
		c = "1"
	}
	return append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED="+c)
}

// TestPhoneBuildDeps lists the packages a phone build of the device SDK
// links and fails on server-only ones.
func TestPhoneBuildDeps(t *testing.T) {
	for _, tg := range phoneTargets {
		cmd := exec.Command("go", "list", "-deps", deviceProbe)
		cmd.Env = goEnv(tg.goos, tg.goarch, tg.cgo)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s/%s: go list: %v\n%s", tg.goos, tg.goarch, err, out)
		}
		pkgs := strings.Fields(string(out))
		var own int
		for _, p := range pkgs {
			if strings.HasPrefix(p, "github.com/sextant-ml/sextant/") {
				own++
			}
			for bad, why := range serverOnly {
				if p == bad || strings.HasPrefix(p, bad+"/") {
					t.Errorf("%s/%s phone build links %s: %s", tg.goos, tg.goarch, p, why)
				}
			}
		}
		if own < 4 {
			t.Errorf("%s/%s: only %d Sextant packages linked; the probe does not use the SDK", tg.goos, tg.goarch, own)
		}
		t.Logf("%s/%s: %d packages (%d Sextant)", tg.goos, tg.goarch, len(pkgs), own)
	}
}

// TestPhoneBuildSize builds the probe stripped for android/arm64 and holds it
// to the size budget.
func TestPhoneBuildSize(t *testing.T) {
	if testing.Short() {
		t.Skip("builds for android/arm64; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "probe")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, deviceProbe)
	cmd.Env = goEnv("android", "arm64", false)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	list := exec.Command("go", "list", "-deps", deviceProbe)
	list.Env = goEnv("android", "arm64", false)
	out, err := list.Output()
	if err != nil {
		t.Fatal(err)
	}
	n := len(strings.Fields(string(out)))
	t.Logf("android/arm64 stripped device build: %d bytes (%.2f MB), %d packages; budget %d MB", fi.Size(), float64(fi.Size())/(1<<20), n, sizeBudget>>20)
	if fi.Size() > sizeBudget {
		t.Errorf("device build is %d bytes, over the %d-byte budget", fi.Size(), sizeBudget)
	}
}
