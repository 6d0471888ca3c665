// Package flagship builds the flagship maps models' architectures
// (DESIGN.md, "The flagship maps models") as graphs that train with
// package train and run in the engine, and registers them as `sextant
// train --arch` entries: next-destination, eta-small and eta-server. The
// inputs are package features' (names and shapes in its doc); the
// parameter names follow torch's nn.Linear and nn.Embedding where they
// apply, and each model's last layer is "head.*", the set on-device
// fine-tuning trains.
//
// The hybrid ETA pair also gets a deferral head ([FitDeferral],
// [Deferral.AddTo]): the on-device model's confidence output for the
// router's cascade, which predicts how much the server model would change
// the answer (see deferral.go for the definition and why).
package flagship

import "github.com/sextant-ml/sextant/train/arch"

func init() {
	arch.Registry["next-destination"] = NextDestination
	arch.Registry["eta-small"] = ETASmall
	arch.Registry["eta-server"] = ETAServer
}
