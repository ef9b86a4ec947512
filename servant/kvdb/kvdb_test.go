package kvdb

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func testConfig(t testing.TB) Config {
	cfg := DefaultConfig()
	cfg.Path = filepath.Join(t.TempDir(), "data", "faed.kvdb")
	return cfg
}

func openDB(t testing.TB, cfg Config) *DB {
	t.Helper()
	db, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"empty path", func(c *Config) { c.Path = "" }, "path: must not be empty"},
		{"zero key bytes", func(c *Config) { c.MaxKeyBytes = 0 }, "max_key_bytes: must be between 1 and 32766, got 0"},
		{"longest key", func(c *Config) { c.MaxKeyBytes = 32766 }, ""},
		{"key past bbolt", func(c *Config) { c.MaxKeyBytes = 32767 }, "max_key_bytes: must be between 1 and 32766, got 32767"},
		{"default vbuckets", func(c *Config) { c.VBuckets = 0 }, ""},
		{"most vbuckets", func(c *Config) { c.VBuckets = 65536 }, ""},
		{"too many vbuckets", func(c *Config) { c.VBuckets = 65537 },
			"vbuckets: must be between 1 and 65536 (0: 1024), got 65537"},
		{"negative vbuckets", func(c *Config) { c.VBuckets = -1 },
			"vbuckets: must be between 1 and 65536 (0: 1024), got -1"},
		{"zero value bytes", func(c *Config) { c.MaxValueBytes = 0 },
			"max_value_bytes: must be between 1 and 1073741824, got 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mutate(&cfg)
			got := ""
			if err := cfg.Validate(); err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Fatalf("Validate() = %q, want %q", got, tt.wantErr)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxKeyBytes, cfg.MaxValueBytes = 8, 16
	db := openDB(t, cfg)
	tests := []struct {
		name  string
		key   []byte
		value []byte
		want  error
	}{
		{"empty key", nil, []byte("v"), ErrEmptyKey},
		{"zero-length key", []byte{}, []byte("v"), ErrEmptyKey},
		{"key too long", []byte("123456789"), []byte("v"), ErrKeyTooLong},
		{"longest key", []byte("12345678"), []byte("v"), nil},
		{"value too large", []byte("k"), make([]byte, 17), ErrValueTooLarge},
		{"largest value", []byte("k"), make([]byte, 16), nil},
		{"empty value", []byte("e"), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := db.Set(tt.key, tt.value); !errors.Is(err, tt.want) {
				t.Fatalf("Set error = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := db.Get(nil); !errors.Is(err, ErrEmptyKey) {
		t.Fatalf("Get(nil) error = %v, want ErrEmptyKey", err)
	}
	if _, err := db.Del([]byte("123456789")); !errors.Is(err, ErrKeyTooLong) {
		t.Fatalf("Del(long) error = %v, want ErrKeyTooLong", err)
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		sets   [][2]string // key, value in order
		key    string
		want   string
		absent bool
	}{
		{"one", [][2]string{{"a", "1"}}, "a", "1", false},
		{"overwrite", [][2]string{{"a", "1"}, {"a", "two"}}, "a", "two", false},
		{"empty value", [][2]string{{"a", ""}}, "a", "", false},
		{"binary", [][2]string{{"\x00\xff", "\x00\x01\x02"}}, "\x00\xff", "\x00\x01\x02", false},
		{"missing", [][2]string{{"a", "1"}}, "b", "", true},
		{"prefix is not the key", [][2]string{{"ab", "1"}}, "a", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openDB(t, testConfig(t))
			for _, kv := range tt.sets {
				mustSet(t, db, kv[0], kv[1])
			}
			v, err := db.Get([]byte(tt.key))
			if tt.absent != errors.Is(err, ErrNotFound) || (!tt.absent && err != nil) {
				t.Fatalf("Get error = %v, want absent=%v", err, tt.absent)
			}
			if string(v) != tt.want {
				t.Fatalf("Get = %q, want %q", v, tt.want)
			}
		})
	}
}

func TestGetReturnsCopy(t *testing.T) {
	db := openDB(t, testConfig(t))
	mustSet(t, db, "k", "value")
	v, _ := db.Get([]byte("k"))
	copy(v, "XXXXX")
	if again, _ := db.Get([]byte("k")); string(again) != "value" {
		t.Fatalf("changing a returned value changed the store: %q", again)
	}
}

func TestPersistsAcrossReopen(t *testing.T) {
	cfg := testConfig(t)
	db, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		mustSet(t, db, fmt.Sprintf("k%03d", i), fmt.Sprintf("v%d", i))
	}
	if _, err := db.Del([]byte("k050")); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, cfg)
	if v, err := db.Get([]byte("k099")); err != nil || string(v) != "v99" {
		t.Fatalf("after reopen Get(k099) = %q, %v", v, err)
	}
	if _, err := db.Get([]byte("k050")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted key came back: %v", err)
	}
	if st := db.Stats(); st.Keys != 99 || st.FileBytes == 0 {
		t.Fatalf("Stats after reopen = %+v, want 99 keys and a file size", st)
	}
}

