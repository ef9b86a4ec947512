package vbucket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// ErrFormat reports bytes that are not an encoded map.
var ErrFormat = errors.New("vbucket: bad map encoding")

// magic opens every encoded map; its last byte is the format version.
const magic = "VBM\x01"

// MarshalBinary encodes the map for one ZooKeeper znode:
//
//	"VBM" 0x01                            magic and format version
//	uvarint version, vbuckets, replicas, node count
//	per node: uvarint length, bytes       sorted
//	per vbucket: state byte, uvarint active, replicas × uvarint replica
//	4 bytes big-endian crc32 (IEEE) of everything before
//
// Nodes are written as index+1 into the node list, 0 for none, so a map
// over fewer than 128 nodes costs 2+replicas bytes per vbucket and one over
// fewer than 16384 nodes at most 1+2(1+replicas).
//
// Size over 200 nodes of 14-byte addresses (TestEncodedSize): 1024
// vbuckets take 5.5 KB with no replica, 6.9 KB with one, 8.3 KB with two;
// 16384 vbuckets take 42 KB, 64 KB and 87 KB. All fit ZooKeeper's default
// jute.maxbuffer of 1 MiB many times over. The limit is reached only far
// beyond: 65536 vbuckets with two replicas need 7 bytes per vbucket (460
// KB) below 16384 nodes and 10 above, plus about 20 bytes a node, so near
// 20,000 nodes a map would not fit. One past the limit would have to be
// split over several znodes (one per range of vbuckets, written together
// in one multi op with version checks), or jute.maxbuffer raised on every
// server and client alike.
func (m *Map) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, m.encodedSizeHint())
	b = append(b, magic...)
	b = binary.AppendUvarint(b, m.version)
	b = binary.AppendUvarint(b, uint64(m.Len()))
	b = binary.AppendUvarint(b, uint64(m.replicas))
	b = binary.AppendUvarint(b, uint64(len(m.nodes)-1))
	for _, n := range m.nodes[1:] {
		b = binary.AppendUvarint(b, uint64(len(n)))
		b = append(b, n...)
	}
	for v := range m.Len() {
		b = append(b, byte(m.state[v]))
		b = binary.AppendUvarint(b, uint64(m.active[v]))
		for _, r := range m.replicaSlots(v) {
			b = binary.AppendUvarint(b, uint64(r))
		}
	}
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b)), nil
}

func (m *Map) encodedSizeHint() int {
	n := 32 + m.Len()*(1+2*(1+m.replicas))
	for _, s := range m.nodes {
		n += 2 + len(s)
	}
	return n
}

// Decode parses a map written by MarshalBinary, checking its checksum and
// every rule New and Builder.Set enforce.
func Decode(data []byte) (*Map, error) {
	if len(data) < len(magic)+4 || string(data[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: no map header", ErrFormat)
	}
	body := data[:len(data)-4]
	if crc32.ChecksumIEEE(body) != binary.BigEndian.Uint32(data[len(body):]) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrFormat)
	}
	d := decoder{buf: body[len(magic):]}
	version, n, replicas, nodes := d.uvarint(), d.uvarint(), d.uvarint(), d.uvarint()
	if d.err != nil || n < 1 || n > MaxVBuckets || replicas > MaxReplicas || nodes > MaxNodes {
		return nil, fmt.Errorf("%w: header", ErrFormat)
	}
	m, _ := New(int(n), int(replicas))
	b := m.Edit()
	b.version = version - 1 // Build adds one
	names := make([]string, nodes+1)
	for i := 1; i < len(names); i++ {
		names[i] = string(d.bytes(d.uvarint()))
	}
	for v := range m.Len() {
		if err := b.Set(v, d.entry(names, m.replicas)); err != nil || d.err != nil {
			return nil, fmt.Errorf("%w: vbucket %d: %w", ErrFormat, v, errors.Join(d.err, err))
		}
	}
	if d.err == nil && len(d.buf) != 0 {
		d.err = errors.New("trailing bytes")
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, d.err)
	}
	return b.Build(), nil
}

// decoder reads from buf, keeping the first error.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	x, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.buf = d.buf[n:]
	return x
}

func (d *decoder) bytes(n uint64) []byte {
	if n > uint64(len(d.buf)) {
		d.fail("short node name")
		return nil
	}
	b := d.buf[:n]
	d.buf = d.buf[n:]
	return b
}

// entry reads one vbucket's entry naming nodes from names.
func (d *decoder) entry(names []string, replicas int) Entry {
	st := d.bytes(1)
	name := func() string {
		i := d.uvarint()
		if i >= uint64(len(names)) {
			d.fail("node index out of range")
			return ""
		}
		return names[i]
	}
	var e Entry
	if len(st) == 1 {
		e.State = State(st[0])
	}
	e.Active = name()
	for range replicas {
		if r := name(); r != "" {
			e.Replicas = append(e.Replicas, r)
		}
	}
	return e
}

func (d *decoder) fail(msg string) {
	if d.err == nil {
		d.err = errors.New(msg)
	}
}
