package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
)

func TestIDVUploadSampleImages(t *testing.T) {
	t.Setenv("KRYPTOGO_API_KEY", "")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out, nil))
	assert.Equal(t, []string{
		"IDV task 1 created; waiting for the result…",
		"state: Accept (audit: Accepted)",
	}, strings.Split(strings.TrimSpace(out.String()), "\n")[1:])
}

func TestIDVUploadReportsBadInput(t *testing.T) {
	t.Setenv("KRYPTOGO_API_KEY", "")
	var out bytes.Buffer
	err := run(t.Context(), &out, []string{"-type", "ID_CARD", "-country", "twn", "-front", filepath.Join(t.TempDir(), "missing.jpg")})
	var verr *kryptogo.ValidationError
	require.ErrorAs(t, err, &verr)
	var fields []string
	for _, f := range verr.Fields {
		fields = append(fields, f.Field)
	}
	assert.Equal(t, []string{"country", "id_back_image", "id_image"}, fields)
	assert.ErrorContains(t, run(t.Context(), &out, []string{"-nope"}), "flag provided but not defined")
}
