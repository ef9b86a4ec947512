package servant

import (
	"context"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/servant/kvdb"
	"github.com/faed/faed/servant/mysql"

	"github.com/apache/thrift/lib/go/thrift"
)

// final is the state of a fenced vbucket the last pull hands out: the last
// kvdb changes, the held locks, the lcache and query-cache entries, read
// once after the drain; nothing changes them afterwards, since no call of
// the vbucket is served until the move ends.
type final struct {
	kvdb, locks, lcache, queryCache []*rpc.VBucketItem
}

// finalState reads what is left of vb once it is fenced and drained, and
// ends its kvdb tracking.
func (s *FunServant) finalState(st *vbState, vb int) (*final, error) {
	changes := mergeChanges(st.tail, s.kv.EndTracking(vb))
	st.tracking = false
	f := &final{}
	for len(changes) > 0 {
		items, rest, err := s.exportChanges(vb, changes)
		if err != nil {
			return nil, err
		}
		f.kvdb, changes = append(f.kvdb, items...), rest
	}
	var err error
	if f.locks, err = s.lockItems(vb); err != nil {
		return nil, err
	}
	if f.lcache, err = s.lcacheItems(vb); err != nil {
		return nil, err
	}
	f.queryCache, err = s.queryCacheItems(vb)
	return f, err
}

func (s *FunServant) lockItems(vb int) ([]*rpc.VBucketItem, error) {
	held, err := s.locks.ExportVBucket(vb)
	items := make([]*rpc.VBucketItem, len(held))
	for i, h := range held {
		items[i] = &rpc.VBucketItem{Key: []byte(h.Key), TtlMs: ttlMs(h.TTL)}
	}
	return items, err
}

// lcacheItems are vb's lcache entries; none when lcache_local keeps the
// lcache node-local, out of routing and so out of moves.
func (s *FunServant) lcacheItems(vb int) ([]*rpc.VBucketItem, error) {
	if s.cfg.LCacheLocal {
		return nil, nil
	}
	entries, err := s.cache.ExportVBucket(vb)
	items := make([]*rpc.VBucketItem, len(entries))
	for i, e := range entries {
		items[i] = &rpc.VBucketItem{Key: []byte(e.Key), Value: orEmpty(e.Value)}
	}
	return items, err
}

// queryCacheItems are vb's query-cache entries, each value a MysqlResult
// in Thrift binary.
func (s *FunServant) queryCacheItems(vb int) ([]*rpc.VBucketItem, error) {
	my, done, err := s.my.hold()
	if err != nil {
		return nil, nil // mysql not configured: no query cache
	}
	defer done()
	cached, err := my.client.ExportVBucket(vb)
	if err != nil {
		return nil, err
	}
	ser := thrift.NewTSerializer()
	items := make([]*rpc.VBucketItem, len(cached))
	for i, c := range cached {
		v, err := ser.Write(context.Background(), mysqlResult(c.Result))
		if err != nil {
			return nil, err
		}
		items[i] = &rpc.VBucketItem{Key: []byte(c.Key), Value: v, TtlMs: ttlMs(c.TTL)}
	}
	return items, nil
}

// ttlMs rounds a remaining ttl up to whole ms, so a live entry never
// arrives expired.
func ttlMs(d time.Duration) *int64 {
	ms := int64((d + time.Millisecond - 1) / time.Millisecond)
	return &ms
}

// page returns the items from the cursor's offset on, bounded as every
// batch is, in the order kvdb, locks, lcache, queryCache.
func (f *final) page(vb int, cursor []byte) (*rpc.VBucketBatch, error) {
	off, err := cursorOffset(cursor)
	if err != nil {
		return nil, err
	}
	b := &rpc.VBucketBatch{Vbucket: int32(vb), Kvdb: []*rpc.VBucketItem{}, Locks: []*rpc.VBucketItem{},
		Lcache: []*rpc.VBucketItem{}, QueryCache: []*rpc.VBucketItem{}, Cursor: []byte{}}
	lists := []*[]*rpc.VBucketItem{&b.Kvdb, &b.Locks, &b.Lcache, &b.QueryCache}
	all := [][]*rpc.VBucketItem{f.kvdb, f.locks, f.lcache, f.queryCache}
	n, size, i := 0, int64(0), 0
	for li, items := range all {
		for _, it := range items {
			if i++; i <= off {
				continue
			}
			if n > 0 && (n >= pageItems || size+itemBytes(it) > pageBytes) {
				b.More, b.Cursor = true, offsetCursor(i-1)
				return b, nil
			}
			*lists[li] = append(*lists[li], it)
			n, size = n+1, size+itemBytes(it)
		}
	}
	return b, nil
}

func itemBytes(it *rpc.VBucketItem) int64 { return int64(len(it.Key) + len(it.Value) + 16) }

// Imports: what VbPush applies.

func kvdbBatch(vb int, items []*rpc.VBucketItem) kvdb.Batch {
	b := kvdb.Batch{VBucket: vb, Entries: make([]kvdb.Entry, len(items))}
	for i, it := range items {
		b.Entries[i] = kvdb.Entry{Key: it.Key, Value: it.Value, Deleted: !it.IsSetValue()}
	}
	return b
}

func queryCacheEntries(items []*rpc.VBucketItem) ([]mysql.CachedResult, error) {
	de := thrift.NewTDeserializer()
	out := make([]mysql.CachedResult, len(items))
	for i, it := range items {
		var r rpc.MysqlResult_
		if err := de.Read(context.Background(), &r, it.Value); err != nil {
			return nil, err
		}
		out[i] = mysql.CachedResult{Key: string(it.Key), TTL: time.Duration(it.GetTtlMs()) * time.Millisecond,
			Result: &mysql.Result{RowsAffected: r.RowsAffected, LastInsertID: r.LastInsertId, Cols: r.Cols, Rows: r.Rows}}
	}
	return out, nil
}
