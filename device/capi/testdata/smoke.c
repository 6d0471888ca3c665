/*
 * smoke.c: links libsextant.a, opens a bundle, checks the error paths and
 * the introspection, predicts once and prints the outputs, then predicts from
 * several threads at once and checks every thread gets the same bits.
 *
 *     smoke BUNDLE INPUT.f32 DIM...
 *
 * INPUT.f32 holds the model's only input as little-endian float32, shaped by
 * DIM.... Prints "output NAME RANK DIM..." and then one value per line
 * (%.9g), then "ok". Exits 1 on any failed check. device/capi's
 * TestCArchiveSmoke builds and runs it.
 *
 * It also registers an exposure callback with the state file INPUT.f32
 * plus ".exposure.json" and checks that it fires once, on the first
 * successful prediction only, not again once re-registered from the state
 * file, again after a registration without one, and that a corrupt state
 * file is refused; it prints "exposed NAME VERSION".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sextant.h"

static int failures;

#define CHECK(cond, ...)                                        \
	do {                                                        \
		if (!(cond)) {                                          \
			fprintf(stderr, "smoke.c:%d: check failed: %s: ", __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                       \
			fputc('\n', stderr);                                \
			failures++;                                         \
		}                                                       \
	} while (0)

enum { THREADS = 4, RUNS = 25, MAX_OUT = 1 << 16 };

static sextant_model *model;
static sextant_input input;
static float want[MAX_OUT];
static size_t want_len;

/* Exposures seen by on_exposure; the callback runs on predicting threads. */
static pthread_mutex_t exposure_mu = PTHREAD_MUTEX_INITIALIZER;
static int exposures;
static char exposed_model[128], exposed_version[64];
static int64_t exposed_ms;

static void on_exposure(void *user, const char *m, const char *v, int64_t unix_ms) {
	pthread_mutex_lock(&exposure_mu);
	exposures++;
	*(int *)user += 1;
	snprintf(exposed_model, sizeof exposed_model, "%s", m);
	snprintf(exposed_version, sizeof exposed_version, "%s", v);
	exposed_ms = unix_ms;
	pthread_mutex_unlock(&exposure_mu);
}

static int exposure_count(void) {
	pthread_mutex_lock(&exposure_mu);
	int n = exposures;
	pthread_mutex_unlock(&exposure_mu);
	return n;
}

static void *worker(void *arg) {
	(void)arg;
	float *buf = malloc(sizeof(float) * MAX_OUT);
	sextant_output out = {.data = buf, .capacity = MAX_OUT};
	long bad = 0;
	for (int r = 0; r < RUNS; r++) {
		char err[256];
		memset(buf, 0, sizeof(float) * want_len);
		if (sextant_predict(model, &input, 1, &out, 1, err, sizeof err) != SEXTANT_OK ||
		    out.len != want_len || memcmp(buf, want, sizeof(float) * want_len) != 0)
			bad++;
	}
	free(buf);
	return (void *)bad;
}

