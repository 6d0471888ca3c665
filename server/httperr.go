package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/sextant-ml/sextant/delivery"
)

// Codes the server adds to the domain's (delivery.Code): conditions of the
// transport, not of the domain.
const (
	codeRateLimited = "rate_limited"
	codeTooLarge    = "too_large"
)

// httpError is an error the server itself raises with a code outside the
// domain's table.
type httpError struct {
	code, msg  string
	retryAfter time.Duration
}

func (e *httpError) Error() string { return e.msg }

// status maps an error code to its HTTP status: the one table.
var status = map[string]int{
	"not_found":              http.StatusNotFound,
	"conflict":               http.StatusConflict,
	"version_not_increasing": http.StatusConflict,
	"invalid":                http.StatusBadRequest,
	"unauthorized":           http.StatusUnauthorized,
	"forbidden":              http.StatusForbidden,
	"integrity":              http.StatusUnprocessableEntity,
	codeRateLimited:          http.StatusTooManyRequests,
	codeTooLarge:             http.StatusRequestEntityTooLarge,
	"internal":               http.StatusInternalServerError,
}

// errorBody is every error response's JSON.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// codeOf returns err's code and client-safe message.
func codeOf(err error) (code, msg string) {
	var he *httpError
	if errors.As(err, &he) {
		return he.code, he.msg
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return codeTooLarge, fmt.Sprintf("request body exceeds %d bytes", mbe.Limit)
	}
	return delivery.Code(err), delivery.Message(err)
}

// writeError answers err as JSON with its mapped status. Internal errors
// are logged (they may hold detail no client sees).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := codeOf(err)
	st, ok := status[code]
	if !ok {
		st = http.StatusInternalServerError
	}
	if st == http.StatusInternalServerError {
		s.log.ErrorContext(r.Context(), "internal error", slog.String("route", r.Pattern), slog.Any("err", err))
	}
	var he *httpError
	if errors.As(err, &he) && he.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(he.retryAfter.Seconds()+0.999)))
	}
	if code == "unauthorized" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sextant"`)
	}
	writeJSON(w, st, errorBody{Code: code, Message: msg})
}

// writeJSON answers v as JSON with status st.
func writeJSON(w http.ResponseWriter, st int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		st, b = http.StatusInternalServerError, []byte(`{"code":"internal","message":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(st)
	w.Write(append(b, '\n'))
}

// maxJSONBody bounds every JSON request body; signed-metadata uploads have
// their own, larger bound.
const maxJSONBody = 64 << 10

// readJSON decodes a JSON body of at most limit bytes into v, refusing
// unknown fields and trailing data.
func readJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return delivery.Errorf(delivery.ErrInvalid, "request body: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return delivery.Errorf(delivery.ErrInvalid, "request body: trailing data after the JSON value")
	}
	return nil
}

// jsonProblem describes a decoding error without echoing input.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "empty or truncated JSON"
	}
	// Unknown-field errors name the field, which the client sent: safe.
	return err.Error()
}
