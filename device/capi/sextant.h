/*
 * sextant.h: the C ABI of the Sextant on-device runtime.
 *
 * Build the library from the repository root with
 *
 *     go build -buildmode=c-archive -o libsextant.a ./device/capi   (static)
 *     go build -buildmode=c-shared  -o libsextant.so ./device/capi  (shared)
 *
 * and include this header (not the one the Go tool writes next to the
 * library: that one is generated, lacks const and the documentation, and is
 * checked against this file by device/capi's tests).
 *
 * Conventions
 *   - Every fallible call returns a sextant_status; SEXTANT_OK is 0. When a
 *     call fails and err is not NULL, a NUL-terminated message of at most
 *     errlen-1 bytes is written to err (truncated if longer). err may be
 *     NULL; errlen is then ignored.
 *   - Buffers belong to the caller: the library reads inputs and writes
 *     outputs during the call and keeps no pointer to them afterwards.
 *     Strings returned by the introspection calls belong to the model and
 *     stay valid until sextant_close.
 *   - Tensors are dense, row-major, float32 (ONNX dtype 1). Models with inputs
 *     or outputs of other element types open, report their dtypes, and are
 *     refused by sextant_predict with SEXTANT_ERR_DTYPE.
 *
 * Thread safety
 *   A sextant_model may be used from any thread. Each handle owns one
 *   inference session guarded by a mutex: concurrent sextant_predict calls on
 *   the same handle are safe and run one at a time. To predict in parallel,
 *   open the bundle once per thread (the weights are memory-mapped, so the
 *   handles share their pages). sextant_close waits for a running
 *   sextant_predict on the handle to finish; calling anything on a handle
 *   after (or while) sextant_close has been called on it is undefined.
 */
#ifndef SEXTANT_H
#define SEXTANT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* sextant_status is the result of every fallible call. */
typedef enum sextant_status {
	SEXTANT_OK = 0,
	/* A NULL pointer or out-of-range index where one is not allowed. */
	SEXTANT_ERR_ARGUMENT = 1,
	/* The bundle could not be read: missing, unreadable, or not a valid
	 * .sxm file. */
	SEXTANT_ERR_OPEN = 2,
	/* The bundle opened but its graph could not be compiled (an operator
	 * this runtime lacks, say). */
	SEXTANT_ERR_COMPILE = 3,
	/* The inputs do not match the model: wrong count, rank or shape. */
	SEXTANT_ERR_INPUT = 4,
	/* An input or output of the model is not float32. */
	SEXTANT_ERR_DTYPE = 5,
	/* An output buffer is too small; output_lens (or the outputs' len)
	 * hold the element counts needed. */
	SEXTANT_ERR_BUFFER_TOO_SMALL = 6,
	/* Inference failed while running. */
	SEXTANT_ERR_RUN = 7
} sextant_status;

/* SEXTANT_MAX_RANK is the largest tensor rank sextant_predict reports for an
 * output. */
#define SEXTANT_MAX_RANK 8

/* SEXTANT_DTYPE_FLOAT is the ONNX TensorProto.DataType of float32, the value
 * sextant_input_dtype and sextant_output_dtype return for float tensors. */
#define SEXTANT_DTYPE_FLOAT 1

/* sextant_model is an open, compiled bundle. Opaque. */
typedef struct sextant_model sextant_model;

/* sextant_input is one input tensor of a prediction: rank dims in shape
 * (each > 0, rank at most SEXTANT_MAX_RANK; shape may be NULL for a scalar)
 * and their product of floats at data. */
typedef struct sextant_input {
	const float *data;
	const int64_t *shape;
	size_t rank;
} sextant_input;

/* sextant_output is one output tensor of a prediction. The caller sets data
 * and capacity (in floats); sextant_predict sets len (the element count
 * written, or needed when the buffer is too small), rank and shape. */
typedef struct sextant_output {
	float *data;
	size_t capacity;
	size_t len;
	int64_t shape[SEXTANT_MAX_RANK];
	size_t rank;
} sextant_output;

