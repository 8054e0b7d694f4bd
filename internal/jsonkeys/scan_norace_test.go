//go:build !race

package jsonkeys

const raceEnabled = false
