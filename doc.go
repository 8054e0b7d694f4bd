// Package kryptogo is a client for the KryptoGO Compliance (KYABC) API:
// blockchain address screening (KYA), due-diligence search tasks on people
// and companies (KYC/KYB), identity document verification (IDV), and the
// callbacks that report their results.
//
//	client, err := kryptogo.NewClientFromEnv() // KRYPTOGO_API_KEY
//	res, err := client.KYA.Create(ctx, &kryptogo.CreateKYARequest{Address: "0x72a5…"})
//
// Every method validates its request before sending it: a broken rule is a
// *ValidationError (ErrInvalidRequest) and nothing is sent. A non-2xx answer
// is an *APIError, matched with errors.Is against ErrUnauthorized,
// ErrNotFound, ErrConflict, ErrRateLimited and ErrServerError.
//
// GET and PUT are retried on network errors and 429, 500, 502, 503 and 504;
// a POST, which may create a task that costs points, only when it provably
// did not reach the API (429, or a connection that failed before a byte was
// written), and an error that leaves it in doubt matches ErrMaybeSent. The
// calls of a client share a retry budget, and a 429 pauses all of them.
//
// Exactly once: with an IdempotencyKey (1 to 255 printable ASCII
// characters, never sent, printed or logged), a create is sent at most once
// per key by the clients sharing an IdempotencyStore, within its retention.
// A key done returns the recorded result; one another call holds waits for
// it; one in doubt is looked up in the customer's history for a task
// (FindCreated; CreateOnce does it within the call), and is ErrMaybeSent for
// KYA and IDV, which the API cannot list.
//
// CallbackHandler receives callbacks, which the vendor does not sign: sign
// each callback URL with a CallbackSigner and set Confirm.
//
// The API key and the personal values of a request never reach an error, a
// log record or a printed value. Models and requests print (every fmt verb)
// and log (slog) as their ids and states only; their fields keep the values.
//
// The README details retries, exactly once, callbacks, scaling out and what
// is masked where.
package kryptogo
