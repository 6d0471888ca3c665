package main

import (
	"errors"
	"fmt"

	"github.com/sextant-ml/sextant/engine"
)

// status mirrors sextant.h's sextant_status; TestStatusMatchesHeader checks
// the values against the header.
type status int

const (
	statusOK             status = 0
	statusArgument       status = 1
	statusOpen           status = 2
	statusCompile        status = 3
	statusInput          status = 4
	statusDType          status = 5
	statusBufferTooSmall status = 6
	statusRun            status = 7
)

// statusNames are the enumerators of sextant.h, by value.
var statusNames = map[status]string{
	statusOK:             "SEXTANT_OK",
	statusArgument:       "SEXTANT_ERR_ARGUMENT",
	statusOpen:           "SEXTANT_ERR_OPEN",
	statusCompile:        "SEXTANT_ERR_COMPILE",
	statusInput:          "SEXTANT_ERR_INPUT",
	statusDType:          "SEXTANT_ERR_DTYPE",
	statusBufferTooSmall: "SEXTANT_ERR_BUFFER_TOO_SMALL",
	statusRun:            "SEXTANT_ERR_RUN",
}

// statusText describes each status for sextant_status_string.
var statusText = map[status]string{
	statusOK:             "ok",
	statusArgument:       "invalid argument",
	statusOpen:           "cannot open bundle",
	statusCompile:        "cannot compile model",
	statusInput:          "inputs do not match the model",
	statusDType:          "tensor is not float32",
	statusBufferTooSmall: "output buffer too small",
	statusRun:            "inference failed",
}

// apiError is an error with the status it is reported as.
type apiError struct {
	code status
	err  error
}

func (e *apiError) Error() string { return e.err.Error() }
func (e *apiError) Unwrap() error { return e.err }

// fail wraps err with code.
func fail(code status, format string, args ...any) *apiError {
	return &apiError{code: code, err: fmt.Errorf(format, args...)}
}

// codeOf returns the status err is reported as: its own when it is an
// *apiError, SEXTANT_ERR_INPUT for the engine's input errors, else
// SEXTANT_ERR_RUN.
func codeOf(err error) status {
	if err == nil {
		return statusOK
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.code
	}
	if errors.Is(err, engine.ErrInput) {
		return statusInput
	}
	return statusRun
}
