package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/apache/thrift/lib/go/thrift"
)

// errMessageMemory is returned when decoding one message would take more
// memory than its bytes allow.
var errMessageMemory = errors.New("engine: message decodes to more memory than its size allows")

// The memory a message may decode to: memFactor times the bytes consumed
// for it so far, plus memSlack. The slack lets a small message decode to
// whatever small values it holds; the factor covers a dense message of
// short values (a binary list of rows of 5 short strings allocates about 6
// times its wire size while decoded).
const (
	memFactor = 8
	memSlack  = 64 << 10
)

// Go memory a decoded value takes in the slice it is appended to, by Thrift
// type, on 64-bit platforms: a string header, a slice header, a pointer. A
// struct is charged a fixed guess (the generated argument structs hold a few
// pointers and scalars) and a map its header; a map entry is charged through
// its key and value like slice elements. Decoding a value the generated code
// then skips costs nothing, so charging every value read as kept
// over-estimates, never under. A byte is not charged (ReadByte is left to
// the wrapped protocol, as go vet reserves its name for io.ByteReader): its
// slice grows to no more than 5 bytes per 1-byte element, within the factor.
const (
	slotString  = 16
	slotSlice   = 24
	slotPointer = 8
	sizeMap     = 48
	sizeStruct  = 64
)

// budgetProtocol bounds what decoding one message may allocate by the
// bytes actually consumed for it, never by the sizes it announces: the
// Thrift protocols check a container's announced size only against what
// may still arrive (max_message_size or the frame), and in compact an empty
// string or list is 1 byte on the wire but a 16- or 24-byte header once
// decoded, so a 16 MiB message of them would decode to about 1 GB.
//
// Each value read is charged what decoding it allocates: in a container,
// the arrays the generated code's appends allocate as the container grows
// (modelled on the runtime's growth, counted whole each time, as the heap
// sees them); a string or binary its bytes, as the protocol reads them.
// Once the charges of a message pass memFactor times the bytes consumed for
// it plus memSlack, the read fails with a SIZE_LIMIT protocol exception.
// The count restarts at each ReadMessageBegin. Writes go to the wrapped
// protocol untouched. Not safe for concurrent use; a session owns it.
type budgetProtocol struct {
	thrift.TProtocol
	// t counts the bytes consumed for the current message (frame headers
	// included when framed).
	t       *connTransport
	charged int
	// open holds the structs and containers being read, innermost last.
	open []openValue

	// binary is set when the wrapped protocol is binary, whose message
	// header budgetProtocol reads itself, into name, naming the call with
	// intern (see ReadMessageBegin).
	binary bool
	name   [maxInternedName]byte
	intern func([]byte) string
}

// maxInternedName is the longest method name read without allocating: no
// call of the IDL has a longer one.
const maxInternedName = 64

// openValue is a struct or container being read.
type openValue struct {
	container bool
	n, cap    int // elements read, capacity their slice has grown to (up to smallSlice)
}

func newBudgetProtocol(p thrift.TProtocol, t *connTransport, intern func([]byte) string) *budgetProtocol {
	_, binary := p.(*thrift.TBinaryProtocol)
	return &budgetProtocol{TProtocol: p, t: t, binary: binary && intern != nil, intern: intern}
}

// charge counts n bytes of decoded memory; past the budget it fails.
func (p *budgetProtocol) charge(n int) error {
	p.charged += n
	if p.charged <= memFactor*p.t.used+memSlack {
		return nil
	}
	return thrift.NewTProtocolExceptionWithType(thrift.SIZE_LIMIT, fmt.Errorf(
		"%w: %d bytes decoded from %d read (limit %d× + %d KiB)",
		errMessageMemory, p.charged, p.t.used, memFactor, memSlack>>10))
}

// value charges a value of slot bytes read into the innermost open value:
// nothing in a struct (its fields are in the struct); in a container, the
// arrays its slice grows through. Up to 256 elements append doubles the
// array, charged whole (plus an eighth for size-class rounding) as it is
// allocated; past that it grows by about a quarter, allocating 5 slots per
// element appended, charged per element so a large legit list is not
// refused at the moment its array grows.
func (p *budgetProtocol) value(slot int) error {
	top := len(p.open) - 1
	if top < 0 || !p.open[top].container {
		return nil
	}
	v := &p.open[top]
	v.n++
	switch {
	case v.n > smallSlice:
		return p.charge(5 * slot)
	case v.n > v.cap:
		v.cap = max(2*v.cap, 1)
		return p.charge(v.cap*slot + v.cap*slot/8)
	}
	return nil
}

// smallSlice is the capacity up to which append doubles a slice.
const smallSlice = 256

