package redisstore_test

import (
	"context"
	"log"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/redisstore"
)

// Every replica builds its client on the same Redis and prefix: the rate
// limit is then shared by all of them.
func Example() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	store := redisstore.New(rdb, redisstore.WithPrefix("kryptogo:prod:"))

	client, err := kryptogo.NewClientFromEnv(
		kryptogo.WithRateLimiter(store.Limiter("api", 20, time.Second)), // 20 requests/s across replicas
	)
	if err != nil {
		log.Fatal(err)
	}
	_ = client
}

// Every replica wires its client and its callback handler to the same
// Redis: a create with an IdempotencyKey is sent once across them, a 429
// one replica gets pauses them all, and a callback runs its function once.
func Example_replicas() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	store := redisstore.New(rdb, redisstore.WithPrefix("kryptogo:prod:"))
	client, err := kryptogo.NewClientFromEnv(
		kryptogo.WithIdempotencyStore(store),                            // a key is sent once across replicas
		kryptogo.WithPauseStore(store),                                  // a 429 pauses every replica
		kryptogo.WithRateLimiter(store.Limiter("api", 20, time.Second)), // 20 requests/s in all
	)
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("/kryptogo/callback", &kryptogo.CallbackHandler{
		Confirm: client,
		Store:   store, // a callback runs OnTask once across replicas
		OnTask:  func(ctx context.Context, t *kryptogo.TaskSummary) error { return nil },
	})
}
