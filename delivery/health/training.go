package health

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/delivery"
	dhealth "github.com/sextant-ml/sextant/device/health"
)

// VersionGetter reads a published version; store.DB implements it.
type VersionGetter interface {
	GetVersion(ctx context.Context, model, version string) (delivery.Version, error)
}

// TrainingFromRegistry reads a version's training histograms from the
// manifest the registry keeps (its provenance member, see device/health),
// restricted to public inputs.
func TrainingFromRegistry(st VersionGetter) TrainingHistograms {
	return func(ctx context.Context, model, version string) (dhealth.Histograms, error) {
		v, err := st.GetVersion(ctx, model, version)
		if err != nil {
			return nil, err
		}
		if len(v.Manifest) == 0 {
			return nil, nil
		}
		var m bundle.Manifest
		if err := json.Unmarshal(v.Manifest, &m); err != nil {
			return nil, fmt.Errorf("health: manifest of %s@%s: %w", model, version, err)
		}
		if _, err := dhealth.TrainingHistogramsOf(&m); err != nil {
			return nil, err
		}
		return dhealth.PublicHistograms(&m), nil
	}
}
