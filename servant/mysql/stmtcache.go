package mysql

import (
	"container/list"
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps a pool's prepared statements by SQL text, at most max of
// them, dropping the least recently used. Each is a database/sql Stmt,
// which prepares itself on every connection it runs on (again after a
// reconnect). Arguments travel apart from the statement, in the binary
// protocol, so no charset can make a value read as SQL. A statement dropped
// while calls use it is closed when the last of them releases it. It is
// safe for concurrent use.
type stmtCache struct {
	db  *sql.DB
	max int

	mu     sync.Mutex
	byText map[string]*list.Element // values *cachedStmt
	order  *list.List               // most recently used first
	closed bool

	hits, misses, evictions uint64
}

// cachedStmt is one prepared statement and the calls using it.
type cachedStmt struct {
	text    string
	stmt    *sql.Stmt
	users   int  // calls between get and release
	dropped bool // out of the cache: closed once users is 0
}

// StmtCacheStats describes a pool's statement cache at one instant.
type StmtCacheStats struct {
	Size      int    `json:"size"`      // statements cached
	Hits      uint64 `json:"hits"`      // calls that found their statement prepared
	Misses    uint64 `json:"misses"`    // calls that prepared it
	Evictions uint64 `json:"evictions"` // statements dropped to stay within the bound
}

func newStmtCache(db *sql.DB, max int) *stmtCache {
	return &stmtCache{db: db, max: max, byText: map[string]*list.Element{}, order: list.New()}
}

// get returns the prepared statement for text, preparing it if it is not
// cached. The caller must release it when its rows are closed.
func (c *stmtCache) get(ctx context.Context, text string) (*cachedStmt, error) {
	c.mu.Lock()
	if el, ok := c.byText[text]; ok {
		c.hits++
		c.order.MoveToFront(el)
		cs := el.Value.(*cachedStmt)
		cs.users++
		c.mu.Unlock()
		return cs, nil
	}
	c.misses++
	c.mu.Unlock()

	// Prepared without the lock: it is a round trip to the server.
	stmt, err := c.db.PrepareContext(ctx, text)
	if err != nil {
		return nil, err
	}
	return c.add(&cachedStmt{text: text, stmt: stmt, users: 1}), nil
}

// add caches cs, unless a call raced it there or the cache is closed, and
// returns the statement the caller is to use.
func (c *stmtCache) add(cs *cachedStmt) *cachedStmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byText[cs.text]; ok {
		_ = cs.stmt.Close() // not used by anyone yet
		have := el.Value.(*cachedStmt)
		have.users++
		return have
	}
	if c.closed {
		cs.dropped = true // used once, closed at release
		return cs
	}
	c.byText[cs.text] = c.order.PushFront(cs)
	for c.order.Len() > c.max {
		c.evictions++
		c.drop(c.order.Back())
	}
	return cs
}

// release ends a call's use of cs.
func (c *stmtCache) release(cs *cachedStmt) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs.users--
	if cs.dropped && cs.users == 0 {
		_ = cs.stmt.Close()
	}
}

// drop takes el out of the cache and closes its statement, now if no call
// uses it, else at its last release. c.mu must be held.
func (c *stmtCache) drop(el *list.Element) {
	cs := c.order.Remove(el).(*cachedStmt)
	delete(c.byText, cs.text)
	cs.dropped = true
	if cs.users == 0 {
		_ = cs.stmt.Close()
	}
}

// close drops every statement; statements prepared afterwards are used
// once and closed. It is idempotent.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for c.order.Len() > 0 {
		c.drop(c.order.Back())
	}
}

func (c *stmtCache) stats() StmtCacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return StmtCacheStats{Size: c.order.Len(), Hits: c.hits, Misses: c.misses, Evictions: c.evictions}
}
