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
// safe for concurrent use. It checks the API key (401), answers 404 for
// unknown ids and 409 for a second accept or reject, pages /tasks, appends
// metadata, completes tasks (at once, after a delay, or when the test says)
// and POSTs real callbacks to the callback URLs it was given. Knobs let a
// test inject failures (one by one, or per request with SetFaultFunc),
// latency, a rate limit and a history that lags, and read back every
// request.
//
// # What it refuses
//
// The fake refuses (400, naming the fields: "invalid request:
// [0].callback_url") what the API reference refuses, so that a test that
// passes against the fake does not fail against the API. Where the
// reference is silent, it takes the strict reading and says so here:
//
//   - Required fields, as the reference marks them.
//   - Integer fields (search_setting_id, from_idv_id, workflow_id,
//     dd_task_search_setting_id, tw_id_apply_code) must be JSON integers:
//     "2", 2.0 and 2e0 are refused.
//   - callback_url and dd_task_callback_url must be absolute http or https
//     URLs (the reference types callback_url as a URI; the fake must be
//     able to call it).
//   - country (IDV) must be an upper-case ISO 3166-1 alpha-3 code ("TW" and
//     "twn" are refused); a target's citizenship an alpha-3 or numeric code,
//     its birthday a YYYY-MM-DD date.
//   - POST /idv images must be base64 text of a JPEG or PNG of at most
//     15 MB, each side under 8000 px and the longest over 300 px, of the
//     type its mime field declares (image/jpeg when absent, the reference's
//     default): a PNG sent without id_mime_type is refused.
//   - customer_reference of an IDV task at most 100 characters (POST /idv
//     included); success_url at most 2047 and error_url at most 255, both
//     absolute URLs; locale from the reference's list, case included; the
//     Taiwan ID add-on only on an ID card of country TWN, all three fields
//     together, apply code 0-3, a real 7-digit ROC date and a listed site.
//   - POST /kya: an address of the form of its chain (eth: 0x and 40 hex
//     digits; btc: 1…, 3… or bc1…), given or detected; chains other than
//     eth and btc are refused.
//   - POST /task with from_idv_id: an IDV task the fake does not hold refuses
//     the whole batch with 400 naming "[i].from_idv_id" (a field of the
//     body that names nothing, as other invalid fields; 404 is kept for
//     unknown ids in the path). The task takes target.birthday,
//     target.citizenship, customer_reference and callback_url from the IDV
//     task, as the reference says the API forces them: the birthday read
//     from the document once the IDV task finished, else its expected
//     birthday; its country; its customer reference; its callback_url. The
//     task is then one of the IDV task's dd_tasks.
//
// # What it answers
//
// The answers have the reference's shapes: a summary's report is an object
// from the task's creation on (zero risk, accepted null, until the task
// completes and is decided), a task detail always has result, POST
// /idv/init answers its timestamp as an RFC 3339 string (API-NOTES; unix
// seconds with WithUnixInitTimestamp), and an IDV task's dd_tasks[] show the
// audit_status of their DD task.
//
// The reference gives no shape to some values; the fake invents them, and
// every object it invents holds the key InventedKey
// ("kryptogotest_invented") set to true:
//
//   - KYA sdnlist entries: {"address", "list": "SDN"}, one when the address
//     is sanctioned (WithSanctionedAddresses);
//   - KYA txlist entries: {"hash", "chain"}, derived from the address (0x
//     hashes on eth, bare hex on btc);
//   - a task detail's result: the marker alone;
//   - comment_logs entries: {"comment", "accepted", "comment_time"};
//   - the history's paging: {"page_number", "page_size", "total"}.
//
// KYA data is an empty object, and error bodies are {"code", "message"}:
// also the fake's choice, not the vendor's.
package kryptogotest
