// Package jsonkeys finds JSON objects that repeat a key the way
// encoding/json would read it.
package jsonkeys

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode"
)

// ErrDuplicate reports an object that repeats a key.
var ErrDuplicate = errors.New("an object repeats a key (keys are compared case-insensitively)")

// errNotJSON reports input the scan cannot read; its text never quotes it.
var errNotJSON = errors.New("not JSON")

// frame is one open object or array.
type frame struct {
	object  bool
	wantKey bool                // an object's next token is a key or '}'
	keys    map[string]struct{} // an object's folded keys, made at its first key
}

// CheckUnique returns ErrDuplicate when an object anywhere in data repeats
// a key, compared as encoding/json matches keys to struct fields: with
// Unicode simple case folding, so "task_id" and "TASK_ID" are one key, and
// so are "k" and the Kelvin sign (U+212A). encoding/json keeps the last of
// such keys while a case-sensitive or first-wins reader sees another, so a
// document with them means different things to different readers.
//
// data should be JSON that json.Unmarshal accepted, which bounds its
// nesting; for other input it returns an error. No error quotes data.
func CheckUnique(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // numbers are skipped: no float parsing
	var stack []frame
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
			stack = append(stack, frame{object: true, wantKey: true})
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}

// add records key in the object and reports whether it is new.
func (f *frame) add(key string) bool {
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

// fold maps key to the form encoding/json compares keys in: every rune
// replaced by the smallest rune of its Unicode simple folding orbit, so
// fold(a) == fold(b) exactly when bytes.EqualFold(a, b).
func fold(key string) string {
	return strings.Map(foldRune, key)
}

func foldRune(r rune) rune {
	for {
		next := unicode.SimpleFold(r)
		if next <= r {
			return next
		}
		r = next
	}
}
