package client

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sextant-ml/sextant/privacy/noise"
	"github.com/sextant-ml/sextant/secagg"
	"github.com/sextant-ml/sextant/secagg/server"

	"github.com/sextant-ml/sextant/internal/cputime"
)

// chacha is a seeded io.Reader for keys and masks.
func chacha(s uint64) *rand.ChaCha8 {
	var seed [32]byte
	seed[0], seed[1] = byte(s), byte(s>>8)
	return rand.NewChaCha8(seed)
}

// oldNoise is the path addNoise replaced: one []int64 noise vector as long
// as the update, filled by a single AddTo, then added to the words.
func oldNoise(t *testing.T, sigma float64, r *rand.Rand, words []uint32) {
	t.Helper()
	dg, err := noise.NewDiscreteGaussian(sigma, r)
	if err != nil {
		t.Fatal(err)
	}
	add := make([]int64, len(words))
	dg.AddTo(add)
	for i, z := range add {
		words[i] += uint32(z)
	}
}

// TestAddNoiseMatchesNoiseVector: adding the draws straight into the words,
// a chunk at a time, gives the same words bit for bit as the noise vector
// did, for the same seed — at lengths around the chunk size, and for a σ
// with single-integer blocks and one with wide blocks.
func TestAddNoiseMatchesNoiseVector(t *testing.T) {
	for _, sigma := range []float64{3, 700} {
		for _, n := range []int{0, 1, noiseChunk - 1, noiseChunk, noiseChunk + 1, 3*noiseChunk + 17, 37024} {
			base := make([]uint32, n)
			fill := rand.New(rand.NewPCG(uint64(n), 9))
			for i := range base {
				base[i] = fill.Uint32()
			}
			want := slices.Clone(base)
			oldNoise(t, sigma, rand.New(rand.NewPCG(5, uint64(n))), want)
			got := slices.Clone(base)
			dg, err := noise.NewDiscreteGaussian(sigma, rand.New(rand.NewPCG(5, uint64(n))))
			if err != nil {
				t.Fatal(err)
			}
			addNoise(dg, got)
			if !slices.Equal(got, want) {
				t.Fatalf("σ %v, %d words: chunked noise differs from the noise vector", sigma, n)
			}
			if n >= noiseChunk && slices.Equal(got, base) {
				t.Fatalf("σ %v, %d words: no noise added", sigma, n)
			}
		}
	}
}

// TestSecureNoisedSumIsEncodedPlusNoise runs a secure-aggregation round of
// devices that each add seeded distributed-DP noise through SecureNoised:
// the sum the server unmasks is exactly Σ (encoded update + the old path's
// noise vector) mod 2^32, and the clipped count is untouched by the noise.
func TestSecureNoisedSumIsEncodedPlusNoise(t *testing.T) {
	const n, dim, sigma = 5, 1100, 40.0
	p := secagg.Params{Round: 3, Dim: dim, Encoding: secagg.Encoding{Clip: 1, Scale: 1 << 12}}
	p.Threshold = secagg.DefaultThreshold(p.Neighbours(n))
	ids := []uint32{2, 4, 6, 8, 10}
	want := make([]uint32, dim)
	clients := map[uint32]interface {
		Handle(secagg.Message) (secagg.Message, error)
	}{}
	srv, err := server.New(server.Config{Params: p, Clients: ids, Rand: chacha(1)})
	if err != nil {
		t.Fatal(err)
	}
	wantClipped := 0
	for _, id := range ids {
		x := make([]float32, dim)
		r := rand.New(rand.NewPCG(uint64(id), 2))
		for j := range x {
			x[j] = float32(r.NormFloat64() * 0.3) // some beyond the clip range
		}
		enc, clipped := p.Encoding.AppendEncode(nil, x)
		wantClipped += clipped
		oldNoise(t, sigma, rand.New(rand.NewPCG(uint64(id), 3)), enc)
		for j, w := range enc {
			want[j] += w
		}
		dg, err := noise.NewDiscreteGaussian(sigma, rand.New(rand.NewPCG(uint64(id), 3)))
		if err != nil {
			t.Fatal(err)
		}
		c, adv, got, err := SecureNoised(p, id, &Update{Delta: x}, chacha(uint64(id)), dg)
		if err != nil {
			t.Fatal(err)
		}
		if got != clipped {
			t.Fatalf("client %d: clipped %d, want %d", id, got, clipped)
		}
		if err := srv.Handle(adv); err != nil {
			t.Fatal(err)
		}
		clients[id] = c
	}
	if wantClipped == 0 {
		t.Fatal("test inputs clip nothing; the clipped count is not exercised")
	}
	if err := srv.Advance(); err != nil {
		t.Fatal(err)
	}
	for srv.Step() != secagg.StepDone {
		for _, id := range srv.Recipients() {
			m, err := srv.MessageFor(id)
			if err != nil {
				t.Fatal(err)
			}
			reply, err := clients[id].Handle(m)
			if err != nil {
				t.Fatalf("client %d: %v", id, err)
			}
			if err := srv.Handle(reply); err != nil {
				t.Fatal(err)
			}
		}
		if err := srv.Advance(); err != nil {
			t.Fatal(err)
		}
	}
	res, err := srv.Result()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Sum, want) {
		t.Fatal("unmasked sum differs from Σ (encoded update + noise vector)")
	}
	if res.Overflow.Clipped != uint64(wantClipped) {
		t.Fatalf("clipped %d, want %d", res.Overflow.Clipped, wantClipped)
	}
}

// BenchmarkDeviceNoise is a device's distributed-DP noise for a 37,024-word
// update (RoundCost's model) at σ = 700 units: "vector" is the replaced
// path (a []int64 noise vector, then a pass adding it), "in-place" addNoise.
// cpu-µs/op is the process's CPU time (GC included), which load from other
// processes hardly moves.
func BenchmarkDeviceNoise(b *testing.B) {
	const dim, sigma = 37024, 700.0
	words := make([]uint32, dim)
	b.Run("vector", func(b *testing.B) {
		b.ReportAllocs()
		c0 := cputime.Seconds()
		for b.Loop() {
			dg, err := noise.NewDiscreteGaussian(sigma, rand.New(rand.NewPCG(1, 2)))
			if err != nil {
				b.Fatal(err)
			}
			add := make([]int64, dim)
			dg.AddTo(add)
			for i, z := range add {
				words[i] += uint32(z)
			}
		}
		b.ReportMetric(1e6*(cputime.Seconds()-c0)/float64(b.N), "cpu-µs/op")
	})
	b.Run("in-place", func(b *testing.B) {
		b.ReportAllocs()
		c0 := cputime.Seconds()
		for b.Loop() {
			dg, err := noise.NewDiscreteGaussian(sigma, rand.New(rand.NewPCG(1, 2)))
			if err != nil {
				b.Fatal(err)
			}
			addNoise(dg, words)
		}
		b.ReportMetric(1e6*(cputime.Seconds()-c0)/float64(b.N), "cpu-µs/op")
	})
}
