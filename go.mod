module github.com/sextant-ml/sextant

go 1.26.8

require (
	github.com/google/differential-privacy/go/v3 v3.0.0 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/cobra v1.10.2 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
	google.golang.org/protobuf v1.36.12
)
