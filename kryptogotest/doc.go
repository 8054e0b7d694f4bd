// Package kryptogotest runs an in-memory fake of the KryptoGO Compliance
// API, for testing code that uses kryptogo-go without an account or a
// network:
//
//	srv := kryptogotest.NewServer()
//	defer srv.Close()
//	client := srv.Client()
//	res, err := client.KYA.Create(ctx, &kryptogo.CreateKYARequest{Address: "0x…"})
//
// The fake serves every endpoint of the API on loopback, backed by memory and
// safe for concurrent use. It checks the API key (401), the fields the real
// API requires (400), answers 404 for unknown ids and 409 for a second
// accept or reject, pages /tasks, appends metadata, completes tasks (at once,
// after a delay, or when the test says) and POSTs real callbacks to the
// callback URLs it was given. Knobs let a test inject failures and latency
// and read back every request.
//
// It behaves like the API as its reference and public integrations describe
// it; where those are silent (error bodies, KYA result entries, comment
// logs) its answers are plausible stand-ins, not the vendor's.
package kryptogotest
