package check

import "strings"

// IsETHAddress reports whether s is 0x followed by 40 hex digits.
func IsETHAddress(s string) bool {
	if len(s) != 42 || (s[:2] != "0x" && s[:2] != "0X") {
		return false
	}
	return strings.Trim(s[2:], "0123456789abcdefABCDEF") == ""
}

const (
	base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	bech32Charset  = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
)

// IsBTCAddress reports whether s has the form of a mainnet bitcoin address:
// base58 P2PKH (1…) or P2SH (3…), or bech32/bech32m (bc1…). It checks the
// alphabet and length, not the checksum.
func IsBTCAddress(s string) bool {
	switch {
	case len(s) >= 26 && len(s) <= 35 && (s[0] == '1' || s[0] == '3'):
		return strings.Trim(s, base58Alphabet) == ""
	case len(s) >= 14 && len(s) <= 74 && strings.HasPrefix(strings.ToLower(s), "bc1"):
		// bech32 is single-case: all lower or all upper.
		if s != strings.ToLower(s) && s != strings.ToUpper(s) {
			return false
		}
		return strings.Trim(strings.ToLower(s[3:]), bech32Charset) == ""
	}
	return false
}
