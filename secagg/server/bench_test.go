package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/internal/cputime"
	"github.com/sextant-ml/sextant/secagg"
	"github.com/sextant-ml/sextant/secagg/client"
)

// benchCases are the sizes of DESIGN.md part 7: full graph to 1,000
// clients, SecAgg+ beyond.
var benchCases = []struct {
	n, degree int
}{
	{100, 0}, {1000, 0}, {550, secagg.DefaultDegree(550)}, {1000, secagg.DefaultDegree(1000)}, {5000, secagg.DefaultDegree(5000)},
}

func caseName(n, degree int) string {
	if degree == 0 {
		return fmt.Sprintf("full/n=%d", n)
	}
	return fmt.Sprintf("secagg+/k=%d/n=%d", degree, n)
}

// BenchmarkClient measures one client's CPU for a round, step by step,
// with real neighbours' keys and real sealed boxes addressed to it.
func BenchmarkClient(b *testing.B) {
	const dim = 100_000
	for _, c := range benchCases {
		b.Run(caseName(c.n, c.degree)+"/d=100000", func(b *testing.B) {
			p := testParams(c.n, dim, c.degree)
			k := p.Neighbours(c.n)
			r := seeded(1)
			// k neighbours with real keys; ids 2..k+1, the client is 1.
			kl := &secagg.KeyList{Header: secagg.Header{Round: p.Round, Step: secagg.StepShareKeys}}
			cKeys := make(map[uint32]*secagg.PrivateKey, k)
			for i := range k {
				id := uint32(i + 2)
				ck, _ := secagg.NewKey(r)
				sk, _ := secagg.NewKey(r)
				pk := secagg.PeerKeys{ID: id}
				pk.CPub, pk.SPub = ck.Public(), sk.Public()
				kl.Peers = append(kl.Peers, pk)
				cKeys[id] = ck
			}
			input := make([]float32, dim)
			var steps [4]time.Duration
			var cpu time.Duration // process CPU in the timed steps
			for b.Loop() {
				b.StopTimer()
				cl, _ := client.New(client.Config{Params: p, ID: 1, Rand: seeded(2)})
				cl.SetInput(input)
				t0, c0 := time.Now(), cputime.Used()
				b.StartTimer()
				adv, err := cl.Start()
				if err != nil {
					b.Fatal(err)
				}
				if _, err := cl.Handle(kl); err != nil {
					b.Fatal(err)
				}
				t1, c1 := time.Now(), cputime.Used()
				b.StopTimer()
				// The neighbours' boxes for client 1 (their work, not timed).
				bundle := &secagg.ShareBundle{Header: secagg.Header{Round: p.Round, Step: secagg.StepMaskedInput}}
				var zero secagg.Share
				for _, pk := range kl.Peers {
					sb := secagg.Sealed{Peer: pk.ID}
					if _, err := secagg.SealShares(sb.Box[:0], cKeys[pk.ID], adv.CPub[:], p.Round, pk.ID, 1, &zero, &zero); err != nil {
						b.Fatal(err)
					}
					bundle.Boxes = append(bundle.Boxes, sb)
				}
				b.StartTimer()
				t2, c2 := time.Now(), cputime.Used()
				if _, err := cl.Handle(bundle); err != nil {
					b.Fatal(err)
				}
				t3 := time.Now()
				req := &secagg.UnmaskRequest{Header: secagg.Header{Round: p.Round, Step: secagg.StepUnmask}}
				req.Survivors = append(req.Survivors, 1)
				for _, pk := range kl.Peers {
					req.Survivors = append(req.Survivors, pk.ID)
				}
				if _, err := cl.Handle(req); err != nil {
					b.Fatal(err)
				}
				t4 := time.Now()
				cpu += c1 - c0 + cputime.Used() - c2
				steps[0] += t1.Sub(t0)
				steps[1] += t3.Sub(t2)
				steps[2] += t4.Sub(t3)
			}
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
			b.ReportMetric(float64(k), "neighbours")
			b.ReportMetric(ms(steps[0]), "ms-step0+1")
			b.ReportMetric(ms(steps[1]), "ms-step2")
			b.ReportMetric(ms(steps[2]), "ms-step4")
			b.ReportMetric(ms(cpu), "cpu-ms/client")
		})
	}
}

// BenchmarkServer runs whole rounds (clients in process, no wire) with 5%
// of the clients dropping after sharing keys, so the server rebuilds their
// mask keys and removes their pairwise masks, and reports the time spent in
// the server's methods only: wall time and CPU time (user + system).
func BenchmarkServer(b *testing.B) {
	const dim = 10_000
	for _, c := range benchCases {
		b.Run(caseName(c.n, c.degree)+"/d=10000", func(b *testing.B) {
			var srv, cpu time.Duration
			for b.Loop() {
				s := newSim(b, testParams(c.n, dim, c.degree), c.n, 3)
				s.wire = false
				s.drop[secagg.StepMaskedInput] = dropAt(s.ids, c.n/20, 1)
				res, err := s.run()
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Dropped) != c.n/20 {
					b.Fatalf("dropped %d", len(res.Dropped))
				}
				srv += s.srvTime
				cpu += s.srvCPU
			}
			b.ReportMetric(float64(srv.Milliseconds())/float64(b.N), "server-ms/round")
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "server-cpu-ms/round")
		})
	}
}
