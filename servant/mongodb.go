package servant

import (
	"context"
	"errors"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/servant/mongodb"
)

// The mg_* calls: BSON bytes in and out, passed through to servant/mongodb.
// A degraded pool throws TMongoDegrade, a read-only pool throws
// TMongoReadOnly on writes, mg_find_one throws TMongoNotFound when nothing
// matches; mg_find_and_modify, which declares no exception, then answers an
// empty document, as the original did.

func (s *FunServant) MgFindOne(ctx context.Context, rc *rpc.Context, pool, table string, shardID int32, query, fields []byte) ([]byte, error) {
	var doc []byte
	err := s.mongo(ctx, rc, pool, func(ctx context.Context, mg *mongodb.Client) (err error) {
		doc, err = mg.FindOne(ctx, pool, table, shardID, query, fields)
		return err
	})
	if err != nil {
		return nil, mongoErr(err)
	}
	return orEmpty(doc), nil
}

func (s *FunServant) MgFindAll(ctx context.Context, rc *rpc.Context, pool, table string, shardID int32, query, fields []byte, limit, skip int32, orderBy []string) ([][]byte, error) {
	var docs [][]byte
	err := s.mongo(ctx, rc, pool, func(ctx context.Context, mg *mongodb.Client) (err error) {
		docs, err = mg.FindAll(ctx, pool, table, shardID, query, fields, limit, skip, orderBy)
		return err
	})
	if err != nil {
		return nil, mongoErr(err)
	}
	return orEmpty(docs), nil
}

// MgFindID answers an empty document, not an error, when the id is absent:
// mg_find_id declares no not-found exception.
func (s *FunServant) MgFindID(ctx context.Context, rc *rpc.Context, pool, table string, shardID int32, id []byte) ([]byte, error) {
	var doc []byte
	err := s.mongo(ctx, rc, pool, func(ctx context.Context, mg *mongodb.Client) (err error) {
		doc, err = mg.FindID(ctx, pool, table, shardID, id)
		return err
	})
	if errors.Is(err, mongodb.ErrNotFound) {
		return []byte{}, nil
	}
	if err != nil {
		return nil, mongoErr(err)
	}
	return orEmpty(doc), nil
}

func (s *FunServant) MgCount(ctx context.Context, rc *rpc.Context, pool, table string, shardID int32, query []byte) (int32, error) {
	var n int32
	err := s.mongo(ctx, rc, pool, func(ctx context.Context, mg *mongodb.Client) (err error) {
		n, err = mg.Count(ctx, pool, table, shardID, query)
		return err
	})
	return n, mongoErr(err)
}

func (s *FunServant) MgUpdate(ctx context.Context, rc *rpc.Context, pool, table string, shardID int32, query, change []byte) (bool, error) {
	var ok bool
	err := s.mongo(ctx, rc, pool, func(ctx context.Context, mg *mongodb.Client) (err error) {
		ok, err = mg.Update(ctx, pool, table, shardID, query, change)
		return err
	})
	return ok, mongoErr(err)
}

func (s *FunServant) MgUpdateID(ctx context.Context, rc *rpc.Context, pool, table string, shardID int32, id int32, change []byte) (bool, error) {
	var ok bool
	err := s.mongo(ctx, rc, pool, func(ctx context.Context, mg *mongodb.Client) (err error) {
		ok, err = mg.UpdateID(ctx, pool, table, shardID, id, change)
		return err
	})
	return ok, mongoErr(err)
}

func (s *FunServant) MgUpsert(ctx context.Context, rc *rpc.Context, pool, table string, shardID int32, query, change []byte) (bool, error) {
	var ok bool
	err := s.mongo(ctx, rc, pool, func(ctx context.Context, mg *mongodb.Client) (err error) {
		ok, err = mg.Upsert(ctx, pool, table, shardID, query, change)
		return err
	})
	return ok, mongoErr(err)
}

func (s *FunServant) MgUpsertID(ctx context.Context, rc *rpc.Context, pool, table string, shardID int32, id int32, change []byte) (bool, error) {
	var ok bool
	err := s.mongo(ctx, rc, pool, func(ctx context.Context, mg *mongodb.Client) (err error) {
		ok, err = mg.UpsertID(ctx, pool, table, shardID, id, change)
		return err
	})
	return ok, mongoErr(err)
}

func (s *FunServant) MgInsert(ctx context.Context, rc *rpc.Context, pool, table string, shardID int32, doc []byte) (bool, error) {
	var ok bool
	err := s.mongo(ctx, rc, pool, func(ctx context.Context, mg *mongodb.Client) (err error) {
		ok, err = mg.Insert(ctx, pool, table, shardID, doc)
		return err
	})
	return ok, mongoErr(err)
}

func (s *FunServant) MgInserts(ctx context.Context, rc *rpc.Context, pool, table string, shardID int32, docs [][]byte) (bool, error) {
	var ok bool
	err := s.mongo(ctx, rc, pool, func(ctx context.Context, mg *mongodb.Client) (err error) {
		ok, err = mg.Inserts(ctx, pool, table, shardID, docs)
		return err
	})
	return ok, mongoErr(err)
}

func (s *FunServant) MgDelete(ctx context.Context, rc *rpc.Context, pool, table string, shardID int32, query []byte) (bool, error) {
	var ok bool
	err := s.mongo(ctx, rc, pool, func(ctx context.Context, mg *mongodb.Client) (err error) {
		ok, err = mg.Delete(ctx, pool, table, shardID, query)
		return err
	})
	return ok, mongoErr(err)
}

func (s *FunServant) MgFindAndModify(ctx context.Context, rc *rpc.Context, pool, table string, shardID int32, query, change []byte, upsert, remove, returnNew bool) ([]byte, error) {
	var doc []byte
	err := s.mongo(ctx, rc, pool, func(ctx context.Context, mg *mongodb.Client) (err error) {
		doc, err = mg.FindAndModify(ctx, pool, table, shardID, query, change, upsert, remove, returnNew)
		return err
	})
	if err != nil {
		return nil, mongoErr(err)
	}
	return orEmpty(doc), nil
}

// mongo runs fn on the mongodb client under the call's deadline, bounded too by the pool's
// io_timeout (which servant/mongodb applies as well), so that the deadline
// error names the bound that ended the call.
func (s *FunServant) mongo(ctx context.Context, rc *rpc.Context, pool string, fn func(context.Context, *mongodb.Client) error) error {
	ioTimeout := func(c Config) time.Duration { return c.MongoDB.Pools[pool].IOTimeout } // 0: off, the call's deadline alone
	return call(s, ctx, rc, &s.mg, ioTimeout, fn)
}

// mongoErr maps servant/mongodb's sentinels to the declared exceptions.
func mongoErr(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case errors.Is(err, mongodb.ErrNotFound):
		return &rpc.TMongoNotFound{Message: &msg}
	case errors.Is(err, mongodb.ErrDegraded):
		return &rpc.TMongoDegrade{Message: &msg}
	case errors.Is(err, mongodb.ErrReadOnly):
		return &rpc.TMongoReadOnly{Message: &msg}
	}
	return err
}
