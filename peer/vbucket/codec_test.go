package vbucket

import (
	"errors"
	"testing"
)

func TestEncodeRoundTrip(t *testing.T) {
	m, _ := New(1024, 2)
	m = NewPlan(m, nodeNames(0, 9)).Target
	b := m.Edit()
	if err := b.Set(5, Entry{Active: m.Active(5), State: Pending}); err != nil {
		t.Fatal(err)
	}
	m = b.Build()
	data, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version() != m.Version() || got.Replicas() != 2 || !sameEntries(got, m) || got.State(5) != Pending {
		t.Fatal("decoded map differs from the encoded one")
	}
	for _, bad := range [][]byte{nil, data[:len(data)-1], append([]byte("VBM\x02"), data[4:]...)} {
		if _, err := Decode(bad); !errors.Is(err, ErrFormat) {
			t.Errorf("Decode of %d damaged bytes = %v, want ErrFormat", len(bad), err)
		}
	}
	flipped := append([]byte(nil), data...)
	flipped[len(flipped)/2] ^= 1
	if _, err := Decode(flipped); !errors.Is(err, ErrFormat) {
		t.Errorf("Decode with a flipped bit = %v, want ErrFormat", err)
	}
}

// TestEncodedSize reports the znode size of maps over 200 nodes and checks
// they fit ZooKeeper's default jute.maxbuffer (1 MiB).
func TestEncodedSize(t *testing.T) {
	for _, n := range []int{1024, 16384} {
		for r := range MaxReplicas + 1 {
			m, _ := New(n, r)
			m = NewPlan(m, nodeNames(0, 200)).Target
			data, _ := m.MarshalBinary()
			t.Logf("%d vbuckets, %d replicas, 200 nodes: %d bytes", n, r, len(data))
			if len(data) >= 1<<20 {
				t.Errorf("%d vbuckets, %d replicas: %d bytes, over jute.maxbuffer", n, r, len(data))
			}
		}
	}
}
