package memcache

import (
	"context"

	gomc "github.com/bradfitz/gomemcache/memcache"
)

// Set stores value under key with flags, expiring after exp seconds (or at
// the Unix time exp, if above 30 days; 0 never).
func (c *Client) Set(ctx context.Context, pool, key string, value []byte, flags uint32, exp int32) error {
	p, err := c.lookup(pool, key)
	if err != nil {
		return err
	}
	_, err = writeAll(ctx, p, key, func(cn *conn) (bool, error) {
		return cn.store((*gomc.Client).Set, key, value, flags, exp)
	})
	return err
}

// Add stores value under key only if key is absent. It returns false, and no
// error, when key exists.
func (c *Client) Add(ctx context.Context, pool, key string, value []byte, flags uint32, exp int32) (stored bool, err error) {
	p, err := c.lookup(pool, key)
	if err != nil {
		return false, err
	}
	return writeAll(ctx, p, key, func(cn *conn) (bool, error) {
		return cn.store((*gomc.Client).Add, key, value, flags, exp)
	})
}

// Get returns key's value and flags, or ErrMiss.
func (c *Client) Get(ctx context.Context, pool, key string) (value []byte, flags uint32, err error) {
	p, err := c.lookup(pool, key)
	if err != nil {
		return nil, 0, err
	}
	it, err := readFirst(p, key, func(s *server) (item, error) {
		v, f, err := s.get(ctx, key)
		return item{v, f}, err
	})
	return it.value, it.flags, err
}

type item struct {
	value []byte
	flags uint32
}

// Delete removes key. It returns false, and no error, when key was missing.
func (c *Client) Delete(ctx context.Context, pool, key string) (deleted bool, err error) {
	p, err := c.lookup(pool, key)
	if err != nil {
		return false, err
	}
	return writeAll(ctx, p, key, func(cn *conn) (bool, error) { return cn.delete(key) })
}

// Increment adds delta to the decimal number stored under key and returns the
// new value; a negative delta decrements (memcached's decr), stopping at 0.
// Above math.MaxInt64 a counter reads negative, as its 64 bits read as an
// int64. A missing key is not created: Increment returns 0 and ErrMiss (the
// dispatcher may answer 0, which PHP code tests as false, like the PHP
// extension's false). A value that is not a number gives an error wrapping
// ErrServer.
func (c *Client) Increment(ctx context.Context, pool, key string, delta int64) (int64, error) {
	p, err := c.lookup(pool, key)
	if err != nil {
		return 0, err
	}
	op, n := (*gomc.Client).Increment, uint64(delta)
	if delta < 0 {
		op, n = (*gomc.Client).Decrement, -uint64(delta) // exact for math.MinInt64 too
	}
	v, err := writeAll(ctx, p, key, func(cn *conn) (uint64, error) { return cn.incrDecr(op, key, n) })
	return int64(v), err
}

// readFirst runs op on key's servers in order until one answers, and returns
// that answer; when none answers, the primary's error.
func readFirst[T any](p *namedPool, key string, op func(*server) (T, error)) (T, error) {
	var zero T
	var first error
	for _, i := range p.sel.pick(key) {
		res, err := op(p.servers[i])
		if answered(err) {
			return res, err
		}
		if first == nil {
			first = err
		}
	}
	return zero, first
}

// writeAll runs op on all of key's servers in order, and returns the first
// answer; when none answers, the primary's error.
func writeAll[T any](ctx context.Context, p *namedPool, key string, op func(*conn) (T, error)) (T, error) {
	var res T
	var first error
	got := false
	for _, i := range p.sel.pick(key) {
		r, err := run(ctx, p.servers[i], op)
		switch {
		case got:
		case answered(err):
			res, first, got = r, err, true
		case first == nil:
			first = err
		}
	}
	return res, first
}

// run runs op on one server and returns its result.
func run[T any](ctx context.Context, s *server, op func(*conn) (T, error)) (T, error) {
	var res T
	err := s.do(ctx, func(cn *conn) error {
		var err error
		res, err = op(cn)
		return err
	})
	return res, err
}
