package messaging

import "sort"

// Ledger is the set of stream sequences a consumer has committed, kept
// with the consumer's state and committed in the same transaction, so a
// message delivered again after a crash is recognised whatever order
// JetStream redelivers in (it does not keep stream order on redelivery).
// Every sequence ≤ Low counts as committed, plus the ranges in Runs.
// Sequences arrive mostly in order, so the runs stay few; when there are
// more than MaxLedgerRuns (gaps left by messages that expired
// unconsumed), the lowest are folded into Low.
type Ledger struct {
	Low  uint64   `json:"low"`
	Runs []SeqRun `json:"runs,omitempty"`
}

// SeqRun is the sequences From through To.
type SeqRun struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

// MaxLedgerRuns bounds a Ledger's runs.
const MaxLedgerRuns = 256

// Seen reports whether seq was committed.
func (l *Ledger) Seen(seq uint64) bool {
	if seq <= l.Low {
		return true
	}
	i := sort.Search(len(l.Runs), func(i int) bool { return l.Runs[i].To >= seq })
	return i < len(l.Runs) && l.Runs[i].From <= seq
}

// Add records seq as committed.
func (l *Ledger) Add(seq uint64) {
	if l.Seen(seq) {
		return
	}
	i := sort.Search(len(l.Runs), func(i int) bool { return l.Runs[i].To >= seq })
	switch {
	case i > 0 && l.Runs[i-1].To+1 == seq:
		l.Runs[i-1].To = seq
		if i < len(l.Runs) && l.Runs[i].From == seq+1 {
			l.Runs[i-1].To = l.Runs[i].To
			l.Runs = append(l.Runs[:i], l.Runs[i+1:]...)
		}
	case i < len(l.Runs) && l.Runs[i].From == seq+1:
		l.Runs[i].From = seq
	default:
		l.Runs = append(l.Runs, SeqRun{})
		copy(l.Runs[i+1:], l.Runs[i:])
		l.Runs[i] = SeqRun{seq, seq}
	}
	// Runs that reach down to Low fold into it.
	for len(l.Runs) > 0 && l.Runs[0].From <= l.Low+1 {
		l.Low = max(l.Low, l.Runs[0].To)
		l.Runs = l.Runs[1:]
	}
	for len(l.Runs) > MaxLedgerRuns {
		l.Low = l.Runs[0].To
		l.Runs = l.Runs[1:]
	}
}

// Clone returns an independent copy.
func (l Ledger) Clone() Ledger {
	l.Runs = append([]SeqRun(nil), l.Runs...)
	return l
}
