package kryptogo

import (
	"flag"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// waitingParallelism is how many parallel tests run at once unless
// go test -parallel says otherwise. Most of this package's parallel tests
// wait rather than compute: a Retry-After second, per-attempt timeouts on
// loopback sockets. At the default (GOMAXPROCS: 2 on the CI machine), two
// such tests hold every slot while the CPU idles.
const waitingParallelism = 8

func TestMain(m *testing.M) {
	flag.Parse()
	if !flagGiven("test.parallel") {
		_ = flag.Set("test.parallel", strconv.Itoa(max(waitingParallelism, runtime.GOMAXPROCS(0))))
	}
	os.Exit(m.Run())
}

// flagGiven reports whether the command line set the named flag.
func flagGiven(name string) bool {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}
