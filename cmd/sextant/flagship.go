package main

// The flagship maps models' architectures register themselves with `sextant
// train --arch` (next-destination, eta-small, eta-server).
import _ "github.com/sextant-ml/sextant/models/flagship"
