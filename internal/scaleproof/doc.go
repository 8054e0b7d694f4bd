// Package scaleproof proves, with several OS processes, what the redisstore
// and sqlstore modules promise across replicas: a rate limit shared by
// every process, a 429 pause seen by one that holds the others, idempotency
// keys that create once across processes and a SIGKILL, and a callback
// inbox that runs each callback's effect once. Its test starts one
// kryptogo-fake server (behind a recording front) in the test process and
// re-executes the test binary as the worker processes:
//
//	scripts/services.sh run redis postgres -- sh -c 'cd internal/scaleproof && KRYPTOGO_SCALEPROOF=1 go test -count=1 -v -timeout 15m .'
//
// Without KRYPTOGO_SCALEPROOF=1 or the servers' addresses
// (KRYPTOGO_REDIS_ADDR and KRYPTOGO_POSTGRES_DSN) the test skips. It is a
// module of its own, so that its Redis and SQL dependencies stay out of the
// core's go.mod.
package scaleproof
