package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery/signing"
)

// passphraseEnv names the environment variable that may hold the passphrase
// of the offline keys (else --passphrase-file).
const passphraseEnv = "SEXTANT_KEY_PASSPHRASE"

type keysFlags struct {
	dir, passFile string
	workFactor    int
}

func (f *keysFlags) register(cmd *cobra.Command, needPass bool) {
	cmd.Flags().StringVar(&f.dir, "dir", "", "key directory (required)")
	cmd.MarkFlagRequired("dir")
	if needPass {
		cmd.Flags().StringVar(&f.passFile, "passphrase-file", "", "file holding the passphrase of the offline keys (default $"+passphraseEnv+")")
		cmd.Flags().IntVar(&f.workFactor, "scrypt-work-factor", 0, "age scrypt work factor for new key files (default 18)")
		cmd.Flags().MarkHidden("scrypt-work-factor")
	}
}

func (f *keysFlags) keyDir() (signing.KeyDir, error) {
	kd := signing.KeyDir{Dir: f.dir, WorkFactor: f.workFactor}
	if f.passFile != "" {
		b, err := os.ReadFile(f.passFile)
		if err != nil {
			return kd, fmt.Errorf("keys: %w", err)
		}
		kd.Passphrase = strings.TrimRight(string(b), "\r\n")
	} else {
		kd.Passphrase = os.Getenv(passphraseEnv)
	}
	if kd.Passphrase == "" {
		return kd, fmt.Errorf("keys: the offline keys need a passphrase: --passphrase-file or $%s", passphraseEnv)
	}
	return kd, nil
}

// newKeysCmd is `sextant keys`: the signing keys of the image repository
// and the director.
func newKeysCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, rotate and show the delivery signing keys",
		Long: `Root and targets keys are offline: they live only in the key directory,
encrypted with age under a passphrase (scrypt). Snapshot, timestamp and
director keys are online: stored in KEYDIR/online for the server. Signed root
metadata is written to KEYDIR/metadata (image repository) and
KEYDIR/metadata/director; upload new files to the server and ship the first
roots in the app.`,
	}
	cmd.AddCommand(newKeysInitCmd(e), newKeysRotateCmd(e), newKeysShowCmd(e))
	return cmd
}

func newKeysInitCmd(e *env) *cobra.Command {
	var f keysFlags
	cmd := &cobra.Command{
		Use:   "init --dir KEYDIR",
		Short: "Create the root, targets, snapshot, timestamp and director keys and the first roots",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kd, err := f.keyDir()
			if err != nil {
				return err
			}
			if _, err := os.Stat(kd.MetadataDir()); err == nil {
				return fmt.Errorf("keys: %s already holds a repository", kd.Dir)
			}
			keys := map[string]*signing.Key{}
			for _, role := range append(slices.Clone(signing.OfflineRoles), signing.OnlineRoles...) {
				k, err := signing.GenerateKey(role, rand.Reader)
				if err != nil {
					return err
				}
				keys[role] = k
			}
			now := clock.Real.Now()
			_, files, err := signing.Init(signing.Config{}, now, signing.RoleKeys{
				Root: []*signing.Key{keys["root"]}, Targets: []*signing.Key{keys["targets"]},
				Snapshot: []*signing.Key{keys["snapshot"]}, Timestamp: []*signing.Key{keys["timestamp"]},
			})
			if err != nil {
				return err
			}
			droot, err := signing.InitDirectorRoot(signing.DirectorConfig{}, now, []*signing.Key{keys["root"]}, []*signing.Key{keys["director"]})
			if err != nil {
				return err
			}
			for _, role := range append(slices.Clone(signing.OfflineRoles), signing.OnlineRoles...) {
				if err := kd.Save(keys[role], false); err != nil {
					return err
				}
			}
			if err := signing.WriteFiles(kd.MetadataDir(), files); err != nil {
				return err
			}
			if err := signing.WriteFiles(kd.DirectorMetadataDir(), []signing.File{droot}); err != nil {
				return err
			}
			for _, role := range append(slices.Clone(signing.OfflineRoles), signing.OnlineRoles...) {
				fmt.Fprintf(e.stdout, "%-9s %s\n", role, keys[role].ID)
			}
			fmt.Fprintf(e.stdout, "wrote %s and %s\n", filepath.Join(kd.MetadataDir(), "1.root.json"), filepath.Join(kd.DirectorMetadataDir(), "1.root.json"))
			return nil
		},
	}
	f.register(cmd, true)
	return cmd
}

func newKeysRotateCmd(e *env) *cobra.Command {
	var f keysFlags
	var role string
	cmd := &cobra.Command{
		Use:   "rotate --dir KEYDIR --role ROLE",
		Short: "Replace a role's key with a new one in a new root version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(append(slices.Clone(signing.OfflineRoles), signing.OnlineRoles...), role) {
				return fmt.Errorf("keys: --role must be one of root, targets, snapshot, timestamp, director")
			}
			kd, err := f.keyDir()
			if err != nil {
				return err
			}
			return rotateKey(e, kd, role, clock.Real.Now())
		},
	}
	f.register(cmd, true)
	cmd.Flags().StringVar(&role, "role", "", "role whose key to replace (required)")
	cmd.MarkFlagRequired("role")
	return cmd
}

