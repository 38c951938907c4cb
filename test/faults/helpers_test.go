package faults

import (
	"encoding/pem"
	"io"
	"log"
)

func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
