package kryptogo

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func BenchmarkTmpCtx(b *testing.B) {
	parent := b.Context()
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ctx, guard := attemptContext(parent, time.Minute, http.MethodGet, true)
			child, cancelChild := context.WithCancelCause(ctx)
			_ = child.Done()
			cancelChild(nil)
			guard.end()
		}
	})
	b.Run("old", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ctx, cancel := context.WithTimeout(parent, time.Minute)
			guard := newSendGuard(http.MethodGet, true)
			guard.actx.parent = ctx
			child, cancelChild := context.WithCancelCause(ctx)
			_ = child.Done()
			cancelChild(nil)
			cancel()
		}
	})
}
