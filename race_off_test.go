//go:build !race

package kryptogo

const raceEnabled = false
