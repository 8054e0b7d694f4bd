package kryptogo_test

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// releaseHeading is a version heading of CHANGELOG.md in Keep a Changelog
// form: "## [0.2.0] - 2026-11-26".
var releaseHeading = regexp.MustCompile(`^## \[(\d+)\.(\d+)\.(\d+)\] - \d{4}-\d{2}-\d{2}$`)

// changelogVersions returns the released versions of CHANGELOG.md in the
// order they appear, and fails on a "## " heading of another form (an
// Unreleased section included: the top entry must be the version Version
// names).
func changelogVersions(t *testing.T, text string) [][3]int {
	t.Helper()
	var versions [][3]int
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "## ") {
			continue
		}
		m := releaseHeading.FindStringSubmatch(strings.TrimSpace(line))
		require.NotNil(t, m, "CHANGELOG.md: %q is not a release heading like \"## [1.2.3] - 2006-01-02\"", line)
		var v [3]int
		for i := range v {
			v[i], _ = strconv.Atoi(m[i+1])
		}
		versions = append(versions, v)
	}
	return versions
}

func versionString(v [3]int) string {
	return strconv.Itoa(v[0]) + "." + strconv.Itoa(v[1]) + "." + strconv.Itoa(v[2])
}

func TestChangelogTopEntryIsVersion(t *testing.T) {
	t.Parallel()
	text, err := os.ReadFile("CHANGELOG.md")
	require.NoError(t, err)
	versions := changelogVersions(t, string(text))
	require.NotEmpty(t, versions, "CHANGELOG.md has no release")
	assert.Equal(t, kryptogo.Version, versionString(versions[0]),
		"the Version constant (sent in the User-Agent) must be the top entry of CHANGELOG.md")
	for i := 1; i < len(versions); i++ {
		newer, older := versions[i-1], versions[i]
		assert.True(t, newer[0] > older[0] || newer[0] == older[0] && (newer[1] > older[1] || newer[1] == older[1] && newer[2] > older[2]),
			"newest first: %s is listed above %s", versionString(newer), versionString(older))
	}
	for _, v := range versions {
		assert.Contains(t, string(text), "\n["+versionString(v)+"]: ", "a link for %s", versionString(v))
	}
}

func TestChangelogHeadings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"newest first", "# Changelog\n## [0.2.0] - 2026-11-26\n### Added\n## [0.1.0] - 2026-11-25\n", []string{"0.2.0", "0.1.0"}},
		{"none", "# Changelog\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, v := range changelogVersions(t, tc.text) {
				got = append(got, versionString(v))
			}
			assert.Equal(t, tc.want, got)
		})
	}
	for _, bad := range []string{"## [Unreleased]", "## 0.2.0", "## [0.2] - 2026-11-26", "## [0.2.0]"} {
		t.Run(bad, func(t *testing.T) {
			assert.Nil(t, releaseHeading.FindStringSubmatch(bad), "refused")
		})
	}
}
