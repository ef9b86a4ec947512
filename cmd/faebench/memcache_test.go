package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestReadGetReply(t *testing.T) {
	long := strings.Repeat("x", 5000)
	tests := []struct {
		name      string
		in        string
		wantValue string
		wantFlags uint32
		wantErr   error // nil, errMcMiss, errMcProtocol, io.ErrUnexpectedEOF
		serverErr bool  // want an *mcServerError
		rest      string
	}{
		{name: "hit", in: "VALUE k 0 5\r\nhello\r\nEND\r\n", wantValue: "hello"},
		{name: "hit with flags", in: "VALUE k 4294967295 3\r\nabc\r\nEND\r\n", wantValue: "abc", wantFlags: 1<<32 - 1},
		{name: "cas field", in: "VALUE k 0 2 99\r\nab\r\nEND\r\n", wantValue: "ab"},
		{name: "empty value", in: "VALUE k 0 0\r\n\r\nEND\r\n", wantValue: ""},
		{name: "value holding crlf", in: "VALUE k 0 6\r\na\r\nEND\r\nEND\r\n", wantValue: "a\r\nEND"},
		{name: "large value", in: "VALUE k 0 5000\r\n" + long + "\r\nEND\r\n", wantValue: long},
		{name: "leaves the next reply", in: "END\r\nVALUE k", wantErr: errMcMiss, rest: "VALUE k"},
		{name: "miss", in: "END\r\n", wantErr: errMcMiss},
		{name: "error", in: "ERROR\r\n", serverErr: true},
		{name: "client error", in: "CLIENT_ERROR line too long\r\n", serverErr: true},
		{name: "server error", in: "SERVER_ERROR out of memory\r\n", serverErr: true},
		{name: "other key", in: "VALUE j 0 1\r\na\r\nEND\r\n", wantErr: errMcProtocol},
		{name: "bad flags", in: "VALUE k x 1\r\na\r\nEND\r\n", wantErr: errMcProtocol},
		{name: "flags past 32 bits", in: "VALUE k 4294967296 1\r\na\r\nEND\r\n", wantErr: errMcProtocol},
		{name: "negative length", in: "VALUE k 0 -1\r\nEND\r\n", wantErr: errMcProtocol},
		{name: "length past the limit", in: "VALUE k 0 " + strconv.Itoa(maxMcValue+1) + "\r\n", wantErr: errMcProtocol},
		{name: "too few fields", in: "VALUE k 0\r\n", wantErr: errMcProtocol},
		{name: "too many fields", in: "VALUE k 0 1 2 3\r\na\r\nEND\r\n", wantErr: errMcProtocol},
		{name: "data longer than announced", in: "VALUE k 0 1\r\nab\r\nEND\r\n", wantErr: errMcProtocol},
		{name: "no END", in: "VALUE k 0 1\r\na\r\nVALUE k 0 1\r\n", wantErr: errMcProtocol},
		{name: "bare newline", in: "END\n", wantErr: errMcProtocol},
		{name: "garbage", in: "HELLO\r\n", wantErr: errMcProtocol},
		{name: "line past the buffer", in: "VALUE " + long + "\r\n", wantErr: errMcProtocol},
		{name: "cut in the header", in: "VALUE k 0", wantErr: io.ErrUnexpectedEOF},
		{name: "cut in the data", in: "VALUE k 0 5\r\nhel", wantErr: io.ErrUnexpectedEOF},
		{name: "cut before END", in: "VALUE k 0 1\r\na\r\n", wantErr: io.ErrUnexpectedEOF},
		{name: "nothing", in: "", wantErr: io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bufio.NewReaderSize(strings.NewReader(tt.in), clientBufSize)
			value, flags, err := readGetReply(r, "k", nil)
			var se *mcServerError
			switch {
			case tt.serverErr:
				if !errors.As(err, &se) || connBroken(err) {
					t.Fatalf("err = %v, want a server error that keeps the connection", err)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			case err != nil || string(value) != tt.wantValue || flags != tt.wantFlags:
				t.Fatalf("got %q flags %d, %v; want %q flags %d", value, flags, err, tt.wantValue, tt.wantFlags)
			}
			if tt.rest != "" {
				if rest, _ := io.ReadAll(r); string(rest) != tt.rest {
					t.Fatalf("left %q unread, want %q", rest, tt.rest)
				}
			}
		})
	}
}

// A get reuses the buffer of the previous value when it is big enough.
func TestReadGetReplyReusesBuffer(t *testing.T) {
	buf := make([]byte, 0, 64)
	r := bufio.NewReader(strings.NewReader("VALUE k 0 3\r\nabc\r\nEND\r\n"))
	value, _, err := readGetReply(r, "k", buf)
	if err != nil || string(value) != "abc" {
		t.Fatalf("got %q, %v", value, err)
	}
	if &value[0] != &buf[:1][0] {
		t.Fatal("the value was read into a new buffer")
	}
}

