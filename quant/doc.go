// Package quant is Sextant's post-training quantization: passes that rewrite
// an optimized float32 graph (graph.Optimize has run, so MatMul + Add +
// activation are already FusedMatMul/FusedGemm) into a smaller, faster one.
//
//   - Dynamic (mode "int8-dynamic"): every MatMul, Gemm, FusedMatMul and
//     FusedGemm whose weight is a float32 constant becomes a
//     DynamicQuantMatMul (graph/schema_quant.go) with the weight stored as
//     int8 [K, N] and one float32 scale per output column (per-channel
//     symmetric: scale = max|w| / 127). Activations are quantized per tensor
//     to uint8 at run time, inside the kernel: no QDQ chain runs.
//   - Static (mode "int8"): the same weights, and activation ranges fixed
//     ahead of time by Calibrate over a data set with an Observer method
//     (min/max, percentile, or TensorRT's entropy/KL threshold). Nodes become
//     QuantMatMul with the activation scale and zero point as attributes;
//     where a product's output feeds only other products, it is requantized
//     in the epilogue and passed on as uint8 (or int8), never widened.
//   - Float16 (mode "f16"): float32 weights are stored as float16 and widened
//     back by a Cast that constant folding evaluates once when the model is
//     compiled: half the bundle, full float32 compute and memory at run time
//     (see Float16 for the trade-off).
//   - FoldQDQ: an already-quantized ONNX model's QuantizeLinear →
//     DequantizeLinear → MatMul/Gemm chains with int8 weights become
//     QuantMatMul on the model's own scales and weights.
//
// Calibration data is an Iterator over examples of every model input:
// NPYDir reads the directory-of-.npy form of DESIGN.md's data sets,
// NewTensorData wraps tensors in memory.
//
// Each pass records what it did as the bundle manifest's Quantization.
// The int8 kernels (kernels/quant_*.go) multiply uint8 activations by int8
// weights, accumulated exactly in int32, on package kernels/gemm8's SIMD
// sets (VPDPBUSD on AVX-512 VNNI, VPMADDWD on AVX2) where the CPU has
// them and in pure Go otherwise, with identical int32 results.
package quant
