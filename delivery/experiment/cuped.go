package experiment

import "math"

// CovariateSummary is one arm of a metric with a pre-period covariate
// (CUPED: A. Deng, Y. Xu, R. Kohavi and T. Walker, "Improving the
// sensitivity of online controlled experiments by utilizing pre-experiment
// data", WSDM 2013): the post-period metric's and the pre-period
// covariate's sums and sums of squares, and Σ post·pre.
type CovariateSummary struct {
	N    float64 `json:"n"`
	Post Summary `json:"post"`
	Pre  Summary `json:"pre"`
	// SumProducts is Σ post·pre over the arm's units.
	SumProducts float64 `json:"sum_products"`
}

func (c CovariateSummary) post() Summary {
	return Summary{N: c.N, Sum: c.Post.Sum, SumSquares: c.Post.SumSquares, NoiseVariance: c.Post.NoiseVariance}
}

func (c CovariateSummary) pre() Summary {
	return Summary{N: c.N, Sum: c.Pre.Sum, SumSquares: c.Pre.SumSquares}
}

func (c CovariateSummary) cov() float64 {
	return covariance(c.N, c.Post.Sum, c.Pre.Sum, c.SumProducts)
}

// Theta is the pooled regression coefficient of post on pre over both
// arms, cov(post, pre)/var(pre) (gbstats compute_theta); 0 when either
// period has no variance, which turns CUPED into the plain test.
func Theta(control, treatment CovariateSummary) float64 {
	n := control.N + treatment.N
	post := Summary{N: n, Sum: control.Post.Sum + treatment.Post.Sum, SumSquares: control.Post.SumSquares + treatment.Post.SumSquares}
	pre := Summary{N: n, Sum: control.Pre.Sum + treatment.Pre.Sum, SumSquares: control.Pre.SumSquares + treatment.Pre.SumSquares}
	vp := pre.Variance()
	if !(vp > 0) || !(post.Variance() > 0) {
		return 0
	}
	return covariance(n, post.Sum, pre.Sum, control.SumProducts+treatment.SumProducts) / vp
}

// CUPED compares a mean metric adjusted by its pre-period covariate with
// the pooled θ (Theta); see CUPEDWithTheta.
func CUPED(control, treatment CovariateSummary, o Options) (Result, error) {
	return CUPEDWithTheta(control, treatment, Theta(control, treatment), o)
}

// CUPEDWithTheta compares Y − θX between arms: each arm's estimate is
// μ_post − θ·μ_pre with per-unit variance σ²_post + θ²σ²_pre −
// 2θ·cov(post, pre). The relative lift divides by the control's
// unadjusted post mean, with gbstats' delta-method variance
// (frequentist_variance_relative_cuped). θ = 0 is the plain test.
func CUPEDWithTheta(control, treatment CovariateSummary, theta float64, o Options) (Result, error) {
	cPost, tPost := control.post(), treatment.post()
	for _, s := range []struct {
		s    Summary
		what string
	}{{cPost, "control post"}, {tPost, "treatment post"}, {control.pre(), "control pre"}, {treatment.pre(), "treatment pre"}} {
		if err := s.s.check(s.what, false); err != nil {
			return Result{}, err
		}
	}
	if math.IsNaN(theta) || math.IsInf(theta, 0) {
		return Result{}, ErrInvalid
	}
	adjust := func(c CovariateSummary) arm {
		post, pre := c.post(), c.pre()
		return arm{
			n:     c.N,
			mean:  post.Mean() - theta*pre.Mean(),
			base:  post.Mean(),
			v:     post.Variance() + theta*theta*pre.Variance() - 2*theta*c.cov(),
			noise: post.NoiseVariance,
		}
	}
	c, t := adjust(control), adjust(treatment)
	if !o.Relative || theta == 0 {
		m, err := differenceMoments(c, t, o.Relative)
		if err != nil {
			return Result{}, err
		}
		return m.test(o)
	}
	if err := checkArms(c, t); err != nil {
		return Result{}, err
	}
	b := c.base
	if b == 0 {
		return Result{}, ErrZeroBaseline
	}
	// Treatment term: its adjusted variance over n_t·b². Control term: the
	// gradient of (μ_t − μ_c,adj)/b in the control's (post, pre) means,
	// −μ_t,post/b² and θ/b, against the control's covariance.
	vt := t.v/(t.n*b*b) + t.noise/(b*b)
	k := -tPost.Mean()
	cpm := cPost.Mean()
	vc := (cPost.Variance()*k*k/(cpm*cpm)+2*theta*control.cov()*k/cpm+theta*theta*control.pre().Variance())/(c.n*b*b) +
		c.noise*k*k/(cpm*cpm*b*b)
	m := moments{effect: (t.mean - c.mean) / b, variance: vt + vc, df: welchDF(c, t), n: c.n + t.n}
	return m.test(o)
}
