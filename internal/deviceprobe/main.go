// Command deviceprobe is the smallest program that uses the whole device-side
// SDK: it opens a bundle, compiles it and runs it. The repository's device
// build test compiles it for phones to list what a phone build links and to
// hold it to its size budget; it is not shipped.
package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/sextant-ml/sextant/delivery/targeting"
	"github.com/sextant-ml/sextant/device/profile"
	"github.com/sextant-ml/sextant/device/router"
	devtelemetry "github.com/sextant-ml/sextant/device/telemetry"
	"github.com/sextant-ml/sextant/device/verify"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/features"
	flclient "github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/privacy/telemetry"
	"github.com/sextant-ml/sextant/secagg"
	secaggclient "github.com/sextant-ml/sextant/secagg/client"
	"github.com/sextant-ml/sextant/tensor"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "deviceprobe:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: deviceprobe MODEL.sxm")
	}
	g, closeFn, err := open(args[0])
	if err != nil {
		return err
	}
	defer closeFn()
	prof := profile.Builtin()["phone-mid"]
	if err := checkUpdates(context.Background(), prof.StorageBytes); err != nil {
		return err
	}
	m, err := engine.Compile(g, engine.Options{MaxArenaBytes: prof.ArenaBytes})
	if err != nil {
		return err
	}
	ins := make([]*tensor.Tensor, len(g.Inputs))
	for i, v := range g.Inputs {
		shape, ok := v.Type.Concrete()
		if !ok {
			return fmt.Errorf("input %q has a symbolic shape", v.Name)
		}
		ins[i] = tensor.New(v.Type.DType, shape...)
	}
	outs, err := m.NewSession().Run(context.Background(), ins)
	if err != nil {
		return err
	}
	for i, o := range outs {
		fmt.Println(m.OutputNames()[i], o)
	}
	// Telemetry leaves the device only through declared, privatized streams.
	reg, err := telemetry.NewRegistry()
	if err != nil {
		return err
	}
	_, err = reg.Lookup("inference_latency")
	fmt.Println("telemetry:", err)
	// Updates are verified against both Uptane repositories.
	_, err = verify.NewTrusted(nil, time.Now())
	fmt.Println("verify:", err, verify.TransportFetcher{Getter: hostGetter{}})
	// Federated updates leave the device only masked by secure aggregation.
	sa, err := secaggclient.New(secaggclient.Config{ID: 1, Params: secagg.Params{
		Dim: 1, Threshold: 1, Encoding: secagg.Encoding{Clip: 1, Scale: 1 << 16}}})
	if err == nil {
		_, err = sa.Start()
	}
	fmt.Println("secagg:", err)
	// Features are extracted on the phone by the same code training uses,
	// and assignment to rollouts and experiments is computed locally too.
	ex := features.NewNextDestination()
	var r features.Route
	eta := make([]float32, features.RouteFeatures)
	r.Features(0, eta)
	fmt.Println("features:", len(ex.Candidates), targeting.Bucket("probe", "device-1"))
	// Requests are routed between device and server by per-model policies.
	rt := router.New(router.Config{ServerURL: "file:///dev/null", Poster: hostGetter{}})
	fmt.Println("router:", rt != nil)
	// Federated rounds: a device joins by its own coin flip and trains locally.
	fmt.Println("fl:", flclient.Join(0.1, 0.5))
	// Privatized reports leave in anonymous, randomly delayed batches.
	snd, err := devtelemetry.New(devtelemetry.Config{Poster: hostGetter{}, URL: "file:///dev/null", Rand: rand.New(rand.NewPCG(1, 2))})
	fmt.Println("telemetry sender:", snd != nil, err)
	// The host app holds one SDK handle: Open, Predict, Availability, Close.
	fmt.Println(probeSDK(context.Background()))
	return nil
}
