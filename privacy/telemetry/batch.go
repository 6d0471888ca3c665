package telemetry

import (
	"encoding/binary"
	"fmt"
)

// BatchContentType is the media type of a batch of reports.
const BatchContentType = "application/vnd.sextant.telemetry-batch"

// AppendBatchItem appends one report's wire form (from AppendReport or
// Encoder.Append) to a batch: uvarint(len report) report. A batch is the
// concatenation of its items and nothing else — no header, no device
// identifier, no timestamp.
func AppendBatchItem(batch, report []byte) []byte {
	batch = binary.AppendUvarint(batch, uint64(len(report)))
	return append(batch, report...)
}

// SplitBatch calls fn with each report of batch in order (slices alias
// batch). It refuses a batch of more than maxReports items, an item longer
// than maxReport bytes, a non-minimal length or a truncated item, before
// calling fn for anything after the fault; callers that must be atomic
// collect first and apply after SplitBatch returns nil.
func SplitBatch(batch []byte, maxReports, maxReport int, fn func([]byte) error) error {
	r := reader{b: batch}
	for i := 0; len(r.b) > 0; i++ {
		if i >= maxReports {
			return &BatchTooLargeError{Max: maxReports}
		}
		n, err := r.uvarint("report length", maxReport)
		if err != nil {
			return fmt.Errorf("telemetry: batch item %d: %w", i, err)
		}
		rep, err := r.bytes("report", n)
		if err != nil {
			return fmt.Errorf("telemetry: batch item %d: %w", i, err)
		}
		if err := fn(rep); err != nil {
			return err
		}
	}
	return nil
}

// BatchTooLargeError reports a batch of more reports than allowed.
type BatchTooLargeError struct{ Max int }

func (e *BatchTooLargeError) Error() string {
	return fmt.Sprintf("telemetry: batch holds more than %d reports", e.Max)
}