func TestDel(t *testing.T) {
	tests := []struct {
		name    string
		set     bool
		wantHad bool
		keys    int64
	}{
		{"existing", true, true, 0},
		{"missing", false, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openDB(t, testConfig(t))
			if tt.set {
				mustSet(t, db, "k", "v")
			}
			had, err := db.Del([]byte("k"))
			if err != nil || had != tt.wantHad {
				t.Fatalf("Del = %v, %v; want %v", had, err, tt.wantHad)
			}
			if _, err := db.Get([]byte("k")); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get after Del: %v", err)
			}
			if st := db.Stats(); st.Keys != tt.keys {
				t.Fatalf("Keys = %d, want %d", st.Keys, tt.keys)
			}
		})
	}
}

func TestConcurrentSets(t *testing.T) {
	db := openDB(t, testConfig(t))
	const writers, each = 16, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := db.Set([]byte(fmt.Sprintf("w%02d-%03d", w, i)), []byte{byte(w), byte(i)}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if st := db.Stats(); st.Keys != writers*each || st.Sets != writers*each {
		t.Fatalf("Stats = %+v, want %d keys and sets", st, writers*each)
	}
	for w := range writers {
		v, err := db.Get([]byte(fmt.Sprintf("w%02d-%03d", w, each-1)))
		if err != nil || !bytes.Equal(v, []byte{byte(w), each - 1}) {
			t.Fatalf("writer %d's last key = %v, %v", w, v, err)
		}
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	cfg := testConfig(t)
	openDB(t, cfg)
	start := time.Now()
	db2, err := Open(cfg)
	if err == nil {
		db2.Close()
		t.Fatal("second Open of the same file succeeded")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), cfg.Path) {
		t.Fatalf("second Open error = %v, want ErrLocked naming %s", err, cfg.Path)
	}
	if waited := time.Since(start); waited > openTimeout+2*time.Second {
		t.Fatalf("second Open took %s", waited)
	}
}

func TestClose(t *testing.T) {
	db, err := Open(testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := db.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	tests := []struct {
		name string
		call func() error
	}{
		{"set", func() error { return db.Set([]byte("k"), nil) }},
		{"get", func() error { _, err := db.Get([]byte("k")); return err }},
		{"del", func() error { _, err := db.Del([]byte("k")); return err }},
		{"export", func() error { _, err := db.Export(0, nil, Limit{}); return err }},
		{"import", func() error { return db.Import(Batch{VBucket: 0}) }},
		{"drop", func() error { _, err := db.Drop(0); return err }},
		{"vbucket stats", func() error { _, err := db.VBucketStats(0); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, ErrClosed) {
				t.Fatalf("error = %v, want ErrClosed", err)
			}
		})
	}
}

func mustSet(t testing.TB, db *DB, k, v string) {
	t.Helper()
	if err := db.Set([]byte(k), []byte(v)); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkGet(b *testing.B) {
	db := openDB(b, testConfig(b))
	for i := range 1024 {
		mustSet(b, db, fmt.Sprintf("key%04d", i), strings.Repeat("v", 100))
	}
	key := []byte("key0512")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.Get(key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSet(b *testing.B) {
	db := openDB(b, testConfig(b))
	val := make([]byte, 100)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := db.Set([]byte(fmt.Sprintf("key%d", i&1023)), val); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkSetParallel(b *testing.B) {
	db := openDB(b, testConfig(b))
	val := make([]byte, 100)
	b.ReportAllocs()
	b.SetParallelism(16) // many writers per CPU, as with many clients
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if err := db.Set([]byte(fmt.Sprintf("key%d", i&1023)), val); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
