package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The tests run against real Redis servers (never an emulation: the
// scripts, key expiry and the server's clock are what they check). Their
// addresses come from the environment, as scripts/services.sh sets it:
//
//	KRYPTOGO_REDIS_ADDR           one redis-server (host:port)
//	KRYPTOGO_REDIS_CLUSTER_ADDRS  the nodes of a Redis Cluster (host:port,host:port,...)
//
// Without them the tests skip, unless KRYPTOGO_REQUIRE_SERVERS=1 (as in
// CI), which makes a missing server a failure.
const (
	envAddr         = "KRYPTOGO_REDIS_ADDR"
	envClusterAddrs = "KRYPTOGO_REDIS_CLUSTER_ADDRS"
	envRequire      = "KRYPTOGO_REQUIRE_SERVERS"
)

func needServer(t *testing.T, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		msg := env + " is not set: these tests need a real Redis; run them as\n" +
			"\tscripts/services.sh run -- sh -c 'cd redisstore && go test ./...'"
		if os.Getenv(envRequire) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return v
}

// target is a Redis deployment the store tests run against.
type target struct {
	name string
	dial func(t *testing.T) redis.UniversalClient
}

// targets are the deployments every store test runs against: one server,
// and a cluster of three.
var targets = []target{
	{"server", newServerClient},
	{"cluster", newClusterClient},
}

// newServerClient returns a client of the single server, closed when the
// test ends.
func newServerClient(t *testing.T) redis.UniversalClient {
	rdb := redis.NewClient(&redis.Options{Addr: needServer(t, envAddr)})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// newClusterClient returns a client of the cluster, closed when the test
// ends.
func newClusterClient(t *testing.T) redis.UniversalClient {
	addrs := strings.Split(needServer(t, envClusterAddrs), ",")
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// testPrefix returns a key prefix no other test uses, and deletes the
// keys under it when the test ends.
func testPrefix(t *testing.T, rdb redis.UniversalClient) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "kgtest:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, k := range keysUnder(t, ctx, rdb, prefix) {
			_ = rdb.Del(ctx, k).Err()
		}
	})
	return prefix
}

// keysUnder lists the keys that start with prefix, on every primary of a
// cluster.
func keysUnder(t *testing.T, ctx context.Context, rdb redis.UniversalClient, prefix string) []string {
	t.Helper()
	var keys []string
	scan := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		return iter.Err()
	}
	var err error
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		var mu = make(chan struct{}, 1)
		err = c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			mu <- struct{}{}
			defer func() { <-mu }()
			return scan(ctx, node)
		})
	case *redis.Client:
		err = scan(ctx, c)
	default:
		t.Fatalf("keysUnder: unexpected client %T", rdb)
	}
	if err != nil {
		t.Fatalf("SCAN %s*: %v", prefix, err)
	}
	return keys
}

// newTestStore returns a Store on rdb under a prefix of its own.
func newTestStore(t *testing.T, rdb redis.UniversalClient, opts ...Option) *Store {
	return New(rdb, append([]Option{WithPrefix(testPrefix(t, rdb))}, opts...)...)
}