func rotateKey(e *env, kd signing.KeyDir, role string, now time.Time) error {
	rootKey, err := kd.Load("root")
	if err != nil {
		return err
	}
	old, err := kd.Load(role)
	if err != nil {
		return err
	}
	nk, err := signing.GenerateKey(role, rand.Reader)
	if err != nil {
		return err
	}
	var written []signing.File
	if role != "director" {
		latest, err := latestMetadata(kd.MetadataDir())
		if err != nil {
			return err
		}
		repo, err := signing.Open(signing.Config{}, latest)
		if err != nil {
			return err
		}
		files, err := repo.RotateKeys(now, role, []*signing.Key{nk}, []*signing.Key{rootKey})
		if err != nil {
			return err
		}
		if err := signing.WriteFiles(kd.MetadataDir(), files); err != nil {
			return err
		}
		written = append(written, files...)
	}
	if role == "root" || role == "director" {
		latest, err := latestMetadata(kd.DirectorMetadataDir())
		if err != nil {
			return err
		}
		f, err := signing.RotateDirectorRoot(signing.DirectorConfig{}, now, latest["root"], role, []*signing.Key{nk}, []*signing.Key{rootKey})
		if err != nil {
			return err
		}
		if err := signing.WriteFiles(kd.DirectorMetadataDir(), []signing.File{f}); err != nil {
			return err
		}
		f.Path = "director/" + f.Path
		written = append(written, f)
	}
	// The new key replaces the old only once the metadata naming it exists.
	if err := kd.Retire(old); err != nil {
		return err
	}
	if err := kd.Save(nk, true); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s key %s replaced by %s\n", role, old.ID, nk.ID)
	for _, f := range written {
		fmt.Fprintf(e.stdout, "wrote %s (upload to the server)\n", f.Path)
	}
	return nil
}

var versionedName = regexp.MustCompile(`^(\d+)\.(.+)\.json$`)

// latestMetadata reads the highest version of each role in dir, keyed by
// role name (as signing.Open takes them).
func latestMetadata(dir string) (map[string][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	best := map[string]int64{}
	for _, ent := range entries {
		m := versionedName.FindStringSubmatch(ent.Name())
		if m == nil || ent.IsDir() {
			continue
		}
		v, _ := strconv.ParseInt(m[1], 10, 64)
		role := strings.ReplaceAll(m[2], "%2F", "/")
		if v > best[role] {
			best[role] = v
		}
	}
	out := map[string][]byte{}
	for role, v := range best {
		b, err := os.ReadFile(filepath.Join(dir, signing.MetadataPath(role, v)))
		if err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
		out[role] = b
	}
	if out["root"] == nil {
		return nil, fmt.Errorf("keys: no root metadata in %s (run keys init)", dir)
	}
	return out, nil
}

func newKeysShowCmd(e *env) *cobra.Command {
	var f keysFlags
	cmd := &cobra.Command{
		Use:   "show --dir KEYDIR",
		Short: "Show public keys, key IDs, thresholds and expiries (no passphrase needed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, repo := range []struct{ name, dir string }{
				{"image", filepath.Join(f.dir, "metadata")},
				{"director", filepath.Join(f.dir, "metadata", "director")},
			} {
				latest, err := latestMetadata(repo.dir)
				if err != nil {
					return err
				}
				if err := showRoot(e, repo.name, latest); err != nil {
					return err
				}
			}
			return nil
		},
	}
	f.register(cmd, false)
	return cmd
}

func showRoot(e *env, name string, latest map[string][]byte) error {
	root, err := metadata.Root().FromBytes(latest["root"])
	if err != nil {
		return fmt.Errorf("keys: %s root: %w", name, err)
	}
	fmt.Fprintf(e.stdout, "%s repository: root v%d, expires %s\n", name, root.Signed.Version, root.Signed.Expires.Format(time.RFC3339))
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tTHRESHOLD\tKEY ID\tPUBLIC KEY (ed25519)")
	for _, role := range metadata.TOP_LEVEL_ROLE_NAMES {
		r := root.Signed.Roles[role]
		for _, id := range r.KeyIDs {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", role, r.Threshold, id, root.Signed.Keys[id].Value.PublicKey)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, role := range slices.Sorted(func(yield func(string) bool) {
		for r := range latest {
			if r != "root" && !yield(r) {
				return
			}
		}
	}) {
		t, err := metadata.Targets().FromBytes(latest[role])
		if err != nil {
			return fmt.Errorf("keys: %s %s: %w", name, role, err)
		}
		fmt.Fprintf(e.stdout, "%s v%d expires %s\n", role, t.Signed.Version, t.Signed.Expires.Format(time.RFC3339))
	}
	return nil
}
