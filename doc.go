// Package kryptogo is a client for the KryptoGO Compliance (KYABC) API:
// blockchain address screening (KYA), due-diligence search tasks on people
// and companies (KYC/KYB), identity document verification (IDV), and the
// callbacks that report their results.
//
//	client, err := kryptogo.NewClientFromEnv() // KRYPTOGO_API_KEY
//	res, err := client.KYA.Create(ctx, &kryptogo.CreateKYARequest{Address: "0x72a5…"})
//
// Every method validates its request before sending it: a broken rule of the
// API reference is a *ValidationError (errors.Is(err, ErrInvalidRequest)) and
// no request leaves the process. A non-2xx answer is an *APIError, matched
// with errors.Is against ErrUnauthorized, ErrNotFound, ErrConflict,
// ErrRateLimited and ErrServerError.
//
// GET and PUT are retried on network errors and 429, 500, 502, 503 and 504;
// a POST, which may create a task that costs points, only when it provably
// did not reach the API (429, or a connection that failed before a byte was
// written), and an error that leaves it in doubt matches ErrMaybeSent.
// Tasks.CreateOnce settles such a doubt. CallbackHandler receives callbacks,
// which the vendor does not sign: sign each callback URL with a
// CallbackSigner and set Confirm. The API key and the personal values of a
// request never reach an error, a log record or a printed value.
//
// The README details retries, callbacks (and their duplicates and order),
// and what is masked where.
package kryptogo
