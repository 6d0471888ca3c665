#!/usr/bin/env bash
# Runs Sextant's whole test suite, installing first what the tests need that
# a fresh machine lacks (Debian packages: the ONNX backend node tests, and
# python3-torch/python3-onnx for the reference checks). Run as root, or with
# the packages already installed.
set -euo pipefail
cd "$(dirname "$0")"

need=()
[ -d /usr/share/libonnx-testdata/data/node ] || need+=(libonnx-testdata)
/usr/bin/python3 -c 'import torch' 2>/dev/null || need+=(python3-torch)
/usr/bin/python3 -c 'from onnx import TensorProto' 2>/dev/null || need+=(python3-onnx)
/usr/bin/python3 -c 'import numpy' 2>/dev/null || need+=(python3-numpy)
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
[ -f /usr/include/zlib.h ] || need+=(zlib1g-dev) # the OSM PBF reader's cgo zlib
command -v gcc >/dev/null || need+=(gcc) # device/capi: the C ABI smoke tests
command -v javac >/dev/null || need+=(default-jdk-headless) # device/capi: the JNI smoke test (javac, jni.h)
command -v chromium >/dev/null || need+=(chromium) # server: the web console's browser tests (chromedp)
if [ ${#need[@]} -gt 0 ]; then
	echo "test.sh: installing ${need[*]} from Debian" >&2
	if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# store: the S3 blob suite runs against a versitygw gateway it starts on loopback.
command -v versitygw >/dev/null || [ -x "$(go env GOPATH)/bin/versitygw" ] ||
	go install github.com/versity/versitygw/cmd/versitygw@v1.8.0

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*'))
if [ -n "$unformatted" ]; then
	echo "test.sh: not gofmt-formatted:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
# The engine and the bundle are shared across goroutines: race-check them.
go test -race -count=1 ./engine/... ./bundle/...
go test -count=1 ./...
# Every GEMM kernel set: the portable one by build tag, and arm64 NEON under
# qemu (qemu checks correctness only; it cannot time arm64).
go test -count=1 -tags purego ./kernels/...
GOARCH=arm64 go test -count=1 -exec qemu-aarch64-static ./kernels/gemm ./kernels/gemm8 ./kernels/vmath
# The peer comparison is its own module (it links ONNX Runtime through cgo):
# check that both runtimes agree on every benchmark model.
bash bench/setup.sh >/dev/null
(cd bench && go vet ./... && go test -count=1 ./...)
