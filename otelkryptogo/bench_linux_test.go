package otelkryptogo_test

import (
	"syscall"
	"time"
	"unsafe"
)

// clockProcessCPUTime is CLOCK_PROCESS_CPUTIME_ID: the CPU time of every
// thread of the process, to the nanosecond.
const clockProcessCPUTime = 2

// processCPU returns the CPU time the process has used: unlike the time a
// call takes, it does not grow when other processes hold the cores.
func processCPU() (time.Duration, bool) {
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockProcessCPUTime, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
