package engine

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// TestIdleTransportHoldsNoBuffers: a transport holds its reader only from
// the first bytes of a call until it waits for the next, and its writer
// only until the reply is flushed; a call longer than the idle wait's read
// arrives whole.
func TestIdleTransportHoldsNoBuffers(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	tr := newConnTransport(server, newBufferPools(4096), 1<<20, time.Second)
	defer tr.release()

	call := bytes.Repeat([]byte("0123456789"), 300) // past headBytes and past one reader fill
	go client.Write(call)
	if err := tr.awaitHead(); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(call))
	if _, err := io.ReadFull(tr, got); err != nil || !bytes.Equal(got, call) {
		t.Fatalf("read %d bytes of the call (%v), want the %d sent", len(got), err, len(call))
	}
	if tr.w != nil {
		t.Fatal("a writer taken before any reply")
	}
	tr.Write([]byte("reply"))
	tr.Flush(context.Background())
	replied := make(chan []byte)
	go func() {
		b := make([]byte, 5)
		io.ReadFull(client, b)
		replied <- b
	}()
	if err := tr.flushReply(); err != nil {
		t.Fatal(err)
	}
	if b := <-replied; string(b) != "reply" {
		t.Fatalf("reply %q", b)
	}
	if tr.w != nil {
		t.Fatal("the writer kept after its reply was flushed")
	}
	server.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if err := tr.awaitHead(); err == nil {
		t.Fatal("awaitHead on a silent client answered")
	}
	if tr.r != nil || tr.w != nil {
		t.Fatal("an idle transport holds a buffer")
	}
}
