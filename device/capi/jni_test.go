package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/tensor"
)

// javaHome returns the JDK holding javac: $JAVA_HOME when it has jni.h,
// else the directory two levels above javac with links resolved.
func javaHome(t *testing.T, javac string) string {
	t.Helper()
	if h := os.Getenv("JAVA_HOME"); h != "" {
		if _, err := os.Stat(filepath.Join(h, "include", "jni.h")); err == nil {
			return h
		}
	}
	real, err := filepath.EvalSymlinks(javac)
	if err != nil {
		t.Fatal(err)
	}
	h := filepath.Dir(filepath.Dir(real))
	if _, err := os.Stat(filepath.Join(h, "include", "jni.h")); err != nil {
		t.Fatalf("no jni.h under %s (javac %s): %v", h, real, err)
	}
	return h
}

// TestJNISmoke builds the c-shared library and testdata/jni's shim against
// it, runs SextantSmoke.java on the MLP bundle and compares the outputs with
// PyTorch's within 1e-5; the Java program also checks that a missing bundle
// surfaces as an exception carrying the status.
func TestJNISmoke(t *testing.T) {
	javac := need(t, "javac")
	java := need(t, "java")
	gcc := need(t, "gcc")
	lib := buildLib(t, "c-shared")
	home := javaHome(t, javac)
	path := mlpBundle(t)
	x, y := readNPY(t, mlpX), readNPY(t, mlpY)

	dir := t.TempDir()
	shim := filepath.Join(dir, "libsextant_jni.so")
	libDir := filepath.Dir(lib)
	run(t, gcc, "-shared", "-fPIC", "-std=c11", "-Wall", "-Wextra", "-Werror",
		"-I.", "-I"+filepath.Join(home, "include"), "-I"+filepath.Join(home, "include", "linux"),
		"-o", shim, "testdata/jni/sextant_jni.c", "-L"+libDir, "-lsextant", "-Wl,-rpath,"+libDir)
	classes := filepath.Join(dir, "classes")
	run(t, javac, "-d", classes, "testdata/jni/SextantSmoke.java")

	args := []string{"-cp", classes, "SextantSmoke", shim, path, writeF32(t, "x.f32", tensor.Data[float32](x))}
	for _, d := range x.Shape {
		args = append(args, strconv.Itoa(d))
	}
	out := run(t, java, args...)
	t.Logf("java output:\n%s", head(out, 4))
	if !strings.Contains(out, "open error: cannot open bundle: ") {
		t.Errorf("missing bundle: no open error with its status in:\n%s", head(out, 3))
	}
	got, shape := parseOutputs(t, out, "y")
	compare(t, got, shape, y)
	if !strings.HasSuffix(out, "ok\n") {
		t.Errorf("SextantSmoke did not finish with ok:\n%s", out)
	}
}
