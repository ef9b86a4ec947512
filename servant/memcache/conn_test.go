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

// TestGetReplies feeds Get each reply a server could send to its gets, as
// gomemcache parses it and this package classifies it.
func TestGetReplies(t *testing.T) {
	tests := []struct {
		name      string
		reply     string
		wantValue string
		wantFlags uint32
		wantErr   string
	}{
		{name: "value", reply: "VALUE k 42 5\r\nhello\r\nEND\r\n", wantValue: "hello", wantFlags: 42},
		{name: "with cas", reply: "VALUE k 0 1 99\r\nx\r\nEND\r\n", wantValue: "x"}, // gets asks for it
		{name: "miss", reply: "END\r\n", wantErr: "memcache: miss"},
		{name: "other key", reply: "VALUE j 0 1\r\nx\r\nEND\r\n", wantErr: `protocol error: unexpected reply "VALUE j 0 1"`},
		{name: "huge size", reply: "VALUE k 0 99999999999\r\n", wantErr: "protocol error"},
		{name: "over 1 GB", reply: "VALUE k 0 1073741825\r\n", wantErr: `protocol error: unexpected reply "VALUE k 0 1073741825"`},
		{name: "flags too big", reply: "VALUE k 4294967296 1\r\nx\r\nEND\r\n", wantErr: "protocol error"},
		{name: "value without CRLF", reply: "VALUE k 0 1\r\nxyEND\r\n", wantErr: "protocol error"},
		// A second VALUE line (as a multi-get's) is held to the same bound.
		{name: "over 1 GB later", reply: "VALUE k 0 1\r\nx\r\nVALUE k 0 1073741825\r\n", wantErr: "protocol error"},
		{name: "server error", reply: "SERVER_ERROR out of memory\r\n", wantErr: `server answered "SERVER_ERROR out of memory"`},
		{name: "unknown command", reply: "ERROR\r\n", wantErr: `protocol error: unexpected reply "ERROR"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fakeServer(t, replyEach(tt.reply))
			c := newTestClient(t, testPoolConfig(addr))
			v, flags, err := c.Get(context.Background(), "p", "k")
			checkErr(t, err, tt.wantErr)
			if err == nil && (string(v) != tt.wantValue || flags != tt.wantFlags) {
				t.Errorf("Get = %q, %d, want %q, %d", v, flags, tt.wantValue, tt.wantFlags)
			}
			checkKept(t, c, addr, err)
		})
	}
}

// TestIncrementReplies feeds Increment each reply a server could send to its
// incr: a number of up to 64 bits, a miss, an answered error, or garbage.
func TestIncrementReplies(t *testing.T) {
	tests := []struct {
		name    string
		reply   string
		want    int64
		wantErr string
	}{
		{name: "number", reply: "12345\r\n", want: 12345},
		{name: "max uint64", reply: "18446744073709551615\r\n", want: -1},
		{name: "miss", reply: "NOT_FOUND\r\n", wantErr: "memcache: miss"},
		{name: "overflow", reply: "18446744073709551616\r\n", wantErr: "protocol error"},
		{name: "sign", reply: "-1\r\n", wantErr: "protocol error"},
		{name: "space", reply: "1 \r\n", wantErr: "protocol error"},
		{name: "empty", reply: "\r\n", wantErr: "protocol error"},
		{name: "bare newline", reply: "\n", wantErr: "protocol error"},
		{name: "non-numeric", reply: "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
			wantErr: `server answered "CLIENT_ERROR cannot increment or decrement non-numeric value"`},
		{name: "server error", reply: "SERVER_ERROR out of memory\r\n", wantErr: `server answered "SERVER_ERROR out of memory"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fakeServer(t, replyEach(tt.reply))
			c := newTestClient(t, testPoolConfig(addr))
			v, err := c.Increment(context.Background(), "p", "k", 1)
			checkErr(t, err, tt.wantErr)
			if err == nil && v != tt.want {
				t.Errorf("Increment = %d, want %d", v, tt.want)
			}
			checkKept(t, c, addr, err)
		})
	}
}

// checkKept checks the connection of the one call that ended with err was
// kept after an answer (a value, a miss, an answered error), and closed as
// broken, a breaker failure, after anything else.
func checkKept(t *testing.T, c *Client, addr string, err error) {
	t.Helper()
	answered := err == nil || err == ErrMiss || errors.Is(err, ErrServer)
	want := uint64(1) // closed as broken
	if answered {
		want = 0
	}
	st := serverStats(t, c, addr).Pool
	if st.BrokenCloses != want || st.Breaker.ConsecutiveFailures != int(want) {
		t.Errorf("after %v: broken closes %d, breaker failures %d; want %d each",
			err, st.BrokenCloses, st.Breaker.ConsecutiveFailures, want)
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
		{name: "protocol error", err: &protocolError{reply: "BOGUS"}, want: true},
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

// TestValueGuard feeds the guard replies cut at every byte: only a VALUE
// line announcing more than maxValueBytes, or longer than memcached sends,
// is refused, wherever it falls, and a value's bytes are never read as a
// line, whatever they hold.
func TestValueGuard(t *testing.T) {
	long := "VALUE " + strings.Repeat("k", lineBytes) + " 0 1\r\nx\r\nEND\r\n"
	tests := []struct {
		reply   string
		refused bool
	}{
		{"VALUE a 0 5\r\nhello\r\nVALUE b 1 3 77\r\nabc\r\nEND\r\n", false},
		{"VALUE a 0 20\r\nVALUE b 0 2000000000\r\r\nEND\r\n", false}, // the line is the value's bytes
		{"VALUE a 0 1\r\nx\r\nVALUE b 0 1073741824\r\n", false},      // 1 GB exactly
		{"VALUE a 0 1\r\nx\r\nVALUE b 0 1073741825\r\n", true},
		{"VALUE a 0 99999999999999999999999\r\n", true},
		{"VALUE a 0 x\r\n", false}, // gomemcache's to refuse
		{"SERVER_ERROR " + strings.Repeat("e", 2*lineBytes) + "\r\n", false},
		{long, true},
	}
	for _, tt := range tests {
		for cut := 1; cut <= len(tt.reply); cut++ {
			var g valueGuard
			got := g.pass([]byte(tt.reply[:cut])) || g.pass([]byte(tt.reply[cut:]))
			if got != tt.refused {
				t.Fatalf("%.40q cut at %d: refused %v, want %v", tt.reply, cut, got, tt.refused)
			}
		}
	}
}
