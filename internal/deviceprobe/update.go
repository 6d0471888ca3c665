package main

import (
	"context"
	"os"

	"github.com/sextant-ml/sextant/device/store"
	"github.com/sextant-ml/sextant/device/updater"
)

// noTargets stands in for the signed-metadata verifier: it offers nothing.
type noTargets struct{}

func (noTargets) Targets(context.Context, *updater.Manifest) ([]updater.Target, error) {
	return nil, nil
}

// checkUpdates links the device updater (store, resumable downloads, delta
// decoding, self-test): with SEXTANT_MODEL_STORE set it checks in once
// against that store.
func checkUpdates(ctx context.Context, storageBytes int64) error {
	root := os.Getenv("SEXTANT_MODEL_STORE")
	if root == "" {
		return nil
	}
	st, err := store.Open(nil, root, storageBytes)
	if err != nil {
		return err
	}
	u, err := updater.New(st, updater.Config{Verifier: noTargets{}, Transport: hostGetter{}, BlobURL: func(h string) string { return os.Getenv("SEXTANT_BLOBS") + h }})
	if err != nil {
		return err
	}
	_, err = u.CheckIn(ctx)
	return err
}
