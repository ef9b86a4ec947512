package engine

import (
	"errors"
	"fmt"

	"github.com/apache/thrift/lib/go/thrift"
)

// errUnknownProtocol is returned for a first message that is neither binary
// nor compact, framed or not.
var errUnknownProtocol = errors.New("engine: unrecognized protocol")

// First bytes of a Thrift message: the strict binary protocol starts with
// the version word 0x8001, the compact protocol with its id 0x82. A framed
// message puts a 4-byte big-endian length before either. The non-strict
// binary protocol (what the original faed's default protocol factory read)
// starts with the method name's 4-byte length, then the name.
const (
	binaryFirstByte  = 0x80
	compactFirstByte = 0x82
	frameHeaderLen   = 4
)

// Kind names how a connection speaks; it shows in session stats.
type Kind string

const (
	KindBinary        Kind = "binary"
	KindCompact       Kind = "compact"
	KindFramedBinary  Kind = "framed-binary"
	KindFramedCompact Kind = "framed-compact"
)

// detect peeks at the first bytes of a connection without consuming them
// and tells which transport and protocol the client speaks.
func detect(t *connTransport) (Kind, error) {
	first, err := t.r.Peek(1)
	if err != nil {
		return "", err
	}
	switch first[0] {
	case binaryFirstByte:
		return KindBinary, nil
	case compactFirstByte:
		return KindCompact, nil
	}
	head, err := t.r.Peek(frameHeaderLen + 1)
	if err != nil {
		return "", err
	}
	switch head[frameHeaderLen] {
	case binaryFirstByte:
		return KindFramedBinary, nil
	case compactFirstByte:
		return KindFramedCompact, nil
	}
	if first[0] == 0 && isNameByte(head[frameHeaderLen]) {
		return KindBinary, nil // non-strict: a name length, then the name
	}
	return "", fmt.Errorf("%w: first bytes % x", errUnknownProtocol, head)
}

// isNameByte reports whether b can start a method name.
func isNameByte(b byte) bool {
	return b == '_' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}

// protocols builds the input and output protocol of a session for kind.
// Both directions share the transport, so a framed reply goes out framed.
// The input side bounds what a message decodes to by its bytes, and names
// the calls it reads with intern's strings (budgetProtocol).
func protocols(kind Kind, t *connTransport, cfg *thrift.TConfiguration, intern func([]byte) string) (in, out thrift.TProtocol) {
	var trans thrift.TTransport = t
	if kind == KindFramedBinary || kind == KindFramedCompact {
		trans = newFramedTransport(t, int(cfg.GetMaxFrameSize()))
	}
	var p thrift.TProtocol
	if kind == KindCompact || kind == KindFramedCompact {
		p = thrift.NewTCompactProtocolConf(trans, cfg)
	} else {
		p = thrift.NewTBinaryProtocolConf(trans, cfg)
	}
	return newBudgetProtocol(p, t, intern), p
}
