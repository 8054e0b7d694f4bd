package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/kyabc/kryptogo-go/internal/unorm"
)

// TestTablesAreCurrent: the committed tables are what the generator
// writes from the x/text in go.mod.
func TestTablesAreCurrent(t *testing.T) {
	committed, err := os.ReadFile("../tables.go")
	if err != nil {
		t.Fatal(err)
	}
	want, err := formatted()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, want) {
		t.Fatal("internal/unorm/tables.go is stale: run go generate ./internal/unorm")
	}
}

// TestEveryRune: unorm decomposes and classifies every rune as x/text does.
func TestEveryRune(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		s := string(r)
		if got, want := unorm.NFD(s), norm.NFD.String(s); got != want {
			t.Fatalf("NFD(%U) = %+q, x/text %+q", r, got, want)
		}
		if got, want := unorm.CombiningClass(r), norm.NFD.PropertiesString(s).CCC(); got != want {
			t.Fatalf("CombiningClass(%U) = %d, x/text %d", r, got, want)
		}
	}
}

// TestRandomText: strings of starters and combining marks in any order,
// precomposed letters and Hangul, normalise as x/text normalises them.
func TestRandomText(t *testing.T) {
	var pool []rune
	for r := rune(0); r <= 0x2FFFF; r++ {
		if utf8.ValidRune(r) && (unorm.CombiningClass(r) != 0 || norm.NFD.String(string(r)) != string(r)) {
			pool = append(pool, r)
		}
	}
	pool = append(pool, 'a', 'Z', ' ', '1', 'é', '가', 'ᄀ', 'ᅡ', 'ᆨ')
	rng := rand.New(rand.NewPCG(15, 5))
	for range 200_000 {
		var b strings.Builder
		for range 1 + rng.IntN(8) {
			b.WriteRune(pool[rng.IntN(len(pool))])
		}
		s := b.String()
		if got, want := unorm.NFD(s), norm.NFD.String(s); got != want {
			t.Fatalf("NFD(%+q) = %+q, x/text %+q", s, got, want)
		}
	}
}
