package main

import "encoding/binary"

// reply is an encoded strict-binary reply message whose sequence id, at
// byte seqAt, is patched for each request.
type reply struct {
	msg   []byte
	seqAt int
}

// newReply encodes a REPLY to method name whose result struct holds field 0
// (success) of type t, encoded as value.
func newReply(name string, t byte, value []byte) reply {
	r := newHeader(name, msgReply)
	r.msg = append(r.msg, t, 0, 0)
	r.msg = append(r.msg, value...)
	r.msg = append(r.msg, 0) // stop
	return r
}

// newUnknownMethod encodes the TApplicationException a server answers for
// a method it does not know: field 1 message, field 2 type.
func newUnknownMethod(name []byte) reply {
	r := newHeader(string(name), msgException)
	r.msg = append(r.msg, tString, 0, 1)
	r.msg = appendString(r.msg, []byte("unknown method "+string(name)))
	r.msg = append(r.msg, tI32, 0, 2)
	r.msg = binary.BigEndian.AppendUint32(r.msg, appExcUnknownMethod)
	r.msg = append(r.msg, 0) // stop
	return r
}

// newHeader encodes a message header with sequence id 0.
func newHeader(name string, typ uint32) reply {
	msg := binary.BigEndian.AppendUint32(nil, version1|typ)
	msg = appendString(msg, []byte(name))
	seqAt := len(msg)
	msg = binary.BigEndian.AppendUint32(msg, 0)
	return reply{msg: msg, seqAt: seqAt}
}

// appendString appends a binary-protocol string: a 4-byte length and bytes.
func appendString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}
