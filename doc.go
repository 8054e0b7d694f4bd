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
// # Retries
//
// GET and PUT are retried on network errors and on 429, 500, 502, 503 and
// 504. POST creates tasks that cost points and has no idempotency key, so it
// is retried only when the request provably did not reach the API: on 429,
// and when the connection failed before any byte was written. Waits use
// exponential backoff with jitter, honour Retry-After, and never run past the
// context's deadline. Every call of a client shares one retry budget
// (WithRetryBudget), and a 429's Retry-After pauses every call of the client,
// not only the one that got it. No layer below the SDK writes a POST twice
// either, provided a RoundTripper of yours passes the request's context on
// (see WithHTTPClient).
//
// # Callbacks
//
// KryptoGO POSTs a DD task's summary to the task's callback_url when the
// task completes and each time its accepted status changes, and an IDV task
// to the IDV task's callback_url when verification completes. The vendor
// signs nothing and publishes no source addresses, so a callback body is an
// unauthenticated claim. The SDK authenticates callbacks in two layers:
//
//  1. A CallbackSigner signs the callback URL you hand to the API for one
//     customer (SignURL(url, customerReference)), over its host, path and
//     query. A request to an unsigned or altered URL is refused, and the
//     handler delivers only records whose customer_reference is the URL's.
//  2. With CallbackHandler.Confirm set, the handler ignores what the body
//     claims and passes on the record re-fetched from the API by its id,
//     after checking it is the body's record. With both, someone who learned
//     a signed URL can at most re-deliver that customer's current records.
//
// # Duplicate and out-of-order callbacks
//
// Deliveries repeat (a sender retries on any non-2xx answer) and arrive out
// of order. One DD task calls back when it completes and again whenever its
// accepted status changes, possibly weeks apart, and that status can change
// more than once (undecided, then accepted, then changed in the console).
// Make handlers idempotent: record CallbackEvent.Key and skip a key already
// processed. Do not let an older callback overwrite newer state: compare
// TaskSummary.UpdateTime (IDVTask.AuditTimestamp) with what you stored, or
// use Confirm, which always hands you the current record whatever order the
// notices came in.
//
// # Secrets and personal data
//
// The API key is sent only in its header, to the API's host: never in an
// error, a log record or the printed form of a Client. A redirect to another
// host is not followed at all, since the body would go along with it.
// WithLogger logs no bodies and no query strings,
// so names, ID numbers and images never reach a log.
package kryptogo
