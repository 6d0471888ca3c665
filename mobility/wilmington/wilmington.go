// Package wilmington embeds Sextant's default city: the road graph and
// places of northern New Castle County, Delaware, derived from
// OpenStreetMap (data © OpenStreetMap contributors, ODbL 1.0; see
// README.md here for the licence and the command that rebuilds it). The
// binary carries it, so `sextant demo` and `sextant data generate` work
// from any directory without a --city file.
package wilmington

import (
	"bytes"
	_ "embed"

	"github.com/sextant-ml/sextant/mobility"
)

//go:embed wilmington-newark.city.gz
var cityFile []byte

// Name is the embedded city's file name.
const Name = "wilmington-newark.city.gz"

// City decodes the embedded city.
func City() (*mobility.City, error) { return mobility.ReadCity(bytes.NewReader(cityFile)) }
