// Package redisstore keeps what the clients and callback handlers of
// several processes must agree on in Redis: idempotency keys
// (kryptogo.IdempotencyStore), processed callbacks (kryptogo.CallbackStore),
// the 429 pause (kryptogo.PauseStore), and rate limiters shared by every
// process (Store.Limiter).
//
//	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
//	store := redisstore.New(rdb, redisstore.WithPrefix("kryptogo:prod:"))
//	client, err := kryptogo.NewClientFromEnv(
//		kryptogo.WithRateLimiter(store.Limiter("api", 20, time.Second)), // 20 req/s for all replicas
//		kryptogo.WithPauseStore(store),                                  // a 429 pauses every replica
//		kryptogo.WithIdempotencyStore(store),                            // a create key is sent once by all
//	)
//	if err != nil {
//		log.Fatal(err)
//	}
//	handler := &kryptogo.CallbackHandler{Store: store /* , OnTask: ... */} // each callback runs once
//
// # Atomic by construction
//
// Every method is one Redis command or one Lua script (run with EVALSHA,
// loaded again by EVAL when the server lost it, as after SCRIPT FLUSH or a
// restart), so two processes can never both win a claim: nothing is read
// into Go, changed and written back. Leases and the limiter run on the
// Redis server's clock (TIME, and key expiry), so processes whose clocks
// disagree still agree on who holds a key and when the next request may
// go. Times are kept to the millisecond (the limiter's to the
// microsecond); results, keys and tokens are binary-safe. Every key
// expires: idempotency keys a retention after their last change (and not
// before a live lease ends), processed callbacks after the callback
// retention, claims with their lease, pauses a minute after their end.
// Each script is safe to run twice (the go-redis client retries a
// command whose connection broke): a second run finds the first's effect
// and changes nothing more, except that a limiter slot reserved twice
// stays unused, which slows the limiter without breaking the limit.
//
// # Servers
//
// A Store works on one server, with Sentinel (redis.NewFailoverClient) and
// on a Redis Cluster (redis.NewClusterClient): every method touches one
// key, named in the script's KEYS, so no command spans two hash slots.
// Redis 5 or later is needed; the tests run on Redis 7. Redis replicates
// asynchronously: when a primary fails, the writes it acknowledged last
// may be lost with it, and a claim made just before a failover may be
// made again after it. Where exactly-once must survive the loss of a
// server, keep idempotency keys and callbacks in PostgreSQL (the sqlstore
// module).
//
// Keys are the prefix (WithPrefix, DefaultPrefix by default), a kind and
// the caller's key: "idem:" and the idempotency key (a hash), "cb:" and
// the callback key, "pause:" and the scope, "rate:" and the limiter's
// name (strings).
//
// # When Redis is down
//
// Idempotency keys and callbacks fail closed: every method returns an
// error wrapping the Redis error, so the client does not send a create it
// cannot record (a second process could send it too) and the callback
// handler answers 503 (the sender delivers again later). Sending without
// the store could create a task twice or approve a customer twice; a
// delay costs less.
//
// The limiter fails open, to a limit kept in the process: while Redis does
// not answer, Wait paces this process alone at the limiter's full rate,
// logs the loss once (WithLogger), tries Redis again every second, and
// logs the recovery. Failing closed would stop every call to the API for
// as long as Redis is down, although the API itself answers; failing open
// costs at most some 429 answers (N processes may together send up to N
// times the limit), which the client already handles by pausing and
// retrying.
//
// The pause store returns its errors (wrapping the Redis error): the
// client, which also keeps the pause of its own process, decides what a
// missing shared pause means.
//
// A server that hangs instead of refusing holds each store method until
// the go-redis client's own timeouts end it (DialTimeout, ReadTimeout,
// WriteTimeout; with ContextTimeoutEnabled set, the context's deadline
// too): go-redis does not stop waiting for an answer when a context is
// cancelled. The limiter's Wait returns as soon as its context ends,
// whatever Redis does.
package redisstore
