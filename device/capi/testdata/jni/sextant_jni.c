/*
 * sextant_jni.c: the JNI shim between SextantSmoke.java and libsextant.so,
 * and the pattern for an Android app (docs/host-integration.md): Java arrays
 * are pinned or copied with Get<Type>ArrayElements, the handle travels as a
 * jlong, and a sextant_status becomes an IllegalStateException carrying the
 * status name and message.
 */
#include <jni.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "sextant.h"

static void throw_status(JNIEnv *env, int rc, const char *msg) {
	char buf[512];
	snprintf(buf, sizeof buf, "%s: %s", sextant_status_string(rc), msg);
	jclass c = (*env)->FindClass(env, "java/lang/IllegalStateException");
	if (c != NULL)
		(*env)->ThrowNew(env, c, buf);
}

JNIEXPORT jlong JNICALL Java_SextantSmoke_open(JNIEnv *env, jclass cls, jstring path) {
	(void)cls;
	const char *p = (*env)->GetStringUTFChars(env, path, NULL);
	if (p == NULL)
		return 0; /* OutOfMemoryError pending */
	sextant_model *m = NULL;
	char err[256];
	int rc = sextant_open(p, &m, err, sizeof err);
	(*env)->ReleaseStringUTFChars(env, path, p);
	if (rc != SEXTANT_OK) {
		throw_status(env, rc, err);
		return 0;
	}
	return (jlong)(intptr_t)m;
}

JNIEXPORT void JNICALL Java_SextantSmoke_close(JNIEnv *env, jclass cls, jlong h) {
	(void)env;
	(void)cls;
	sextant_close((sextant_model *)(intptr_t)h);
}

JNIEXPORT jstring JNICALL Java_SextantSmoke_outputName(JNIEnv *env, jclass cls, jlong h, jint i) {
	(void)cls;
	const char *name = sextant_output_name((sextant_model *)(intptr_t)h, (size_t)i);
	return name == NULL ? NULL : (*env)->NewStringUTF(env, name);
}

/* predict runs a model with one float input and one float output. outShape
 * (length SEXTANT_MAX_RANK + 1) receives the output's rank, then its dims. */
JNIEXPORT jfloatArray JNICALL Java_SextantSmoke_predict(JNIEnv *env, jclass cls, jlong h, jfloatArray x,
                                                        jlongArray shape, jlongArray outShape) {
	(void)cls;
	sextant_model *m = (sextant_model *)(intptr_t)h;
	jsize rank = (*env)->GetArrayLength(env, shape);
	if (rank > SEXTANT_MAX_RANK || (*env)->GetArrayLength(env, outShape) < SEXTANT_MAX_RANK + 1) {
		throw_status(env, SEXTANT_ERR_ARGUMENT, "shape arrays too long or outShape too short");
		return NULL;
	}
	int64_t dims[SEXTANT_MAX_RANK];
	(*env)->GetLongArrayRegion(env, shape, 0, rank, (jlong *)dims);

	/* Ask for the output size with an empty buffer, then run for real. */
	sextant_output out = {0};
	char err[256];
	jfloat *xs = (*env)->GetFloatArrayElements(env, x, NULL);
	if (xs == NULL)
		return NULL;
	sextant_input in = {.data = xs, .shape = dims, .rank = (size_t)rank};
	int rc = sextant_predict(m, &in, 1, &out, 1, err, sizeof err);
	jfloatArray y = NULL;
	float *buf = NULL;
	if (rc == SEXTANT_ERR_BUFFER_TOO_SMALL) {
		buf = malloc(sizeof(float) * out.len);
		out.data = buf;
		out.capacity = out.len;
		rc = buf == NULL ? SEXTANT_ERR_ARGUMENT : sextant_predict(m, &in, 1, &out, 1, err, sizeof err);
	}
	(*env)->ReleaseFloatArrayElements(env, x, xs, JNI_ABORT); /* read only */
	if (rc != SEXTANT_OK) {
		free(buf);
		throw_status(env, rc, err);
		return NULL;
	}
	jlong os[SEXTANT_MAX_RANK + 1];
	os[0] = (jlong)out.rank;
	for (size_t i = 0; i < out.rank; i++)
		os[1 + i] = out.shape[i];
	(*env)->SetLongArrayRegion(env, outShape, 0, (jsize)(out.rank + 1), os);
	y = (*env)->NewFloatArray(env, (jsize)out.len);
	if (y != NULL)
		(*env)->SetFloatArrayRegion(env, y, 0, (jsize)out.len, buf);
	free(buf);
	return y;
}
