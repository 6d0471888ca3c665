package verify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// canonical returns the canonical JSON of raw, the bytes TUF signatures
// cover: OLPC canonical JSON (http://wiki.laptop.org/go/Canonical_JSON, as
// TUF specification §4.2 and securesystemslib use it) — object keys sorted
// by their bytes, no insignificant whitespace, strings with only backslash
// and double quote escaped, integers only.
func canonical(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(len(raw))
	if err := appendCanonical(&b, v, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// maxDepth bounds nesting; TUF metadata is a few levels deep.
const maxDepth = 32

func appendCanonical(b *bytes.Buffer, v any, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("nested deeper than %d", maxDepth)
	}
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case json.Number:
		if _, err := v.Int64(); err != nil {
			return fmt.Errorf("non-integer number %s", v)
		}
		b.WriteString(v.String())
	case string:
		b.WriteByte('"')
		s := strings.ReplaceAll(v, `\`, `\\`)
		b.WriteString(strings.ReplaceAll(s, `"`, `\"`))
		b.WriteByte('"')
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := appendCanonical(b, e, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := appendCanonical(b, k, depth+1); err != nil {
				return err
			}
			b.WriteByte(':')
			if err := appendCanonical(b, v[k], depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("unexpected %T", v)
	}
	return nil
}
