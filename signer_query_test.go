package kryptogo

import (
	"encoding/binary"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// The signed input's query is url.Values.Encode's form, built in place.
func TestCanonicalQueryIsEncode(t *testing.T) {
	for _, raw := range []string{
		"",
		"kg_ref=000000123",
		"kg_ref=x&b=%20y&b=z&a=&c=%E4%B8%AD&k+k=v+v&%26=%3D",
		"x=1&y=2&z=3&a=4&b=5&c=6&d=7&e=8&f=9&g=10", // more keys than the stack holds
	} {
		query, err := url.ParseQuery(raw)
		require.NoError(t, err)
		want := query.Encode()
		require.Equal(t, "pre"+want, string(appendQuery([]byte("pre"), query)), raw)
		input, err := canonicalInput("h.example", "/p", query)
		require.NoError(t, err)
		tail := input[len(input)-len(want)-8:]
		require.Equal(t, uint64(len(want)), binary.BigEndian.Uint64(tail), raw)
		require.Equal(t, want, string(tail[8:]), raw)
	}
}

// canonicalPath re-escapes each segment as strings.Split and Join did.
func TestCanonicalPathSegments(t *testing.T) {
	for path, want := range map[string]string{
		"": "/", "/": "/", "/cb": "/cb", "/a/b/": "/a/b/", "//x": "//x",
		"/%7Ecb/%2f/%2F": "/~cb/%2F/%2F", "/a%20b/c+d": "/a%20b/c+d", "a/b": "a/b",
	} {
		got, err := canonicalPath(path)
		require.NoError(t, err, path)
		require.Equal(t, want, got, path)
	}
}
