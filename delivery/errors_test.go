package delivery

import (
	"database/sql"
	"errors"
	"fmt"
	"testing"
)

func TestErrorCodesRoundTrip(t *testing.T) {
	for _, kind := range []error{ErrNotFound, ErrConflict, ErrInvalid, ErrVersionNotIncreasing,
		ErrUnauthorized, ErrForbidden, ErrIntegrity} {
		err := fmt.Errorf("handler: %w", Errorf(kind, "model %q: %s", "eta", kind))
		code := Code(err)
		if code == "internal" || code == "" {
			t.Fatalf("Code(%v) = %q", kind, code)
		}
		back := FromCode(code, Message(err))
		if !errors.Is(back, kind) || back.Error() != Message(err) {
			t.Errorf("%s: round trip gave %v (Is %v = %v)", code, back, kind, errors.Is(back, kind))
		}
	}
	if Code(nil) != "" || Message(nil) != "" {
		t.Error("nil error has a code or message")
	}
}

func TestMessageHidesInternals(t *testing.T) {
	internal := fmt.Errorf("store: get model: %w", sql.ErrConnDone)
	if Code(internal) != "internal" || Message(internal) != "internal error" {
		t.Fatalf("internal error leaks: code %q, message %q", Code(internal), Message(internal))
	}
	// A bare sentinel wrapped with internal context shows only the
	// sentinel's text.
	err := fmt.Errorf("SELECT * FROM secrets: %w", ErrNotFound)
	if Message(err) != "not found" || Code(err) != "not_found" {
		t.Fatalf("message %q, code %q", Message(err), Code(err))
	}
}

func TestVersionError(t *testing.T) {
	err := fmt.Errorf("publish: %w", &VersionError{Model: "eta", Have: "1.2.0", Got: "1.1.0"})
	for _, kind := range []error{ErrVersionNotIncreasing, ErrConflict} {
		if !errors.Is(err, kind) {
			t.Errorf("VersionError is not %v", kind)
		}
	}
	if errors.Is(err, ErrNotFound) {
		t.Error("VersionError matches ErrNotFound")
	}
	if Code(err) != "version_not_increasing" {
		t.Errorf("Code = %q", Code(err))
	}
	if want := `model "eta": version 1.1.0 does not increase over the latest, 1.2.0`; Message(err) != want {
		t.Errorf("Message = %q", Message(err))
	}
	back := FromCode(Code(err), Message(err))
	if !errors.Is(back, ErrVersionNotIncreasing) || !errors.Is(back, ErrConflict) || Code(back) != Code(err) {
		t.Errorf("client-side VersionError = %v, code %q", back, Code(back))
	}
}
