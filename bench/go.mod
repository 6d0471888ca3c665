module github.com/sextant-ml/sextant/bench

go 1.26.8

require (
	github.com/jackc/pgx/v5 v5.12.0
	github.com/sextant-ml/sextant v0.0.0
	github.com/yalue/onnxruntime_go v1.27.0
	golang.org/x/sys v0.50.0
)

require (
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	golang.org/x/text v0.43.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace github.com/sextant-ml/sextant => ../
