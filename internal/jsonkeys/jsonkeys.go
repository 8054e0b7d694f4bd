// Package jsonkeys finds JSON objects that repeat a key the way
// encoding/json would read it.
package jsonkeys

import (
	"errors"
	"strings"
	"unicode"
)

// ErrDuplicate reports an object that repeats a key.
var ErrDuplicate = errors.New("an object repeats a key (keys are compared case-insensitively)")

// errNotJSON reports input the scan cannot read; its text never quotes it.
var errNotJSON = errors.New("not JSON")

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
	res, err := Scan(data)
	switch {
	case err != nil:
		return err
	case res.Duplicate:
		return ErrDuplicate
	}
	return nil
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