// ContainerCapacity answers the generated readers (rpc.ContainerCapacity)
// how much of the container just opened to pre-allocate: as much of its
// announced size as half of what is left of the budget can pay for now,
// charged at once. A legit
// container is then allocated once at its real size instead of growing
// through appends, which is what lets a dense message of short values stay
// within the factor; a header that lies gets what the bytes received so far
// pay for and no more, and its appends are charged as they grow past it.
func (p *budgetProtocol) ContainerCapacity(size, slot int) int {
	top := len(p.open) - 1
	if top < 0 || !p.open[top].container || slot <= 0 || size <= 0 {
		return 0
	}
	slot += slot / 8 // size-class rounding, as value charges it
	// Half of what is left, so that a header that lies leaves room for
	// the rest of its message's decoding within the bound.
	left := (memFactor*p.t.used + memSlack - p.charged) / 2
	n := min(size, max(left, 0)/slot)
	p.charged += n * slot
	p.open[top].cap = n
	return n
}

func (p *budgetProtocol) push(container bool) {
	p.open = append(p.open, openValue{container: container})
}

func (p *budgetProtocol) pop() {
	if len(p.open) > 0 {
		p.open = p.open[:len(p.open)-1]
	}
}

func (p *budgetProtocol) ReadMessageBegin(ctx context.Context) (string, thrift.TMessageType, int32, error) {
	p.charged = 0
	p.open = p.open[:0]
	if !p.binary {
		return p.TProtocol.ReadMessageBegin(ctx)
	}
	return p.readBinaryMessageBegin(ctx)
}

// readBinaryMessageBegin is the binary protocol's ReadMessageBegin, strict
// (a version, the type, the name) or not (the name, the type), less the
// string it allocates for every call's name. Errors are worded and typed
// as the binary protocol's.
func (p *budgetProtocol) readBinaryMessageBegin(ctx context.Context) (string, thrift.TMessageType, int32, error) {
	size, err := p.TProtocol.ReadI32(ctx)
	if err != nil {
		return "", 0, 0, thrift.NewTProtocolException(err)
	}
	var typ thrift.TMessageType
	var name string
	if size < 0 {
		typ = thrift.TMessageType(size & 0xff)
		if int64(size)&thrift.VERSION_MASK != thrift.VERSION_1 {
			return "", typ, 0, thrift.NewTProtocolExceptionWithType(thrift.BAD_VERSION, errors.New("Bad version in ReadMessageBegin"))
		}
		n, err := p.TProtocol.ReadI32(ctx)
		if err == nil {
			name, err = p.readName(n)
		}
		if err != nil {
			return "", typ, 0, thrift.NewTProtocolException(err)
		}
	} else {
		// Without a version, size is the name's length; the type follows.
		if name, err = p.readName(size); err != nil {
			return "", 0, 0, thrift.NewTProtocolException(err)
		}
		b, err := p.TProtocol.ReadByte(ctx)
		if err != nil {
			return "", 0, 0, thrift.NewTProtocolException(err)
		}
		typ = thrift.TMessageType(b)
	}
	seq, err := p.TProtocol.ReadI32(ctx)
	if err != nil {
		return name, typ, 0, thrift.NewTProtocolException(err)
	}
	return name, typ, seq, nil
}

// readName reads a method name of n bytes. One up to maxInternedName is
// read into p.name and interned; a longer one, no call's, is read into a
// string of its own, whose length the transport's limit (max_message_size
// or the frame) bounds before anything is allocated for it.
func (p *budgetProtocol) readName(n int32) (string, error) {
	if n < 0 {
		return "", thrift.NewTProtocolExceptionWithType(thrift.NEGATIVE_SIZE, fmt.Errorf("negative method name length %d", n))
	}
	trans := p.TProtocol.Transport()
	if int(n) <= len(p.name) {
		buf := p.name[:n]
		if _, err := io.ReadFull(trans, buf); err != nil {
			return "", err
		}
		return p.intern(buf), nil
	}
	var b strings.Builder
	if _, err := io.CopyN(&b, trans, int64(n)); err != nil {
		return "", err
	}
	return b.String(), nil
}

func (p *budgetProtocol) ReadStructBegin(ctx context.Context) (string, error) {
	name, err := p.TProtocol.ReadStructBegin(ctx)
	if err == nil {
		err = p.opened(slotPointer, sizeStruct, false)
	}
	return name, err
}

func (p *budgetProtocol) ReadStructEnd(ctx context.Context) error {
	p.pop()
	return p.TProtocol.ReadStructEnd(ctx)
}

func (p *budgetProtocol) ReadMapBegin(ctx context.Context) (thrift.TType, thrift.TType, int, error) {
	k, v, size, err := p.TProtocol.ReadMapBegin(ctx)
	if err == nil {
		err = p.opened(slotPointer, sizeMap, true)
	}
	return k, v, size, err
}

