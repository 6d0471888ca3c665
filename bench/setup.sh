#!/usr/bin/env bash
# setup.sh installs ONNX Runtime's CPU library for the peer comparison.
#
# ONNX Runtime 1.30.0 comes from the npm package onnxruntime-node, which
# bundles the CPU shared library. Its install script (which fetches CUDA
# files and fails here) is skipped with --ignore-scripts; the CPU library
# needs nothing from it. Idempotent: does nothing when the library is there.
#
# Prints the library's path on success. compare and the tests find it at
# that path by default (override with ORT_LIB or --ort-lib).
set -euo pipefail

ORT_VERSION=1.30.0
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
case "$(uname -m)" in
x86_64) arch=x64 ;;
aarch64 | arm64) arch=arm64 ;;
*) echo "setup.sh: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac
lib="$here/node_modules/onnxruntime-node/bin/napi-v6/linux/$arch/libonnxruntime.so.1"
pkg="$here/node_modules/onnxruntime-node/package.json"

installed_version() {
	[ -f "$pkg" ] && node -p "require('$pkg').version" 2>/dev/null || true
}

if [ -f "$lib" ] && [ "$(installed_version)" = "$ORT_VERSION" ]; then
	echo "$lib"
	exit 0
fi

command -v npm >/dev/null || { echo "setup.sh: npm not found (apt-get install npm)" >&2; exit 1; }
cd "$here"
# --no-save keeps bench/ free of package.json churn; the prefix pins the
# install to bench/node_modules.
npm install --prefix "$here" --no-save --no-audit --no-fund --ignore-scripts \
	"onnxruntime-node@$ORT_VERSION" >&2
if [ ! -f "$lib" ]; then
	echo "setup.sh: $lib missing after install" >&2
	exit 1
fi
echo "$lib"
