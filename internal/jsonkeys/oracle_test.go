package jsonkeys

import (
	"bytes"
	"encoding/json"
	"io"
)

// The token-based duplicate check CheckUnique used before Scan, kept as the
// oracle the fuzz targets compare Scan with.

type oracleFrame struct {
	object  bool
	wantKey bool                // an object's next token is a key or '}'
	keys    map[string]struct{} // an object's folded keys, made at its first key
}

func oracleCheckUnique(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // numbers are skipped: no float parsing
	var stack []oracleFrame
	for {
		tok, err := dec.Token()
		if err == io.EOF && len(stack) == 0 {
			return nil
		}
		if err != nil {
			return errNotJSON
		}
		if top := len(stack) - 1; top >= 0 && stack[top].object {
			if stack[top].wantKey {
				if key, isKey := tok.(string); isKey {
					if !stack[top].add(key) {
						return ErrDuplicate
					}
					continue
				}
			}
			stack[top].wantKey = true // tok is a value, or the closing '}'
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, oracleFrame{object: true, wantKey: true})
		case json.Delim('['):
			stack = append(stack, oracleFrame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}

func (f *oracleFrame) add(key string) bool {
	f.wantKey = false
	folded := fold(key)
	if _, seen := f.keys[folded]; seen {
		return false
	}
	if f.keys == nil {
		f.keys = make(map[string]struct{})
	}
	f.keys[folded] = struct{}{}
	return true
}
