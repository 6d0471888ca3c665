package tensor

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// npyHeader is the content of a .npy header dict.
type npyHeader struct {
	descr   string
	fortran bool
	shape   Shape
}

// parseNPYHeader parses the Python dict literal of a .npy header, such as
// "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", followed by
// padding whitespace. It accepts exactly the subset NumPy writes: string
// keys, string, boolean and integer-tuple values (integers may carry
// Python 2's L suffix), either quote style, and trailing commas.
func parseNPYHeader(s string) (npyHeader, error) {
	p := &npyParser{s: s}
	var h npyHeader
	seen := map[string]bool{}
	p.space()
	if !p.eat('{') {
		return h, p.errorf("want '{'")
	}
	for {
		p.space()
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return h, err
		}
		if seen[key] {
			return h, fmt.Errorf("key %q given twice", key)
		}
		seen[key] = true
		p.space()
		if !p.eat(':') {
			return h, p.errorf("want ':'")
		}
		p.space()
		switch key {
		case "descr":
			if p.peek() == '[' {
				return h, errors.New("structured dtypes are not supported")
			}
			h.descr, err = p.str()
		case "fortran_order":
			h.fortran, err = p.boolean()
		case "shape":
			h.shape, err = p.tuple()
		default:
			return h, fmt.Errorf("unexpected key %q", key)
		}
		if err != nil {
			return h, fmt.Errorf("%s: %w", key, err)
		}
		p.space()
		if p.eat('}') {
			break
		}
		if !p.eat(',') {
			return h, p.errorf("want ',' or '}'")
		}
	}
	p.space()
	if p.i != len(p.s) {
		return h, p.errorf("unexpected text after the dict")
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return h, fmt.Errorf("missing key %q", k)
		}
	}
	return h, nil
}

// npyParser is a cursor over a header.
type npyParser struct {
	s string
	i int
}

func (p *npyParser) errorf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *npyParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *npyParser) eat(c byte) bool {
	if p.peek() == c && p.i < len(p.s) {
		p.i++
		return true
	}
	return false
}

func (p *npyParser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

// str parses a quoted string without escapes.
func (p *npyParser) str() (string, error) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", p.errorf("want a quoted string")
	}
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", p.errorf("unterminated string")
	}
	v := p.s[p.i+1 : p.i+1+end]
	if strings.IndexByte(v, '\\') >= 0 {
		return "", p.errorf("escapes in strings are not supported")
	}
	p.i += end + 2
	return v, nil
}

func (p *npyParser) boolean() (bool, error) {
	switch {
	case strings.HasPrefix(p.s[p.i:], "True"):
		p.i += 4
		return true, nil
	case strings.HasPrefix(p.s[p.i:], "False"):
		p.i += 5
		return false, nil
	}
	return false, p.errorf("want True or False")
}

// tuple parses a tuple of non-negative integers: (), (3,), (2, 3).
func (p *npyParser) tuple() (Shape, error) {
	if !p.eat('(') {
		return nil, p.errorf("want '('")
	}
	shape := Shape{}
	for {
		p.space()
		if p.eat(')') {
			break
		}
		if len(shape) == maxNPYRank {
			return nil, fmt.Errorf("more than %d dimensions", maxNPYRank)
		}
		start := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		digits := p.s[start:p.i]
		p.eat('L')
		if digits == "" || len(digits) > 18 {
			return nil, p.errorf("want a dimension (0 to 10^18)")
		}
		d, err := strconv.Atoi(digits)
		if err != nil {
			return nil, p.errorf("bad dimension %q", digits)
		}
		shape = append(shape, d)
		p.space()
		if p.eat(')') {
			break
		}
		if !p.eat(',') {
			return nil, p.errorf("want ',' or ')'")
		}
	}
	if len(shape) == 1 && !strings.HasSuffix(strings.TrimRight(p.s[:p.i-1], " \t\r\n"), ",") {
		return nil, errors.New("(n) is not a tuple; write (n,)")
	}
	return shape, nil
}
