package examples_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/kyabc/kryptogo-go/examples/internal/exampleenv"
	"github.com/kyabc/kryptogo-go/kryptogotest"
)

// The test lives here rather than beside exampleenv: one test binary fewer
// to link in a fresh clone's first go test ./...

func TestDescribeNamesTheAPI(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		baseURL, key, want string
	}{
		{"http://127.0.0.1:8787", "sk-live", "Using a fake KryptoGO API at http://127.0.0.1:8787 (KRYPTOGO_BASE_URL is on loopback): no points are spent."},
		{"http://[::1]:8787", "sk-live", "Using a fake KryptoGO API at http://[::1]:8787 (KRYPTOGO_BASE_URL is on loopback): no points are spent."},
		{"http://localhost:8787", "sk-live", "Using a fake KryptoGO API at http://localhost:8787 (KRYPTOGO_BASE_URL is on loopback): no points are spent."},
		{"https://fake.example.com", kryptogotest.DefaultAPIKey, "Using a fake KryptoGO API at https://fake.example.com (KRYPTOGO_API_KEY is the fake's): no points are spent."},
		{"https://external-api.kryptogo.com", "sk-live", "Using the real KryptoGO API at https://external-api.kryptogo.com (KRYPTOGO_API_KEY is set): calls cost points."},
		{"https://127.0.0.1.example.com", "sk-live", "Using the real KryptoGO API at https://127.0.0.1.example.com (KRYPTOGO_API_KEY is set): calls cost points."},
	} {
		assert.Equal(t, tc.want, exampleenv.Describe(tc.baseURL, tc.key))
	}
}
