//go:build !unix

package logging

import "os"

func reserveStdout() (*os.File, bool) { return nil, false }

func pointStdout(bool) {}
