package memcache

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseUint(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  uint64
		want uint64
		ok   bool
	}{
		{name: "zero", in: "0", max: 10, want: 0, ok: true},
		{name: "number", in: "12345", max: 1 << 32, want: 12345, ok: true},
		{name: "max uint64", in: "18446744073709551615", max: 1<<64 - 1, want: 1<<64 - 1, ok: true},
		{name: "overflow", in: "18446744073709551616", max: 1<<64 - 1},
		{name: "above max", in: "11", max: 10},
		{name: "empty", in: "", max: 10},
		{name: "sign", in: "-1", max: 10},
		{name: "space", in: "1 ", max: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseUint([]byte(tt.in), tt.max)
			if got != tt.want && tt.ok || ok != tt.ok {
				t.Errorf("parseUint(%q) = %d, %v, want %d, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseValueLine(t *testing.T) {
	tests := []struct {
		name      string
		line      string
		wantFlags uint32
		wantSize  int
		wantErr   string
	}{
		{name: "value", line: "VALUE k 42 5", wantFlags: 42, wantSize: 5},
		{name: "with cas", line: "VALUE k 0 1 99", wantErr: "protocol error"},
		{name: "other key", line: "VALUE j 0 1", wantErr: "protocol error"},
		{name: "huge size", line: "VALUE k 0 99999999999", wantErr: "protocol error"},
		{name: "flags too big", line: "VALUE k 4294967296 1", wantErr: "protocol error"},
		{name: "server error", line: "SERVER_ERROR out of memory", wantErr: `server answered "SERVER_ERROR out of memory"`},
		{name: "unknown command", line: "ERROR", wantErr: "protocol error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flags, size, err := parseValueLine([]byte(tt.line), "k")
			checkErr(t, err, tt.wantErr)
			if err == nil && (flags != tt.wantFlags || size != tt.wantSize) {
				t.Errorf("parseValueLine(%q) = %d, %d, want %d, %d", tt.line, flags, size, tt.wantFlags, tt.wantSize)
			}
		})
	}
}

func TestIsBroken(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "miss", err: ErrMiss, want: false},
		{name: "answered error", err: &answerError{"CLIENT_ERROR cannot increment"}, want: false},
		{name: "protocol error", err: &protocolError{"BOGUS"}, want: true},
		{name: "timeout", err: os.ErrDeadlineExceeded, want: true},
		{name: "eof", err: io.EOF, want: true},
		{name: "closed", err: net.ErrClosed, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isBroken(tt.err); got != tt.want {
				t.Errorf("isBroken(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// fakeServer listens on loopback and runs serve on every connection; it
// closes the listener and the connections when the test ends.
func fakeServer(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { serve(c) })
		}
	})
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// replyEach answers every command line with reply, skipping data blocks of
// storage commands.
func replyEach(reply string) func(c net.Conn) {
	return func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if f := strings.Fields(line); len(f) == 5 && (f[0] == "set" || f[0] == "add") {
				r.ReadString('\n') // the data block (short in these tests)
			}
			if _, err := io.WriteString(c, reply); err != nil {
				return
			}
		}
	}
}

func TestGarbledReplyClosesConnection(t *testing.T) {
	addr := fakeServer(t, replyEach("BOGUS\r\n"))
	c := newTestClient(t, testPoolConfig(addr))
	_, _, err := c.Get(context.Background(), "p", "k")
	checkErr(t, err, "memcache: "+addr+`: protocol error: unexpected reply "BOGUS"`)
	st := serverStats(t, c, addr)
	if st.Pool.BrokenCloses != 1 || st.Errors != 1 || st.Pool.Breaker.ConsecutiveFailures != 1 {
		t.Errorf("after a garbled reply: broken closes %d, errors %d, breaker failures %d; want 1 each",
			st.Pool.BrokenCloses, st.Errors, st.Pool.Breaker.ConsecutiveFailures)
	}
}

func TestServerErrorKeepsConnection(t *testing.T) {
	addr := fakeServer(t, replyEach("SERVER_ERROR out of memory storing object\r\n"))
	c := newTestClient(t, testPoolConfig(addr))
	for range 3 {
		err := c.Set(context.Background(), "p", "k", []byte("v"), 0, 0)
		if !errors.Is(err, ErrServer) {
			t.Fatalf("Set = %v, want an error wrapping ErrServer", err)
		}
		checkErr(t, err, `memcache: `+addr+`: server answered "SERVER_ERROR out of memory storing object"`)
	}
	st := serverStats(t, c, addr)
	if st.Pool.Dials != 1 || st.Pool.BrokenCloses != 0 || st.ServerErrors != 3 || st.Errors != 0 {
		t.Errorf("dials %d, broken closes %d, server errors %d, errors %d; want 1, 0, 3, 0",
			st.Pool.Dials, st.Pool.BrokenCloses, st.ServerErrors, st.Errors)
	}
}

func TestSilentServerHitsIOTimeout(t *testing.T) {
	// Accepts, reads everything, never answers.
	addr := fakeServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	pc := testPoolConfig(addr)
	pc.IOTimeout = 150 * time.Millisecond
	c := newTestClient(t, pc)
	start := time.Now()
	_, _, err := c.Get(context.Background(), "p", "k")
	took := time.Since(start)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Get = %v, want a deadline error", err)
	}
	checkErr(t, err, "memcache: "+addr+": ")
	if took < pc.IOTimeout || took > pc.IOTimeout+time.Second {
		t.Errorf("Get took %v, want about the I/O timeout %v", took, pc.IOTimeout)
	}
	if st := serverStats(t, c, addr); st.Pool.BrokenCloses != 1 || st.Pool.Open != 0 {
		t.Errorf("timed-out connection not closed: broken closes %d, open %d", st.Pool.BrokenCloses, st.Pool.Open)
	}
}