func (p *budgetProtocol) ReadMapEnd(ctx context.Context) error {
	p.pop()
	return p.TProtocol.ReadMapEnd(ctx)
}

func (p *budgetProtocol) ReadListBegin(ctx context.Context) (thrift.TType, int, error) {
	elem, size, err := p.TProtocol.ReadListBegin(ctx)
	if err == nil {
		err = p.opened(slotSlice, 0, true)
	}
	return elem, size, err
}

func (p *budgetProtocol) ReadListEnd(ctx context.Context) error {
	p.pop()
	return p.TProtocol.ReadListEnd(ctx)
}

func (p *budgetProtocol) ReadSetBegin(ctx context.Context) (thrift.TType, int, error) {
	elem, size, err := p.TProtocol.ReadSetBegin(ctx)
	if err == nil {
		err = p.opened(slotSlice, 0, true)
	}
	return elem, size, err
}

func (p *budgetProtocol) ReadSetEnd(ctx context.Context) error {
	p.pop()
	return p.TProtocol.ReadSetEnd(ctx)
}

// opened charges a struct or container that starts: its slot in the value
// it is read into, and size bytes of its own; then it is the innermost.
func (p *budgetProtocol) opened(slot, size int, container bool) error {
	err := p.value(slot)
	if err == nil {
		err = p.charge(size)
	}
	p.push(container)
	return err
}

func (p *budgetProtocol) ReadBool(ctx context.Context) (bool, error) {
	v, err := p.TProtocol.ReadBool(ctx)
	return v, p.scalar(err, 1)
}

func (p *budgetProtocol) ReadI16(ctx context.Context) (int16, error) {
	v, err := p.TProtocol.ReadI16(ctx)
	return v, p.scalar(err, 2)
}

func (p *budgetProtocol) ReadI32(ctx context.Context) (int32, error) {
	v, err := p.TProtocol.ReadI32(ctx)
	return v, p.scalar(err, 4)
}

func (p *budgetProtocol) ReadI64(ctx context.Context) (int64, error) {
	v, err := p.TProtocol.ReadI64(ctx)
	return v, p.scalar(err, 8)
}

func (p *budgetProtocol) ReadDouble(ctx context.Context) (float64, error) {
	v, err := p.TProtocol.ReadDouble(ctx)
	return v, p.scalar(err, 8)
}

func (p *budgetProtocol) ReadUUID(ctx context.Context) (thrift.Tuuid, error) {
	v, err := p.TProtocol.ReadUUID(ctx)
	return v, p.scalar(err, len(v))
}

func (p *budgetProtocol) ReadString(ctx context.Context) (string, error) {
	v, err := p.TProtocol.ReadString(ctx)
	if err == nil {
		err = p.value(slotString)
	}
	if err == nil {
		err = p.charge(stringCost(len(v)))
	}
	return v, err
}

func (p *budgetProtocol) ReadBinary(ctx context.Context) ([]byte, error) {
	v, err := p.TProtocol.ReadBinary(ctx)
	if err == nil {
		err = p.value(slotSlice)
	}
	if err == nil {
		err = p.charge(bytesCost(len(v), 1))
	}
	return v, err
}

// bytesCost is what the protocols allocate reading n bytes into copies
// values: up to 512 bytes one buffer of n (rounded up to 8), then buffers
// doubling from 512 up to n, about 2n; a string adds its copy (but a short
// one is read into the protocol's own buffer first, and a 1-byte one is
// not allocated at all).
func bytesCost(n, copies int) int {
	switch {
	case n <= 1:
		return 0
	case n <= 512:
		return copies * ((n + 7) &^ 7)
	}
	return 2*n + (copies-1)*n
}

// stringCost is what the protocols allocate reading a string of n bytes:
// under 64 bytes it is read into the protocol's own buffer and copied once
// into the string (a 1-byte string is not allocated at all); longer, its
// bytes are read into a buffer and copied (see bytesCost).
func stringCost(n int) int {
	if n < 64 {
		return bytesCost(n, 1)
	}
	return bytesCost(n, 2)
}

// scalar charges a scalar of size bytes once it was read.
func (p *budgetProtocol) scalar(err error, size int) error {
	if err != nil {
		return err
	}
	return p.value(size)
}

// Skip skips through this protocol, so what a skipped value holds is
// charged like any other (the wrapped protocol's Skip would read past the
// budget).
func (p *budgetProtocol) Skip(ctx context.Context, fieldType thrift.TType) error {
	return thrift.SkipDefaultDepth(ctx, p, fieldType)
}
