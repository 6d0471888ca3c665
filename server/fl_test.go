package server

import (
	"net/http/httptest"
	"strconv"
	"testing"
)

// FuzzSeatHeader: any header parses to a seat that prints back to the
// same attempt/id (or is refused), without panicking.
func FuzzSeatHeader(f *testing.F) {
	for _, s := range []string{"3/7/abc", "", "1/2", "18446744073709551615/4294967295/t", "1/4294967296/t", "a/b/c", "1/2/3/4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r := httptest.NewRequest("POST", "/", nil)
		r.Header.Set(seatHeader, h)
		seat, err := seatOf(r)
		if err != nil {
			return
		}
		if len(seat.Token) > 64 {
			t.Fatalf("token of %d bytes accepted", len(seat.Token))
		}
		back := strconv.FormatUint(seat.Attempt, 10) + "/" + strconv.FormatUint(uint64(seat.ID), 10) + "/" + seat.Token
		r.Header.Set(seatHeader, back)
		if a, _ := seatOf(r); a == nil || *a != *seat {
			t.Fatalf("%q → %+v does not round-trip", h, seat)
		}
	})
}
