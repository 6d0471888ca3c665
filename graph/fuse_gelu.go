package graph

import "math"

// GELU constants (Hendrycks & Gimpel, "Gaussian Error Linear Units", 2016):
// exact GELU(x) = x·Φ(x) = 0.5·x·(1+erf(x/√2)); the tanh approximation is
// 0.5·x·(1+tanh(√(2/π)·(x+0.044715·x³))).
var (
	sqrt2       = math.Sqrt2
	sqrt2OverPi = math.Sqrt(2 / math.Pi)
)

const geluCubic = 0.044715

// gelu matches a GELU subgraph anchored at its Erf or Tanh node.
func (f *fuser) gelu(e *Node, u *uses) (*rewrite, error) {
	var x *Value
	var inner []*Node
	approx := "none"
	switch {
	case is(e, "Erf"):
		x, inner = geluErfArg(e, u)
	case is(e, "Tanh"):
		x, inner = geluTanhArg(e, u)
		approx = "tanh"
	}
	if x == nil || !fusedFloat(typeOf(x).DType) {
		return nil, nil
	}
	// 1 + erf(·) or 1 + tanh(·).
	plus := u.only(out0(e))
	if !is(plus, "Add") || constScalarInput(plus, 1) != out0(e) {
		return nil, nil
	}
	tail, final := geluProduct(x, out0(plus), u)
	if final == nil {
		return nil, nil
	}
	remove := append(append(inner, e, plus), tail...)
	n := &Node{
		Name:    e.Name,
		Op:      "Gelu",
		Inputs:  []*Value{x},
		Outputs: []*Value{final},
		Attrs:   map[string]*Attr{"approximate": StringAttr(approx)},
	}
	return &rewrite{remove: remove, node: n}, nil
}

// geluErfArg matches erf's argument x/√2 (Div by √2 or Mul by 1/√2) and
// returns x and the node computing the argument.
func geluErfArg(e *Node, u *uses) (*Value, []*Node) {
	t := e.Input(0)
	if t == nil || t.Producer == nil || u.only(t) != e {
		return nil, nil
	}
	p := t.Producer
	switch {
	case is(p, "Div") && scalarNear(p.Input(1), sqrt2):
		return p.Input(0), []*Node{p}
	case is(p, "Mul"):
		if x := constScalarInput(p, 1/sqrt2); x != nil {
			return x, []*Node{p}
		}
	}
	return nil, nil
}

// geluTanhArg matches tanh's argument √(2/π)·(x + 0.044715·x³) and returns x
// and the nodes computing the argument.
func geluTanhArg(e *Node, u *uses) (*Value, []*Node) {
	t := e.Input(0)
	scale := producedBy(t, "Mul")
	if scale == nil || u.only(t) != e {
		return nil, nil
	}
	w := constScalarInput(scale, sqrt2OverPi)
	add := producedBy(w, "Add")
	if add == nil || u.only(w) != scale {
		return nil, nil
	}
	for _, k := range add.Inputs {
		x := other(add, k)
		cubic := producedBy(k, "Mul")
		if x == nil || cubic == nil || u.only(k) != add {
			continue
		}
		c := constScalarInput(cubic, geluCubic)
		if c == nil || u.only(c) != cubic {
			continue
		}
		if cube := cubeOf(c, x, u); cube != nil {
			return x, append(cube, cubic, add, scale)
		}
	}
	return nil, nil
}

// cubeOf matches c = x³, as Pow(x, 3), x·(x·x) or (x·x)·x, and returns the
// nodes computing it.
func cubeOf(c, x *Value, u *uses) []*Node {
	p := c.Producer
	switch {
	case is(p, "Pow") && p.Input(0) == x && scalarNear(p.Input(1), 3):
		return []*Node{p}
	case is(p, "Mul"):
		sq := other(p, x)
		if sq == nil || u.only(sq) != p {
			return nil
		}
		if sp := sq.Producer; sp != nil &&
			((is(sp, "Mul") && sp.Input(0) == x && sp.Input(1) == x) ||
				(is(sp, "Pow") && sp.Input(0) == x && scalarNear(sp.Input(1), 2))) {
			return []*Node{sp, p}
		}
	}
	return nil
}

// geluProduct matches the product x·a·0.5 that ends a GELU, in the orders
// exporters write it: (x·a)·0.5, (x·a)/2, (a·0.5)·x and (x·0.5)·a, with either
// operand order at each step. It returns the nodes and the final value.
func geluProduct(x, a *Value, u *uses) ([]*Node, *Value) {
	m1 := u.only(a)
	if !is(m1, "Mul") {
		return nil, nil
	}
	y := other(m1, a)
	if y == nil {
		return nil, nil
	}
	switch {
	case y == x:
		m2 := u.only(out0(m1))
		switch {
		case is(m2, "Mul") && constScalarInput(m2, 0.5) == out0(m1):
			return []*Node{m1, m2}, out0(m2)
		case is(m2, "Div") && m2.Input(0) == out0(m1) && scalarNear(m2.Input(1), 2):
			return []*Node{m1, m2}, out0(m2)
		}
	case scalarNear(y, 0.5):
		m2 := u.only(out0(m1))
		if is(m2, "Mul") && other(m2, out0(m1)) == x {
			return []*Node{m1, m2}, out0(m2)
		}
	default:
		half := producedBy(y, "Mul")
		if half != nil && u.only(y) == m1 && constScalarInput(half, 0.5) == x {
			return []*Node{half, m1}, out0(m1)
		}
	}
	return nil, nil
}
