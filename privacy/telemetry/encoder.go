package telemetry

import (
	"fmt"
	"math/rand/v2"
	"sync"
)

// Encoder privatizes reports on the device. It is safe for concurrent use;
// mu guards r.
type Encoder struct {
	reg    *Registry
	ledger *Ledger
	clock  Clock

	mu sync.Mutex
	r  *rand.Rand
}

// NewEncoder returns an encoder for the declared streams, charging ledger
// and drawing from r (seeded in tests, noise.CryptoRand in production).
func NewEncoder(reg *Registry, ledger *Ledger, clock Clock, r *rand.Rand) (*Encoder, error) {
	if reg == nil || ledger == nil || clock == nil || r == nil {
		return nil, fmt.Errorf("telemetry: encoder needs a registry, a ledger, a clock and a random source")
	}
	return &Encoder{reg: reg, ledger: ledger, clock: clock, r: r}, nil
}

// Append privatizes one report of stream with the given field values and
// appends its wire form to b. It refuses an undeclared stream or field, a
// missing or mistyped field, and a report over the stream's daily budget
// (*BudgetExceededError), returning b unchanged. The budget is charged, and
// persisted, before the report is formed.
func (e *Encoder) Append(b []byte, stream string, values map[string]any) ([]byte, error) {
	s, err := e.reg.Lookup(stream)
	if err != nil {
		return b, err
	}
	item, err := s.Item(values)
	if err != nil {
		return b, err
	}
	if s.Mechanism == Central {
		return b, fmt.Errorf("telemetry: stream %s is aggregated centrally (sent with check-ins), not as a local-DP report", s.Name)
	}
	if s.Mechanism == None {
		return AppendReport(b, &Report{Stream: s.Name, Mechanism: None, Item: []byte(item)}), nil
	}
	if err := e.ledger.Spend(s.Name, e.clock.Now(), s.Epsilon, s.DailyBudget); err != nil {
		return b, err
	}
	e.mu.Lock()
	rep := privatize(s, item, e.r)
	e.mu.Unlock()
	return AppendReport(b, &rep), nil
}

// privatize forms the LDP report of item for a cms or hcms stream.
func privatize(s *Schema, item string, r *rand.Rand) Report {
	p := s.Params()
	lr := p.Encode(item, r)
	rep := Report{Stream: s.Name, Mechanism: s.Mechanism, Row: lr.Row, Bits: lr.Bits, Col: lr.Col, Bit: lr.Bit}
	if s.Mechanism == CMS {
		rep.NBits = s.M
	}
	return rep
}
