module github.com/sextant-ml/sextant/bench

go 1.26.8

require (
	github.com/sextant-ml/sextant v0.0.0
	github.com/yalue/onnxruntime_go v1.27.0
	golang.org/x/sys v0.50.0
)

require google.golang.org/protobuf v1.36.12 // indirect

replace github.com/sextant-ml/sextant => ../
