package main

import (
	"errors"
	"os"
	"testing"
)

func TestParseStatTicks(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    uint64
		wantErr bool
	}{
		{
			name: "plain",
			stat: "1234 (faed) S 1 1234 1234 0 -1 4194560 2000 0 0 0 150 37 0 0 20 0 9 0 100 200000000 3000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
			want: 187,
		},
		{
			name: "name with spaces and parentheses",
			stat: "42 (a b) (c)) R 1 42 42 0 -1 0 0 0 0 0 7 8 0 0 20 0 1 0 5 100 10 0\n",
			want: 15,
		},
		{name: "truncated", stat: "42 (x) R 1 2 3", wantErr: true},
		{name: "no name", stat: "42 x R 1 2 3 4 5 6 7 8 9 10 11 12 13", wantErr: true},
		{name: "not a number", stat: "42 (x) R 1 42 42 0 -1 0 0 0 0 0 u 8 0 0\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatTicks([]byte(tt.stat))
			if tt.wantErr {
				if !errors.Is(err, errProcFormat) {
					t.Fatalf("err = %v, want errProcFormat", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    int64
		wantErr bool
	}{
		{name: "found", status: "Name:\tfaed\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\nThreads: 4\n", want: 5120},
		{name: "missing", status: "Name:\tkthreadd\nThreads: 1\n", wantErr: true},
		{name: "odd unit", status: "VmRSS:\t5 MB\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVmRSS([]byte(tt.status))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("got %d, %v; want %d (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// The real files of this process must parse, and CPU time must not go back.
func TestReadOwnProc(t *testing.T) {
	pid := os.Getpid()
	before, err := readCPUTicks(pid)
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for i := range 50_000_000 {
		x += i ^ x
	}
	after, err := readCPUTicks(pid)
	if err != nil || after < before {
		t.Fatalf("ticks %d then %d, %v (x=%d)", before, after, err, x)
	}
	rss, err := readRSSKiB(pid)
	if err != nil || rss <= 0 {
		t.Fatalf("rss %d KiB, %v", rss, err)
	}
	if hz := clockTicks(); hz <= 0 {
		t.Fatalf("clockTicks() = %d", hz)
	}
}
