package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/signing"
	"github.com/sextant-ml/sextant/server"
)

// tokenEnv names the environment variable that may hold the API token.
const tokenEnv = "SEXTANT_TOKEN"

// apiFlags are the flags of commands that call the admin API.
type apiFlags struct {
	url, token string
}

func (f *apiFlags) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.url, "server", "http://127.0.0.1:8080", "server URL")
	cmd.PersistentFlags().StringVar(&f.token, "token", "", "API token (default $"+tokenEnv+")")
}

func (f *apiFlags) client() (*server.Client, error) {
	tok := f.token
	if tok == "" {
		tok = os.Getenv(tokenEnv)
	}
	if tok == "" {
		return nil, fmt.Errorf("an API token is needed: --token or $%s", tokenEnv)
	}
	return &server.Client{BaseURL: f.url, Token: tok}, nil
}

// newPublishCmd is `sextant publish`: upload a bundle to the registry and
// sign it into the image repository with the offline targets key.
func newPublishCmd(e *env) *cobra.Command {
	var api apiFlags
	var keys keysFlags
	var notes string
	cmd := &cobra.Command{
		Use:   "publish MODEL.sxm --server URL --token TOKEN --keys KEYDIR [--notes TEXT]",
		Short: "Publish a bundle: upload it, then sign it into the image repository",
		Long: `Uploads the bundle (streamed; the server checks its length and SHA-256 and
reads name, version and lineage from its manifest; a version that does not
increase is refused), then signs the model's targets delegation with the
offline targets key from KEYDIR and uploads it; the server re-signs snapshot
and timestamp. The token needs the publish scope. Make the version current
with 'sextant models set-current'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := api.client()
			if err != nil {
				return err
			}
			kd, err := keys.keyDir()
			if err != nil {
				return err
			}
			// Open the key and the trusted root first: a wrong passphrase
			// should fail before anything is uploaded.
			tk, err := kd.Load("targets")
			if err != nil {
				return err
			}
			latest, err := latestMetadata(kd.MetadataDir())
			if err != nil {
				return err
			}
			b, err := bundle.Open(args[0])
			if err != nil {
				return err
			}
			name, version := b.Manifest.Name, b.Manifest.Version
			minRuntime, ops := b.Manifest.MinRuntimeVersion, b.Manifest.Ops
			b.Close()
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			h := sha256.New()
			n, err := io.Copy(h, f)
			if err != nil {
				return err
			}
			var sum [32]byte
			h.Sum(sum[:0])
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return err
			}
			p, err := c.Publish(ctx, name, f, n, sum, notes)
			switch {
			case errors.Is(err, delivery.ErrVersionNotIncreasing):
				// The same bytes uploaded before but never signed (an
				// interrupted publish): sign them now.
				v, verr := c.Version(ctx, name, version)
				if verr != nil || v.Signed || v.Version.SHA256 != hex.EncodeToString(sum[:]) {
					return fmt.Errorf("publish %s@%s: %w", name, version, err)
				}
				p.Target = server.BundleTarget{Model: name, Version: version, SHA256: v.Version.SHA256,
					Length: v.Version.Length, MinRuntimeVersion: minRuntime, Ops: ops}
				fmt.Fprintf(e.stdout, "%s@%s was uploaded before but not signed; signing it\n", name, version)
			case err != nil:
				return fmt.Errorf("publish %s@%s: %w", name, version, err)
			default:
				fmt.Fprintf(e.stdout, "uploaded %s@%s (%d bytes, sha256 %s)\n", p.Version.Model, p.Version.Version, p.Version.Length, p.Version.SHA256)
			}
			files, err := c.SignAndUpload(ctx, latest["root"], p.Target, []*signing.Key{tk}, clock.Real.Now())
			if err != nil {
				return fmt.Errorf("sign %s@%s (uploaded, not yet signed; rerun to retry): %w", name, version, err)
			}
			// Keep the key directory's copy current for later rotations.
			if err := signing.WriteFiles(kd.MetadataDir(), files); err != nil {
				return err
			}
			for _, f := range files {
				fmt.Fprintf(e.stdout, "signed %s v%d\n", f.Role, f.Version)
			}
			return nil
		},
	}
	api.register(cmd)
	cmd.Flags().StringVar(&keys.dir, "keys", "", "key directory holding the offline targets key (required)")
	cmd.Flags().StringVar(&keys.passFile, "passphrase-file", "", "file holding the passphrase of the offline keys (default $"+passphraseEnv+")")
	cmd.MarkFlagRequired("keys")
	cmd.Flags().StringVar(&notes, "notes", "", "release notes stored with the version")
	return cmd
}
