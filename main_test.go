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
// such tests hold every slot while the CPU idles. A run of the package
// uses about 4 s of CPU; it took 13 s with 8 slots and 7.5 s with 32 on 2
// cores (and stays green with 32 under -race).
const waitingParallelism = 32

// stress runs the chaos and flood tests at full size and the memory
// store's conformance on real time as well. A plain go test ./... runs
// smaller chaos and floods (the same checks, fewer keys and callbacks);
// .ci/run passes -stress.
var stress = flag.Bool("stress", false, "run the chaos and flood tests at full size, and the memory store's conformance on real time too (.ci/run sets it)")

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
