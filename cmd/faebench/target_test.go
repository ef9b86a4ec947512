package main

import "testing"

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    endpoint
		wantErr bool
	}{
		{name: "unix", in: "unix:/tmp/x.sock", want: endpoint{"unix", "/tmp/x.sock"}},
		{name: "tcp", in: "tcp:127.0.0.1:9001", want: endpoint{"tcp", "127.0.0.1:9001"}},
		{name: "tcp ipv6", in: "tcp:[::1]:9001", want: endpoint{"tcp", "[::1]:9001"}},
		{name: "tcp without port", in: "tcp:127.0.0.1", wantErr: true},
		{name: "no network", in: "/tmp/x.sock", wantErr: true},
		{name: "empty path", in: "unix:", wantErr: true},
		{name: "unknown network", in: "udp:127.0.0.1:9", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseEndpoint(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("got %v, %v; want %v (error %v)", got, err, tt.want, tt.wantErr)
			}
			if err == nil && got.String() != tt.in {
				t.Fatalf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

func TestParseEndpoints(t *testing.T) {
	eps, err := parseEndpoints("unix:/a.sock, tcp:127.0.0.1:1")
	if err != nil || len(eps) != 2 || eps[1] != (endpoint{"tcp", "127.0.0.1:1"}) {
		t.Fatalf("got %v, %v", eps, err)
	}
	if _, err := parseEndpoints("unix:/a.sock,"); err == nil {
		t.Fatal("trailing comma accepted")
	}
}
