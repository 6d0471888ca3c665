package kernels

// Float32 RNN, GRU and LSTM cells. Each gate block is computed over the whole
// hidden vector: the pre-activations of the gates that share an activation
// are written to contiguous scratch (g) and activated by one vector call
// (GRU: z and r together; LSTM without peepholes: i, o and f together), then
// one pass combines them. The equations and their order are those of
// rnnKernel (rnn.go); only the arithmetic is float32 instead of float64.

func rnnCell32(p *rnnPlan, acts *[3]activation, xr, hr, hb []float32) {
	add32(hb, xr, hr)
	clip32(hb, float32(p.clip))
	actVec32(acts[0], hb)
}

// gruReset32 sets rh = rt ⊙ Ht₋₁ with rt = f(xr + hr) over the r block, for
// GRU without linear_before_reset (g is scratch of h floats).
func gruReset32(p *rnnPlan, acts *[3]activation, xr, hr, hprev, rh, g []float32) {
	h := p.hidden
	g = g[:h]
	add32(g, xr[h:2*h], hr[h:2*h])
	clip32(g, float32(p.clip))
	actVec32(acts[0], g)
	hprev = hprev[:h]
	rh = rh[:h]
	for j, r := range g {
		rh[j] = r * hprev[j]
	}
}

// gruCell32 updates hb from the gate pre-activations; g is scratch of 3h
// floats.
func gruCell32(p *rnnPlan, acts *[3]activation, xr, hr, hb, bias []float32, g []float32, d int) {
	h := p.hidden
	c := float32(p.clip)
	zr := g[:h]
	if p.lbr {
		zr = g[:2*h] // z and r in one call
	}
	add32(zr, xr, hr)
	clip32(zr, c)
	actVec32(acts[0], zr)
	n := g[2*h : 3*h]
	if p.lbr {
		r, xn, hn := g[h:2*h], xr[2*h:3*h], hr[2*h:3*h]
		if bias != nil {
			gh := 3 * h
			rbh := bias[d*2*gh+gh+2*h : d*2*gh+gh+3*h]
			for j := range n {
				n[j] = xn[j] + r[j]*(hn[j]+rbh[j])
			}
		} else {
			for j := range n {
				n[j] = xn[j] + r[j]*hn[j]
			}
		}
	} else {
		add32(n, xr[2*h:3*h], hr[2*h:3*h]) // hr holds (rt ⊙ Ht₋₁)·Rhᵀ
	}
	clip32(n, c)
	actVec32(acts[1], n)
	z := g[:h]
	hb = hb[:h]
	for j, zt := range z {
		hb[j] = (1-zt)*n[j] + zt*hb[j]
	}
}

// lstmCell32 updates hb and cb; g is scratch of 5h floats (the four gates
// and h(Ct)).
func lstmCell32(p *rnnPlan, acts *[3]activation, xr, hr, hb, cb, peep []float32, g []float32, d int) {
	h := p.hidden
	c := float32(p.clip)
	gi, gout, gf, gc, hc := g[:h], g[h:2*h], g[2*h:3*h], g[3*h:4*h], g[4*h:5*h]
	cb, hb = cb[:h], hb[:h]
	var po []float32
	if peep == nil {
		add32(g[:4*h], xr, hr)
		clip32(g[:4*h], c)
		actVec32(acts[0], g[:3*h]) // i, o, f
	} else {
		pd := peep[d*3*h : (d+1)*3*h]
		pi, pf := pd[:h], pd[2*h:]
		po = pd[h : 2*h]
		for j, cv := range cb {
			gi[j] = xr[j] + hr[j] + pi[j]*cv
			gf[j] = xr[2*h+j] + hr[2*h+j] + pf[j]*cv
		}
		add32(gc, xr[3*h:], hr[3*h:])
		clip32(g[:h], c)
		clip32(g[2*h:4*h], c)
		actVec32(acts[0], gi)
		actVec32(acts[0], gf)
	}
	actVec32(acts[1], gc)
	if p.inputForget {
		for j, it := range gi {
			gf[j] = 1 - it
		}
	}
	for j, it := range gi {
		cb[j] = gf[j]*cb[j] + it*gc[j]
	}
	if po != nil {
		for j, cv := range cb {
			gout[j] = xr[h+j] + hr[h+j] + po[j]*cv
		}
		clip32(gout, c)
		actVec32(acts[0], gout)
	}
	copy(hc, cb)
	actVec32(acts[2], hc)
	for j, o := range gout {
		hb[j] = o * hc[j]
	}
}