int main(int argc, char **argv) {
	if (argc < 4) {
		fprintf(stderr, "usage: smoke BUNDLE INPUT.f32 DIM...\n");
		return 2;
	}
	char err[256];

	/* Error paths: a missing file, a tiny error buffer, NULL arguments. */
	sextant_model *m = (sextant_model *)&failures;
	int rc = sextant_open("/nonexistent/model.sxm", &m, err, sizeof err);
	CHECK(rc == SEXTANT_ERR_OPEN, "rc %d", rc);
	CHECK(m == NULL, "out not cleared");
	CHECK(strlen(err) > 0, "no message");
	char tiny[8];
	memset(tiny, 'x', sizeof tiny);
	rc = sextant_open("/nonexistent/model.sxm", &m, tiny, sizeof tiny);
	CHECK(rc == SEXTANT_ERR_OPEN && tiny[7] == '\0' && strlen(tiny) == 7, "truncation: rc %d len %zu", rc, strlen(tiny));
	CHECK(sextant_open(NULL, &m, NULL, 0) == SEXTANT_ERR_ARGUMENT, "NULL path");
	CHECK(strcmp(sextant_status_string(SEXTANT_ERR_BUFFER_TOO_SMALL), "output buffer too small") == 0, "status string");
	sextant_close(NULL);

	rc = sextant_open(argv[1], &model, err, sizeof err);
	if (rc != SEXTANT_OK) {
		fprintf(stderr, "sextant_open: %s: %s\n", sextant_status_string(rc), err);
		return 1;
	}

	/* Introspection. */
	CHECK(sextant_input_count(model) == 1, "%zu inputs", sextant_input_count(model));
	CHECK(sextant_output_count(model) == 1, "%zu outputs", sextant_output_count(model));
	CHECK(sextant_input_name(model, 1) == NULL, "name out of range");
	CHECK(sextant_input_dtype(model, 0) == SEXTANT_DTYPE_FLOAT, "dtype %d", sextant_input_dtype(model, 0));
	CHECK(sextant_output_dtype(model, 0) == SEXTANT_DTYPE_FLOAT, "dtype %d", sextant_output_dtype(model, 0));
	int64_t dims[SEXTANT_MAX_RANK];
	size_t rank = 0;
	CHECK(sextant_input_shape(model, 0, dims, 0, &rank) == SEXTANT_ERR_BUFFER_TOO_SMALL && rank > 0, "shape cap 0");
	CHECK(sextant_input_shape(model, 0, dims, SEXTANT_MAX_RANK, &rank) == SEXTANT_OK, "input shape");
	printf("model %s %s\n", sextant_model_name(model), sextant_model_version(model));
	printf("input %s %zu", sextant_input_name(model, 0), rank);
	for (size_t i = 0; i < rank; i++)
		printf(" %lld", (long long)dims[i]);
	printf("\n");

	/* The input. */
	int64_t shape[SEXTANT_MAX_RANK];
	size_t n = 1, r = (size_t)(argc - 3);
	for (size_t i = 0; i < r; i++) {
		shape[i] = atoll(argv[3 + i]);
		n *= (size_t)shape[i];
	}
	float *x = calloc(n + 64, sizeof(float));
	FILE *f = fopen(argv[2], "rb");
	if (f == NULL || fread(x, sizeof(float), n, f) != n) {
		fprintf(stderr, "cannot read %zu floats from %s\n", n, argv[2]);
		return 1;
	}
	fclose(f);
	input = (sextant_input){.data = x, .shape = shape, .rank = r};

	/* The exposure callback, remembered in a state file beside the input. */
	static int user_calls;
	char state[4096];
	snprintf(state, sizeof state, "%s.exposure.json", argv[2]);
	remove(state);
	rc = sextant_set_exposure(on_exposure, &user_calls, state, err, sizeof err);
	CHECK(rc == SEXTANT_OK, "sextant_set_exposure: rc %d: %s", rc, err);

	/* Input errors: a wrong last dim, a wrong input count. */
	static float y[MAX_OUT];
	sextant_output out = {.data = y, .capacity = MAX_OUT};
	int64_t bad_shape[SEXTANT_MAX_RANK];
	memcpy(bad_shape, shape, sizeof shape);
	bad_shape[r - 1]++;
	sextant_input bad = {.data = x, .shape = bad_shape, .rank = r};
	rc = sextant_predict(model, &bad, 1, &out, 1, err, sizeof err);
	CHECK(rc == SEXTANT_ERR_INPUT, "wrong shape: rc %d", rc);
	printf("wrong shape: %s\n", err);
	rc = sextant_predict(model, &input, 0, &out, 1, err, sizeof err);
	CHECK(rc == SEXTANT_ERR_INPUT, "no inputs: rc %d", rc);

	/* A buffer too small reports the size needed. */
	sextant_output small = {.data = y, .capacity = 3};
	rc = sextant_predict(model, &input, 1, &small, 1, err, sizeof err);
	CHECK(rc == SEXTANT_ERR_BUFFER_TOO_SMALL && small.len > 3, "small buffer: rc %d len %zu", rc, small.len);

	CHECK(exposure_count() == 0, "%d exposures before a successful prediction", exposure_count());

	/* The prediction: the first exposure to this version. */
	rc = sextant_predict(model, &input, 1, &out, 1, err, sizeof err);
	if (rc != SEXTANT_OK) {
		fprintf(stderr, "sextant_predict: %s: %s\n", sextant_status_string(rc), err);
		return 1;
	}
	CHECK(exposure_count() == 1 && user_calls == 1, "%d exposures (user %d) after the first prediction", exposure_count(), user_calls);
	CHECK(strcmp(exposed_model, sextant_model_name(model)) == 0 && strcmp(exposed_version, sextant_model_version(model)) == 0,
	      "exposed %s@%s", exposed_model, exposed_version);
	CHECK(exposed_ms > 1600000000000LL, "exposure time %lld ms", (long long)exposed_ms);
	printf("exposed %s %s\n", exposed_model, exposed_version);
	CHECK(out.len == small.len, "len %zu, needed %zu", out.len, small.len);
	printf("output %s %zu", sextant_output_name(model, 0), out.rank);
	for (size_t i = 0; i < out.rank; i++)
		printf(" %lld", (long long)out.shape[i]);
	printf("\n");
	for (size_t i = 0; i < out.len; i++)
		printf("%.9g\n", y[i]);
	memcpy(want, y, sizeof(float) * out.len);
	want_len = out.len;

	/* One handle from several threads: serialized, identical bits. */
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (int i = 0; i < THREADS; i++) {
		void *bad_runs;
		pthread_join(th[i], &bad_runs);
		CHECK(bad_runs == NULL, "thread %d: %ld runs differ", i, (long)bad_runs);
	}

	CHECK(exposure_count() == 1, "%d exposures after %d more predictions", exposure_count(), THREADS * RUNS);

	/* A new registration from the state file (as a new process would)
	 * remembers the exposure; one without a state file starts afresh. */
	rc = sextant_set_exposure(on_exposure, &user_calls, state, err, sizeof err);
	CHECK(rc == SEXTANT_OK, "re-register: rc %d: %s", rc, err);
	rc = sextant_predict(model, &input, 1, &out, 1, err, sizeof err);
	CHECK(rc == SEXTANT_OK && exposure_count() == 1, "after re-registering: rc %d, %d exposures", rc, exposure_count());
	rc = sextant_set_exposure(on_exposure, &user_calls, NULL, err, sizeof err);
	CHECK(rc == SEXTANT_OK, "register without state: rc %d: %s", rc, err);
	rc = sextant_predict(model, &input, 1, &out, 1, err, sizeof err);
	CHECK(rc == SEXTANT_OK && exposure_count() == 2, "without state: rc %d, %d exposures", rc, exposure_count());

	/* A corrupt state file is refused and the registration stays. */
	char corrupt[4096];
	snprintf(corrupt, sizeof corrupt, "%s.corrupt.json", argv[2]);
	FILE *cf = fopen(corrupt, "w");
	CHECK(cf != NULL, "cannot write %s", corrupt);
	if (cf != NULL) {
		fputs("{\"exposed\": [", cf);
		fclose(cf);
	}
	rc = sextant_set_exposure(on_exposure, &user_calls, corrupt, err, sizeof err);
	CHECK(rc == SEXTANT_ERR_OPEN, "corrupt state: rc %d", rc);
	rc = sextant_predict(model, &input, 1, &out, 1, err, sizeof err);
	CHECK(rc == SEXTANT_OK && exposure_count() == 2, "after a refused registration: %d exposures", exposure_count());
	rc = sextant_set_exposure(NULL, NULL, NULL, err, sizeof err);
	CHECK(rc == SEXTANT_OK, "unregister: rc %d", rc);

	sextant_close(model);
	free(x);
	if (failures) {
		fprintf(stderr, "%d checks failed\n", failures);
		return 1;
	}
	printf("ok\n");
	return 0;
}
