package kvdb

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.etcd.io/bbolt"
)

// smallVB is the vbucket count of most tests here: few enough that every
// vbucket holds many keys.
const smallVB = 16

func vbConfig(t testing.TB, vbuckets int) Config {
	cfg := testConfig(t)
	cfg.VBuckets = vbuckets
	return cfg
}

// fill sets n keys "k0000".. with value "v<i>" and returns them by vbucket.
func fill(t testing.TB, db *DB, n int) map[int][]string {
	t.Helper()
	byVB := map[int][]string{}
	const writers = 32 // concurrent Sets share an fsync
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := w; i < n; i += writers {
				k := fmt.Sprintf("k%04d", i)
				if err := db.Set([]byte(k), []byte("v"+k)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i := range n {
		k := fmt.Sprintf("k%04d", i)
		byVB[db.VBucket([]byte(k))] = append(byVB[db.VBucket([]byte(k))], k)
	}
	for _, keys := range byVB {
		slices.Sort(keys)
	}
	return byVB
}

// exportAll exports vb batch by batch, checking each against lim, and
// returns the batches.
func exportAll(t testing.TB, db *DB, vb int, lim Limit) []Batch {
	t.Helper()
	var batches []Batch
	var after []byte
	for range 100_000 {
		b, err := db.Export(vb, after, lim)
		if err != nil {
			t.Fatal(err)
		}
		batches = append(batches, b)
		if b.Done {
			return batches
		}
		if len(b.Entries) == 0 {
			t.Fatalf("batch %d is empty but not done", len(batches))
		}
		after = b.Cursor()
	}
	t.Fatal("Export never finished")
	return nil
}

func batchKeys(batches []Batch) []string {
	var keys []string
	for _, b := range batches {
		for _, e := range b.Entries {
			keys = append(keys, string(e.Key))
		}
	}
	return keys
}

func TestVBucketOf(t *testing.T) {
	tests := []struct {
		name     string
		vbuckets int
		key      string
	}{
		{"default count", 0, "user:42"},
		{"small count", smallVB, "user:42"},
		{"largest count", 65536, "session:\x00\xff"},
		{"one vbucket", 1, "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openDB(t, vbConfig(t, tt.vbuckets))
			n := cmpOr(tt.vbuckets, DefaultVBuckets)
			want := int(crc32.ChecksumIEEE([]byte(tt.key)) % uint32(n))
			if got := db.VBucket([]byte(tt.key)); got != want || db.VBuckets() != n {
				t.Fatalf("VBucket = %d of %d, want %d of %d", got, db.VBuckets(), want, n)
			}
		})
	}
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

func TestExport(t *testing.T) {
	db := openDB(t, vbConfig(t, smallVB))
	byVB := fill(t, db, 2000)
	big := strings.Repeat("x", 5000) // one entry larger than a byte limit
	mustSet(t, db, byVB[3][0], big)
	tests := []struct {
		name string
		vb   int
		lim  Limit
	}{
		{"defaults", 3, Limit{}},
		{"ten keys", 3, Limit{Keys: 10}},
		{"one key", 5, Limit{Keys: 1}},
		{"bytes bound", 3, Limit{Bytes: 200}},
		{"entry past bytes bound", 3, Limit{Bytes: 100}},
		{"both bounds", 7, Limit{Keys: 7, Bytes: 100}},
		{"last vbucket", smallVB - 1, Limit{Keys: 33}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := tt.lim.orDefault()
			batches := exportAll(t, db, tt.vb, tt.lim)
			for i, b := range batches {
				if b.VBucket != tt.vb {
					t.Fatalf("batch %d is for vbucket %d", i, b.VBucket)
				}
				if len(b.Entries) > lim.Keys || (len(b.Entries) > 1 && b.Bytes > lim.Bytes) {
					t.Fatalf("batch %d: %d keys, %d bytes, past %+v", i, len(b.Entries), b.Bytes, lim)
				}
				var sum int64
				for _, e := range b.Entries {
					sum += int64(len(e.Key) + len(e.Value))
				}
				if sum != b.Bytes {
					t.Fatalf("batch %d says %d bytes, holds %d", i, b.Bytes, sum)
				}
			}
			if got := batchKeys(batches); !slices.Equal(got, byVB[tt.vb]) {
				t.Fatalf("exported %d keys, want the %d of vbucket %d", len(got), len(byVB[tt.vb]), tt.vb)
			}
		})
	}
}

func TestExportValues(t *testing.T) {
	db := openDB(t, vbConfig(t, smallVB))
	fill(t, db, 300)
	for vb := range smallVB {
		for _, b := range exportAll(t, db, vb, Limit{Keys: 16}) {
			for _, e := range b.Entries {
				if string(e.Value) != "v"+string(e.Key) || db.VBucket(e.Key) != vb {
					t.Fatalf("vbucket %d exported %q = %q", vb, e.Key, e.Value)
				}
			}
		}
	}
}

func TestExportBadVBucket(t *testing.T) {
	db := openDB(t, vbConfig(t, smallVB))
	for _, vb := range []int{-1, smallVB, 1 << 20} {
		if _, err := db.Export(vb, nil, Limit{}); !errors.Is(err, ErrVBucket) {
			t.Fatalf("Export(%d) error = %v, want ErrVBucket", vb, err)
		}
	}
}

func TestImportRoundTrip(t *testing.T) {
	src := openDB(t, vbConfig(t, smallVB))
	byVB := fill(t, src, 1000)
	dst := openDB(t, vbConfig(t, smallVB))
	mustSet(t, dst, byVB[2][0], "stale") // overwritten by the import
	for vb := range smallVB {
		for _, b := range exportAll(t, src, vb, Limit{Keys: 50}) {
			if err := dst.Import(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	for vb, keys := range byVB {
		got := batchKeys(exportAll(t, dst, vb, Limit{}))
		if !slices.Equal(got, keys) {
			t.Fatalf("vbucket %d after import: %d keys, want %d", vb, len(got), len(keys))
		}
	}
	if v, err := dst.Get([]byte(byVB[2][0])); err != nil || string(v) != "v"+byVB[2][0] {
		t.Fatalf("imported key = %q, %v", v, err)
	}
	if st := dst.Stats(); st.Keys != 1000 {
		t.Fatalf("Keys after import = %d, want 1000", st.Keys)
	}
}

func TestImportRefuses(t *testing.T) {
	db := openDB(t, vbConfig(t, smallVB))
	k := []byte("k0001")
	vb := db.VBucket(k)
	other := (vb + 1) % smallVB
	tests := []struct {
		name string
		b    Batch
		want error
	}{
		{"key of another vbucket", Batch{VBucket: other, Entries: []Entry{{Key: k, Value: []byte("v")}}}, ErrVBucket},
		{"bad vbucket", Batch{VBucket: smallVB, Entries: []Entry{{Key: k}}}, ErrVBucket},
		{"empty key after a good one", Batch{VBucket: vb, Entries: []Entry{{Key: k, Value: []byte("v")}, {}}}, ErrEmptyKey},
		{"value too large", Batch{VBucket: vb, Entries: []Entry{{Key: k, Value: make([]byte, 2<<20)}}}, ErrValueTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := db.Import(tt.b); !errors.Is(err, tt.want) {
				t.Fatalf("Import error = %v, want %v", err, tt.want)
			}
			if _, err := db.Get(k); !errors.Is(err, ErrNotFound) {
				t.Fatalf("a refused batch stored a key: %v", err)
			}
		})
	}
}

func TestImportDeletes(t *testing.T) {
	db := openDB(t, vbConfig(t, smallVB))
	mustSet(t, db, "gone", "v")
	vb := db.VBucket([]byte("gone"))
	b := Batch{VBucket: vb, Entries: []Entry{{Key: []byte("gone"), Deleted: true}, {Key: []byte("never"), Deleted: true}}}
	if db.VBucket([]byte("never")) != vb {
		b.Entries = b.Entries[:1]
	}
	if err := db.Import(b); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Get([]byte("gone")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted entry still there: %v", err)
	}
	if st := db.Stats(); st.Keys != 0 {
		t.Fatalf("Keys = %d, want 0", st.Keys)
	}
}

func TestDrop(t *testing.T) {
	db := openDB(t, vbConfig(t, smallVB))
	byVB := fill(t, db, 1000)
	n, err := db.Drop(4)
	if err != nil || n != len(byVB[4]) {
		t.Fatalf("Drop = %d, %v; want %d", n, err, len(byVB[4]))
	}
	for vb := range smallVB {
		want := byVB[vb]
		if vb == 4 {
			want = nil
		}
		if got := batchKeys(exportAll(t, db, vb, Limit{})); !slices.Equal(got, want) {
			t.Fatalf("vbucket %d after dropping 4: %d keys, want %d", vb, len(got), len(want))
		}
	}
	if st := db.Stats(); st.Keys != int64(1000-len(byVB[4])) {
		t.Fatalf("Keys = %d, want %d", st.Keys, 1000-len(byVB[4]))
	}
	if n, err := db.Drop(4); n != 0 || err != nil {
		t.Fatalf("second Drop = %d, %v", n, err)
	}
}

func TestDropLarge(t *testing.T) {
	db := openDB(t, vbConfig(t, 1))
	b := Batch{VBucket: 0}
	for i := range dropChunk + 10 { // more than one drop transaction
		b.Entries = append(b.Entries, Entry{Key: fmt.Appendf(nil, "k%06d", i), Value: []byte("v")})
	}
	if err := db.Import(b); err != nil {
		t.Fatal(err)
	}
	if n, err := db.Drop(0); err != nil || n != dropChunk+10 {
		t.Fatalf("Drop = %d, %v", n, err)
	}
	if st, _ := db.VBucketStats(0); st.Keys != 0 {
		t.Fatalf("%d keys left", st.Keys)
	}
}

func TestVBucketStats(t *testing.T) {
	db := openDB(t, vbConfig(t, smallVB))
	byVB := fill(t, db, 500)
	for vb := range smallVB {
		st, err := db.VBucketStats(vb)
		var bytes int64
		for _, k := range byVB[vb] {
			bytes += int64(len(k) + len("v"+k))
		}
		if err != nil || st.Keys != int64(len(byVB[vb])) || st.Bytes != bytes {
			t.Fatalf("VBucketStats(%d) = %+v, %v; want %d keys, %d bytes", vb, st, err, len(byVB[vb]), bytes)
		}
	}
}

// TestTrackedMove moves a vbucket while it is written, the way a mover
// does, and checks that the destination ends with exactly the source's
// keys of that vbucket.
func TestTrackedMove(t *testing.T) {
	src := openDB(t, vbConfig(t, smallVB))
	dst := openDB(t, vbConfig(t, smallVB))
	byVB := fill(t, src, 800)
	const vb = 6
	if err := src.StartTracking(vb); err != nil {
		t.Fatal(err)
	}
	if err := src.StartTracking(vb); !errors.Is(err, ErrTracking) {
		t.Fatalf("second StartTracking error = %v, want ErrTracking", err)
	}
	if _, err := src.Drop(vb); !errors.Is(err, ErrTracking) {
		t.Fatalf("Drop of a tracked vbucket error = %v, want ErrTracking", err)
	}
	keys := byVB[vb]
	first, err := src.Export(vb, nil, Limit{Keys: 5})
	if err != nil || first.Done {
		t.Fatalf("first batch: %v, done=%v", err, first.Done)
	}
	// Writes during the copy: behind the cursor, ahead of it, deletes on
	// both sides, a new key, and writes to another vbucket.
	mustSet(t, src, keys[0], "changed behind")
	mustSet(t, src, keys[len(keys)-1], "changed ahead")
	mustDel(t, src, keys[1])
	mustDel(t, src, keys[len(keys)-2])
	fresh := keyIn(src, vb, "fresh")
	mustSet(t, src, fresh, "new")
	mustSet(t, src, byVB[vb+1][0], "other vbucket")
	if err := dst.Import(first); err != nil {
		t.Fatal(err)
	}
	for _, b := range exportAll(t, src, vb, Limit{Keys: 5}) {
		if err := dst.Import(restOf(b, first.Cursor())); err != nil {
			t.Fatal(err)
		}
	}
	taken := src.TakeChanges(vb)
	wantTaken := []Change{{Key: []byte(keys[0])}, {Key: []byte(keys[1]), Deleted: true},
		{Key: []byte(keys[len(keys)-2]), Deleted: true}, {Key: []byte(keys[len(keys)-1])}, {Key: []byte(fresh)}}
	slices.SortFunc(wantTaken, func(a, b Change) int { return bytes.Compare(a.Key, b.Key) })
	if !slices.EqualFunc(taken, wantTaken, changeEqual) {
		t.Fatalf("TakeChanges = %s, want %s", changesString(taken), changesString(wantTaken))
	}
	applyChanges(t, src, dst, vb, taken)
	// The tail after the fence: one more change, then EndTracking.
	mustSet(t, src, keys[2], "during fence")
	tail := src.EndTracking(vb)
	if len(tail) != 1 || string(tail[0].Key) != keys[2] || tail[0].Deleted {
		t.Fatalf("EndTracking = %s, want %s set", changesString(tail), keys[2])
	}
	applyChanges(t, src, dst, vb, tail)
	if got := src.EndTracking(vb); got != nil {
		t.Fatalf("second EndTracking = %s", changesString(got))
	}
	want := exportAll(t, src, vb, Limit{})
	got := exportAll(t, dst, vb, Limit{})
	if !batchesEqual(got, want) {
		t.Fatalf("destination has %d keys of vbucket %d, source %d, or values differ",
			len(batchKeys(got)), vb, len(batchKeys(want)))
	}
	if _, err := dst.Get([]byte(byVB[vb+1][0])); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a key of another vbucket reached the destination: %v", err)
	}
	if n, err := src.Drop(vb); err != nil || n != len(batchKeys(want)) {
		t.Fatalf("Drop after the move = %d, %v", n, err)
	}
}

func applyChanges(t *testing.T, src, dst *DB, vb int, cs []Change) {
	t.Helper()
	b, err := src.ExportChanges(vb, cs)
	if err != nil {
		t.Fatal(err)
	}
	if err := dst.Import(b); err != nil {
		t.Fatal(err)
	}
}

// restOf drops the entries of b up to and including cursor (the test's
// second pass starts again from the first key).
func restOf(b Batch, cursor []byte) Batch {
	b.Entries = slices.DeleteFunc(slices.Clone(b.Entries), func(e Entry) bool { return bytes.Compare(e.Key, cursor) <= 0 })
	return b
}

func keyIn(db *DB, vb int, prefix string) string {
	for i := 0; ; i++ {
		if k := fmt.Sprintf("%s%d", prefix, i); db.VBucket([]byte(k)) == vb {
			return k
		}
	}
}

func changeEqual(a, b Change) bool { return bytes.Equal(a.Key, b.Key) && a.Deleted == b.Deleted }

func changesString(cs []Change) string {
	var s []string
	for _, c := range cs {
		s = append(s, fmt.Sprintf("%s(del=%v)", c.Key, c.Deleted))
	}
	return strings.Join(s, " ")
}

func batchesEqual(a, b []Batch) bool {
	var ea, eb []Entry
	for _, x := range a {
		ea = append(ea, x.Entries...)
	}
	for _, x := range b {
		eb = append(eb, x.Entries...)
	}
	return slices.EqualFunc(ea, eb, func(x, y Entry) bool {
		return bytes.Equal(x.Key, y.Key) && bytes.Equal(x.Value, y.Value) && x.Deleted == y.Deleted
	})
}

func TestExportChangesAbsent(t *testing.T) {
	db := openDB(t, vbConfig(t, smallVB))
	mustSet(t, db, "here", "v")
	vb := db.VBucket([]byte("here"))
	// The Change says deleted, the file says present: the file wins.
	b, err := db.ExportChanges(vb, []Change{{Key: []byte("here"), Deleted: true}, {Key: []byte("gone")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Entries) != 2 || b.Entries[0].Deleted || string(b.Entries[0].Value) != "v" || !b.Entries[1].Deleted {
		t.Fatalf("ExportChanges = %+v", b.Entries)
	}
}

func TestUntrackedRecordsNothing(t *testing.T) {
	db := openDB(t, vbConfig(t, smallVB))
	mustSet(t, db, "k", "v")
	if cs := db.TakeChanges(db.VBucket([]byte("k"))); cs != nil {
		t.Fatalf("TakeChanges of an untracked vbucket = %s", changesString(cs))
	}
}

func mustDel(t testing.TB, db *DB, k string) {
	t.Helper()
	if _, err := db.Del([]byte(k)); err != nil {
		t.Fatal(err)
	}
}

// writeLegacy writes a file the way kvdb did before vbuckets: bucket "kv"
// holding bare keys, and nothing else.
func writeLegacy(t *testing.T, path string, pairs map[string]string) {
	t.Helper()
	b, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.Update(func(tx *bbolt.Tx) error {
		bk, err := tx.CreateBucket([]byte(legacyBucket))
		if err != nil {
			return err
		}
		for k, v := range pairs {
			if err := bk.Put([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func legacyPairs(n int) map[string]string {
	pairs := map[string]string{"empty": "", "\x00\xffbin": "\x00\x01"}
	for i := range n {
		pairs[fmt.Sprintf("old%05d", i)] = fmt.Sprintf("value%d", i)
	}
	return pairs
}

// captureLog returns a logger writing into buf.
func captureLog(buf *bytes.Buffer) *slog.Logger { return slog.New(slog.NewTextHandler(buf, nil)) }

func TestMigrateLegacy(t *testing.T) {
	tests := []struct {
		name  string
		pairs map[string]string
	}{
		{"empty file", map[string]string{}},
		{"a few keys", legacyPairs(10)},
		{"several chunks", legacyPairs(2*migrateChunk + 17)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := vbConfig(t, smallVB)
			mkdir(t, cfg.Path)
			writeLegacy(t, cfg.Path, tt.pairs)
			var logs bytes.Buffer
			cfg.Log = captureLog(&logs)
			db, err := Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkPairs(t, db, tt.pairs)
			if want := fmt.Sprintf("keys=%d", len(tt.pairs)); !strings.Contains(logs.String(), want) {
				t.Fatalf("migration log %q does not say %s", logs.String(), want)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			logs.Reset()
			db = openDB(t, cfg)
			checkPairs(t, db, tt.pairs)
			if logs.Len() != 0 {
				t.Fatalf("second Open logged %q: migrated twice", logs.String())
			}
			checkNoLegacy(t, db)
		})
	}
}

// TestMigrateInterrupted opens files left by migrations that stopped
// part-way: "kv" whole beside a partial "vb" bucket (a stale value, a key
// "kv" lacks, a meta bucket with another count). Open must start over and
// end with exactly "kv"'s pairs.
func TestMigrateInterrupted(t *testing.T) {
	pairs := legacyPairs(migrateChunk + 100)
	tests := []struct {
		name    string
		partial func(db *DB, vb, meta *bbolt.Bucket) error
	}{
		{"first chunk copied", func(db *DB, vb, _ *bbolt.Bucket) error {
			for i := range migrateChunk {
				k := fmt.Appendf(nil, "old%05d", i)
				if err := vb.Put(storedKey(db.VBucket(k), k), []byte(pairs[string(k)])); err != nil {
					return err
				}
			}
			return nil
		}},
		{"stale value and stray key", func(db *DB, vb, _ *bbolt.Bucket) error {
			k := []byte("old00001")
			if err := vb.Put(storedKey(db.VBucket(k), k), []byte("stale")); err != nil {
				return err
			}
			stray := []byte("stray")
			return vb.Put(storedKey(db.VBucket(stray), stray), []byte("x"))
		}},
		{"meta with another count", func(_ *DB, _, meta *bbolt.Bucket) error {
			return meta.Put([]byte(metaVBuckets), []byte{0, 0, 0, 9})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := vbConfig(t, smallVB)
			mkdir(t, cfg.Path)
			writeLegacy(t, cfg.Path, pairs)
			writePartial(t, cfg.Path, tt.partial)
			db := openDB(t, cfg)
			checkPairs(t, db, pairs)
			if _, err := db.Get([]byte("stray")); !errors.Is(err, ErrNotFound) {
				t.Fatalf("a key of the partial copy survived: %v", err)
			}
			checkNoLegacy(t, db)
		})
	}
}

// writePartial adds to a legacy file what a migration stopped after some
// chunks leaves: a "vb" bucket (and maybe "meta") written by fn.
func writePartial(t *testing.T, path string, fn func(db *DB, vb, meta *bbolt.Bucket) error) {
	t.Helper()
	b, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	keyer := &DB{vbuckets: smallVB}
	err = b.Update(func(tx *bbolt.Tx) error {
		vb, err := tx.CreateBucket([]byte(dataBucket))
		if err != nil {
			return err
		}
		meta, err := tx.CreateBucket([]byte(metaBucket))
		if err != nil {
			return err
		}
		return fn(keyer, vb, meta)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestVBucketCountMismatch(t *testing.T) {
	cfg := vbConfig(t, smallVB)
	db, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, db, "k", "v")
	db.Close()
	cfg.VBuckets = 2 * smallVB
	if db, err := Open(cfg); !errors.Is(err, ErrVBucketCount) {
		if err == nil {
			db.Close()
		}
		t.Fatalf("Open with another count error = %v, want ErrVBucketCount", err)
	}
	cfg.VBuckets = smallVB
	db = openDB(t, cfg)
	if v, err := db.Get([]byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("Get after the refused open = %q, %v", v, err)
	}
}

func mkdir(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
}

func checkPairs(t *testing.T, db *DB, pairs map[string]string) {
	t.Helper()
	for k, v := range pairs {
		got, err := db.Get([]byte(k))
		if err != nil || string(got) != v {
			t.Fatalf("Get(%q) = %q, %v; want %q", k, got, err, v)
		}
	}
	if st := db.Stats(); st.Keys != int64(len(pairs)) {
		t.Fatalf("Keys = %d, want %d", st.Keys, len(pairs))
	}
	var total int64
	for vb := range db.VBuckets() {
		st, err := db.VBucketStats(vb)
		if err != nil {
			t.Fatal(err)
		}
		total += st.Keys
	}
	if total != int64(len(pairs)) {
		t.Fatalf("vbuckets hold %d keys, want %d", total, len(pairs))
	}
}

func checkNoLegacy(t *testing.T, db *DB) {
	t.Helper()
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		if tx.Bucket([]byte(legacyBucket)) != nil {
			return errors.New(`bucket "kv" is still there`)
		}
		return db.checkLayout(tx)
	})
	if err != nil {
		t.Fatal(err)
	}
}
