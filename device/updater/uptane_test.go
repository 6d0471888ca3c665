package updater

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sextant-ml/sextant/device/transport"
	"github.com/sextant-ml/sextant/device/transport/httptransport"
	"github.com/sextant-ml/sextant/device/verify"
)

// getOnly is a transport that cannot POST.
type getOnly struct{}

func (getOnly) Get(context.Context, transport.Request) (*transport.Response, error) {
	return nil, errors.New("unused")
}

func uptaneConfig(url string, tr transport.Getter) UptaneConfig {
	return UptaneConfig{ServerURL: url, DeviceID: "d1/x", Credential: "secret", ImageRoot: []byte("{}"),
		DirectorRoot: []byte("{}"), Store: &verify.MemStore{}, Transport: tr}
}

func TestUptaneVerifierNeedsPoster(t *testing.T) {
	if _, err := NewUptaneVerifier(uptaneConfig("http://x", getOnly{})); err == nil {
		t.Fatal("a transport without Post was accepted")
	}
	if _, err := NewUptaneVerifier(uptaneConfig("", httptransport.New(nil))); err == nil {
		t.Fatal("a config without a server URL was accepted")
	}
}

// TestUptaneCheckInRequest: the manifest goes as JSON with the credential
// to the device's check-in route before any metadata is fetched; the
// blob route comes from the answer.
func TestUptaneCheckInRequest(t *testing.T) {
	var got Manifest
	var order []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		order = append(order, r.Method+" "+r.URL.EscapedPath())
		if r.Header.Get("Authorization") != "Bearer secret" {
			http.Error(w, "no credential", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			if r.Header.Get("Content-Type") != "application/json" {
				http.Error(w, "not json", http.StatusUnsupportedMediaType)
				return
			}
			if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			fmt.Fprint(w, `{"image_url":"/img","director_url":"/dir","blob_url":"/b/"}`)
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	v, err := NewUptaneVerifier(uptaneConfig(srv.URL+"/", httptransport.New(srv.Client())))
	if err != nil {
		t.Fatal(err)
	}
	m := &Manifest{Installed: map[string]string{"eta": "1.0.0"}, RuntimeVersion: "0.1.0", Ops: []string{"Mul"}, Device: Device{Region: "CH"}}
	// The shipped roots are not metadata: after the check-in, the verifier
	// refuses them as a verification failure.
	_, err = v.Targets(context.Background(), m)
	var ve *VerificationError
	if !errors.As(err, &ve) {
		t.Fatalf("malformed trusted roots: %v, want a *VerificationError", err)
	}
	if len(order) != 1 || order[0] != "POST /v1/devices/d1%2Fx/checkin" {
		t.Fatalf("requests %v: want the check-in only", order)
	}
	if got.Installed["eta"] != "1.0.0" || got.RuntimeVersion != "0.1.0" || got.Region != "CH" || len(got.Ops) != 1 {
		t.Fatalf("server received manifest %+v", got)
	}
	if u := v.BlobURL("ab"); u != srv.URL+"/b/ab" {
		t.Fatalf("BlobURL %q", u)
	}
}

func TestUptaneErrorMapping(t *testing.T) {
	expired := fmt.Errorf("verify: timestamp: %w", verify.ErrExpired)
	var ve *VerificationError
	var ne *NetworkError
	if err := metadataError(expired); !errors.Is(err, ErrExpired) || errors.As(err, &ve) {
		t.Errorf("expired maps to %v", err)
	}
	// verify's own failures are both their kind and ErrVerification.
	forged := verify.Target{Path: "eta/1.0.0.sxm", Length: 3}.Check(4, [32]byte{})
	if err := metadataError(forged); !errors.As(err, &ve) || !errors.Is(err, verify.ErrMismatch) {
		t.Errorf("mismatch maps to %v", err)
	}
	if err := metadataError(errors.New("connection refused")); !errors.As(err, &ne) {
		t.Errorf("transport failure maps to %v", err)
	}
	if err := metadataError(fmt.Errorf("x: %w", context.Canceled)); !errors.Is(err, context.Canceled) || errors.As(err, &ne) {
		t.Errorf("cancellation maps to %v", err)
	}
}

func TestUptaneConvertTarget(t *testing.T) {
	in := verify.Target{Path: "eta/1.2.0.sxm", Length: 10, SHA256: [32]byte{0xab}, MinRuntimeVersion: "0.1.0", Ops: []string{"Mul"}}
	got := convertTarget(in)
	if got.Name != "eta" || got.Version != "1.2.0" || got.Length != 10 || got.SHA256[:4] != "ab00" || len(got.SHA256) != 64 ||
		got.MinRuntimeVersion != "0.1.0" || len(got.Ops) != 1 {
		t.Fatalf("converted %+v", got)
	}
	in.Model, in.Version = "next", "2.0.0"
	if got := convertTarget(in); got.Name != "next" || got.Version != "2.0.0" {
		t.Fatalf("custom names ignored: %+v", got)
	}
}

// TestUptaneKeepsMetadataClient: check-ins naming the same repositories
// share one verify.Client (which remembers what it verified); other
// repositories get a new one.
func TestUptaneKeepsMetadataClient(t *testing.T) {
	v, err := NewUptaneVerifier(uptaneConfig("http://x", httptransport.New(nil)))
	if err != nil {
		t.Fatal(err)
	}
	c1, err := v.metadataClient(v.resolve("/img", defaultImagePath), v.resolve("/dir", defaultDirectorPath))
	if err != nil {
		t.Fatal(err)
	}
	c2, err := v.metadataClient(v.resolve("/img", defaultImagePath), v.resolve("/dir", defaultDirectorPath))
	if err != nil || c2 != c1 {
		t.Fatalf("same repositories: %v, same client %v", err, c2 == c1)
	}
	c3, err := v.metadataClient(v.resolve("/img2", defaultImagePath), v.resolve("/dir", defaultDirectorPath))
	if err != nil || c3 == c1 {
		t.Fatalf("another image repository: %v, same client %v", err, c3 == c1)
	}
	if v.imageURL != "http://x/img2" || v.directorURL != "http://x/dir" {
		t.Errorf("client for %s and %s", v.imageURL, v.directorURL)
	}
}