/* sextant_exposure_fn is the host's exposure callback (see
 * sextant_set_exposure): user is the pointer given at registration, model
 * and version name the bundle that answered (valid during the call only),
 * unix_ms is the time of the answer in milliseconds since 1970 UTC. */
typedef void (*sextant_exposure_fn)(void *user, const char *model, const char *version, int64_t unix_ms);

#ifndef SEXTANT_TYPES_ONLY

/* sextant_status_string returns a static description of a status code. */
const char *sextant_status_string(int status);

/* sextant_open memory-maps the .sxm bundle at path, checks its structure and
 * compiles it. On success *out holds a handle to release with sextant_close.
 * On failure *out is set to NULL. */
int sextant_open(const char *path, sextant_model **out, char *err, size_t errlen);

/* sextant_close releases the handle and unmaps the bundle. NULL is a no-op. */
void sextant_close(sextant_model *m);

/* sextant_model_name and sextant_model_version return the manifest's name
 * and semantic version. */
const char *sextant_model_name(const sextant_model *m);
const char *sextant_model_version(const sextant_model *m);

/* Inputs and outputs in graph order. Names are NULL and dtypes 0 for an
 * index out of range. */
size_t sextant_input_count(const sextant_model *m);
size_t sextant_output_count(const sextant_model *m);
const char *sextant_input_name(const sextant_model *m, size_t i);
const char *sextant_output_name(const sextant_model *m, size_t i);
int sextant_input_dtype(const sextant_model *m, size_t i);
int sextant_output_dtype(const sextant_model *m, size_t i);

/* sextant_input_shape and sextant_output_shape write the declared shape of
 * input or output i to dims (at most cap entries) and its rank to *rank;
 * a symbolic or unknown dimension (the batch, typically) is -1. If the rank
 * exceeds cap, *rank is still set and SEXTANT_ERR_BUFFER_TOO_SMALL returned;
 * if the model declares no shape at all, *rank is 0 and SEXTANT_ERR_INPUT is
 * returned. */
int sextant_input_shape(const sextant_model *m, size_t i, int64_t *dims, size_t cap, size_t *rank);
int sextant_output_shape(const sextant_model *m, size_t i, int64_t *dims, size_t cap, size_t *rank);

/* sextant_predict runs the model once. inputs holds n_inputs tensors in
 * graph order (n_inputs must equal sextant_input_count); outputs holds
 * n_outputs caller buffers (n_outputs must equal sextant_output_count). On
 * SEXTANT_OK every output's len, rank and shape are set and its data holds
 * len floats. On SEXTANT_ERR_BUFFER_TOO_SMALL every output's len, rank and
 * shape are set and no data is written: enlarge the buffers and call again.
 * Steady-state calls with unchanged shapes allocate no memory. */
int sextant_predict(sextant_model *m, const sextant_input *inputs, size_t n_inputs,
                    sextant_output *outputs, size_t n_outputs, char *err, size_t errlen);

/* sextant_set_exposure registers the process's exposure callback, the C
 * side of the Go SDK's Config.Exposure: fn is called once per model version
 * (the manifest's name and version), the first time a sextant_predict on a
 * handle of that bundle succeeds — the moment this device is exposed to the
 * version; experiment analysis counts these events, not assignments. It
 * runs on the thread of that sextant_predict, after the call has released
 * the handle, and must not block or call sextant_close on the handle.
 * Predictions made while no callback is registered are not remembered.
 *
 * With state_path not NULL, the versions exposed are kept in that file
 * (JSON, at most 1 MiB and 10 000 versions), read now and rewritten on each
 * exposure, so fn fires once per device across processes, as the SDK's
 * does; with NULL, once per process. fn NULL unregisters (user and
 * state_path are then ignored). SEXTANT_ERR_OPEN: the state file exists but
 * cannot be read or parsed; the previous registration then stays. */
int sextant_set_exposure(sextant_exposure_fn fn, void *user, const char *state_path, char *err, size_t errlen);

#endif /* SEXTANT_TYPES_ONLY */

#ifdef __cplusplus
}
#endif

#endif /* SEXTANT_H */
