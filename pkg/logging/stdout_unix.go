//go:build unix

package logging

import (
	"os"
	"syscall"
)

func reserveStdout() (*os.File, bool) {
	fd, err := syscall.Dup(1)
	if err != nil {
		return nil, false
	}
	syscall.CloseOnExec(fd)
	if err := dup2(2, 1); err != nil {
		_ = syscall.Close(fd)
		return nil, false
	}
	return os.NewFile(uintptr(fd), "/dev/stdout"), true
}

func pointStdout(verbose bool) {
	if verbose {
		_ = dup2(2, 1)
		return
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return
	}
	defer null.Close()
	_ = dup2(int(null.Fd()), 1)
}
