package redisstore_test

import (
	"log"
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
