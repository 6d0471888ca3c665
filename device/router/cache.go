package router

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"sync"
	"time"

	"github.com/sextant-ml/sextant/tensor"
)

// SourceCache marks an answer repeated from the answer cache.
const SourceCache Source = "cache"

// answerCache keeps recent answers by a hash of the full inputs, in memory
// on the device only (private inputs included: nothing here leaves the
// device). It holds at most size entries for ttl each; when full, the
// oldest entry goes.
type answerCache struct {
	size int
	ttl  time.Duration

	mu    sync.Mutex
	m     map[[32]byte]cached
	order [][32]byte
}

type cached struct {
	outputs map[string]*tensor.Tensor
	version string
	at      time.Time
}

func newAnswerCache(size int, ttl time.Duration) *answerCache {
	if size <= 0 {
		return nil
	}
	if ttl <= 0 {
		ttl = time.Minute
	}
	return &answerCache{size: size, ttl: ttl, m: map[[32]byte]cached{}}
}

// key hashes the inputs: names in order, each with dtype, shape and bytes.
func cacheKey(inputs map[string]*tensor.Tensor) [32]byte {
	names := make([]string, 0, len(inputs))
	for n := range inputs {
		names = append(names, n)
	}
	slices.Sort(names)
	h := sha256.New()
	var b [8]byte
	for _, n := range names {
		t := inputs[n]
		binary.LittleEndian.PutUint64(b[:], uint64(len(n)))
		h.Write(b[:])
		h.Write([]byte(n))
		binary.LittleEndian.PutUint64(b[:], uint64(t.DType)<<32|uint64(len(t.Shape)))
		h.Write(b[:])
		for _, d := range t.Shape {
			binary.LittleEndian.PutUint64(b[:], uint64(d))
			h.Write(b[:])
		}
		binary.LittleEndian.PutUint64(b[:], uint64(len(t.Raw)))
		h.Write(b[:])
		h.Write(t.Raw)
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func cloneOutputs(m map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	out := make(map[string]*tensor.Tensor, len(m))
	for k, t := range m {
		out[k] = t.Clone()
	}
	return out
}

func (c *answerCache) get(k [32]byte, now time.Time) (Result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || now.Sub(e.at) >= c.ttl {
		return Result{}, false
	}
	return Result{Outputs: cloneOutputs(e.outputs), Source: SourceCache, Version: e.version}, true
}

func (c *answerCache) put(k [32]byte, res Result, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok {
		if len(c.order) >= c.size {
			delete(c.m, c.order[0])
			c.order = c.order[1:]
		}
		c.order = append(c.order, k)
	}
	c.m[k] = cached{outputs: cloneOutputs(res.Outputs), version: res.Version, at: now}
}