func TestReadSetReply(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantErr   error
		serverErr bool
	}{
		{name: "stored", in: "STORED\r\n"},
		{name: "not stored", in: "NOT_STORED\r\n", wantErr: errMcProtocol},
		{name: "server error", in: "SERVER_ERROR object too large for cache\r\n", serverErr: true},
		{name: "cut", in: "STOR", wantErr: io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := readSetReply(bufio.NewReader(strings.NewReader(tt.in)))
			var se *mcServerError
			switch {
			case tt.serverErr:
				if !errors.As(err, &se) {
					t.Fatalf("err = %v, want a server error", err)
				}
			case !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil):
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// The client writes exactly the commands memcached's text protocol has.
func TestMcConnWrites(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	c := newMcConn(client, time.Second)
	got := make(chan string, 1)
	go func() {
		defer server.Close()
		r := bufio.NewReader(server)
		set, _ := r.ReadString('\n')
		data, _ := r.ReadString('\n')
		server.Write([]byte("STORED\r\n"))
		get, _ := r.ReadString('\n')
		server.Write([]byte("VALUE key 5 3\r\nabc\r\nEND\r\n"))
		got <- set + data + get
	}()
	if err := c.set("key", 5, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	value, flags, err := c.get("key")
	if err != nil || string(value) != "abc" || flags != 5 {
		t.Fatalf("get: %q flags %d, %v", value, flags, err)
	}
	if want := "set key 5 0 3\r\nabc\r\nget key\r\n"; <-got != want {
		t.Fatalf("wrote a different request than %q", want)
	}
}

// fakeMemcached serves get and set from a map: just enough for a load run.
type fakeMemcached struct {
	mu    sync.Mutex // guards items
	items map[string]string
}

// startFakeMemcached serves on a unix socket until the test ends.
func startFakeMemcached(t *testing.T) endpoint {
	t.Helper()
	ep := endpoint{"unix", filepath.Join(t.TempDir(), "mc.sock")}
	ln, err := listen(ep)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f := &fakeMemcached{items: map[string]string{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return ep
}

func (f *fakeMemcached) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		reply, ok := f.answer(strings.Fields(line), r)
		if !ok {
			return
		}
		if _, err := io.WriteString(c, reply); err != nil {
			return
		}
	}
}

func (f *fakeMemcached) answer(cmd []string, r *bufio.Reader) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case len(cmd) == 2 && cmd[0] == "get":
		v, ok := f.items[cmd[1]]
		if !ok {
			return "END\r\n", true
		}
		return "VALUE " + cmd[1] + " 0 " + strconv.Itoa(len(v)) + "\r\n" + v + "\r\nEND\r\n", true
	case len(cmd) == 5 && cmd[0] == "set":
		n, err := strconv.Atoi(cmd[4])
		data := make([]byte, n+2)
		if err != nil || func() error { _, err := io.ReadFull(r, data); return err }() != nil {
			return "", false
		}
		f.items[cmd[1]] = string(data[:n])
		return "STORED\r\n", true
	}
	return "ERROR\r\n", true
}

func TestRunLoadMemcache(t *testing.T) {
	ep := startFakeMemcached(t)
	for _, pattern := range []string{"persistent", "php"} {
		t.Run(pattern, func(t *testing.T) {
			cfg := testLoadConfig(ep, "get", pattern)
			cfg.wire.protocol = "memcache"
			r, err := runLoad(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if r.Errors != 0 || r.Calls == 0 || r.Key != "k" {
				t.Fatalf("calls %d errors %d key %q (%s)", r.Calls, r.Errors, r.Key, r.FirstError)
			}
		})
	}
}

// A value of another size than the run stored is an error that keeps the
// connection.
func TestRunLoadMemcacheWrongSize(t *testing.T) {
	ep := startFakeMemcached(t)
	c, err := dial(ep, wire{transport: "buffered", protocol: "memcache"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := testLoadConfig(ep, "get", "persistent")
	cfg.wire.protocol = "memcache"
	if err := c.mc.set(cfg.key, 0, []byte("short")); err != nil {
		t.Fatal(err)
	}
	fn, err := newCallFunc(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := fn(c, nil); !errors.Is(err, errValueSize) || connBroken(err) {
		t.Fatalf("err = %v, want a size error that keeps the connection", err)
	}
}

// The client against a real memcached (Debian's), when it is installed.
func TestMcConnRealMemcached(t *testing.T) {
	bin, err := exec.LookPath("memcached")
	if err != nil {
		t.Skip("memcached is not installed (apt-get install memcached); the fake server tests cover the protocol")
	}
	sock := filepath.Join(t.TempDir(), "mc.sock")
	args := []string{"-s", sock, "-U", "0", "-t", "1"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root")
	}
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ep := endpoint{"unix", sock}
	if err := waitReady(ep, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	c, err := dial(ep, wire{transport: "buffered", protocol: "memcache"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.mc.get("absent"); !errors.Is(err, errMcMiss) {
		t.Fatalf("get of a missing key: %v, want a miss", err)
	}
	value := strings.Repeat("v", 3000) // past the reader's buffer
	if err := c.mc.set("k", 42, []byte(value)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got, flags, err := c.mc.get("k")
		if err != nil || string(got) != value || flags != 42 {
			t.Fatalf("get: %d bytes flags %d, %v", len(got), flags, err)
		}
	}
	var se *mcServerError
	if err := c.mc.set(strings.Repeat("k", 251), 0, nil); !errors.As(err, &se) {
		t.Fatalf("set of a 251-byte key: %v, want a server error", err)
	}
}
