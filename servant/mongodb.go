package servant

import (
	"context"
	"errors"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/servant/mongodb"
)

// The mg_* calls: BSON bytes in and out, passed through to servant/mongodb.
// A degraded pool throws TMongoDegrade, a read-only pool throws
// TMongoReadOnly on writes, mg_find_one throws TMongoNotFound when nothing
// matches; mg_find_and_modify, which declares no exception, then answers an
// empty document, as the original did.

func (s *FunServant) MgFindOne(ctx context.Context, rc *rpc.Context, pool, table string, shardID int32, query, fields []byte) ([]byte, error) {
	mg, done, err := s.mg.hold()
	if err != nil {
		return nil, err
	}
	defer done()
	var doc []byte
	err = s.mongo(ctx, rc, pool, func(ctx context.Context) (err error) {
		doc, err = mg.client.FindOne(ctx, pool, table, shardID, query, fields)
		return err
	})
	if err != nil {
		return nil, mongoErr(err)
	}
	return orEmpty(doc), nil
}

func (s *FunServant) MgFindAll(ctx context.Context, rc *rpc.Context, pool, table string, shardID int32, query, fields []byte, limit, skip int32, orderBy []string) ([][]byte, error) {
	mg, done, err := s.mg.hold()
	if err != nil {
		return nil, err
	}
	defer done()
	var docs [][]byte
	err = s.mongo(ctx, rc, pool, func(ctx context.Context) (err error) {
		docs, err = mg.client.FindAll(ctx, pool, table, shardID, query, fields, limit, skip, orderBy)
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
	mg, done, err := s.mg.hold()
	if err != nil {
		return nil, err
	}
	defer done()
	var doc []byte
	err = s.mongo(ctx, rc, pool, func(ctx context.Context) (err error) {
		doc, err = mg.client.FindID(ctx, pool, table, shardID, id)
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
	mg, done, err := s.mg.hold()
	if err != nil {
		return 0, err
	}
	defer done()
	var n int32
	err = s.mongo(ctx, rc, pool, func(ctx context.Context) (err error) {
		n, err = mg.client.Count(ctx, pool, table, shardID, query)
		return err
	})
	return n, mongoErr(err)
}

func (s *FunServant) MgUpdate(ctx context.Context, rc *rpc.Context, pool, table string, shardID int32, query, change []byte) (bool, error) {
	mg, done, err := s.mg.hold()
	if err != nil {
		return false, err
	}
	defer done()
	var ok bool
	err = s.mongo(ctx, rc, pool, func(ctx context.Context) (err error) {
		ok, err = mg.client.Update(ctx, pool, table, shardID, query, change)
		return err
	})
	return ok, mongoErr(err)
}

func (s *FunServant) MgUpdateID(ctx context.Context, rc *rpc.Context, pool, table string, shardID int32, id int32, change []byte) (bool, error) {
	mg, done, err := s.mg.hold()
	if err != nil {
		return false, err
	}
	defer done()
	var ok bool
	err = s.mongo(ctx, rc, pool, func(ctx context.Context) (err error) {
		ok, err = mg.client.UpdateID(ctx, pool, table, shardID, id, change)
		return err
	})
	return ok, mongoErr(err)
}

func (s *FunServant) MgUpsert(ctx context.Context, rc *rpc.Context, pool, table string, shardID int32, query, change []byte) (bool, error) {
	mg, done, err := s.mg.hold()
	if err != nil {
		return false, err
	}
	defer done()
	var ok bool
	err = s.mongo(ctx, rc, pool, func(ctx context.Context) (err error) {
		ok, err = mg.client.Upsert(ctx, pool, table, shardID, query, change)
		return err
	})
	return ok, mongoErr(err)
}

func (s *FunServant) MgUpsertID(ctx context.Context, rc *rpc.Context, pool, table string, shardID int32, id int32, change []byte) (bool, error) {
	mg, done, err := s.mg.hold()
	if err != nil {
		return false, err
	}
	defer done()
	var ok bool
	err = s.mongo(ctx, rc, pool, func(ctx context.Context) (err error) {
		ok, err = mg.client.UpsertID(ctx, pool, table, shardID, id, change)
		return err
	})
	return ok, mongoErr(err)
}

func (s *FunServant) MgInsert(ctx context.Context, rc *rpc.Context, pool, table string, shardID int32, doc []byte) (bool, error) {
	mg, done, err := s.mg.hold()
	if err != nil {
		return false, err
	}
	defer done()
	var ok bool
	err = s.mongo(ctx, rc, pool, func(ctx context.Context) (err error) {
		ok, err = mg.client.Insert(ctx, pool, table, shardID, doc)
		return err
	})
	return ok, mongoErr(err)
}

func (s *FunServant) MgInserts(ctx context.Context, rc *rpc.Context, pool, table string, shardID int32, docs [][]byte) (bool, error) {
	mg, done, err := s.mg.hold()
	if err != nil {
		return false, err
	}
	defer done()
	var ok bool
	err = s.mongo(ctx, rc, pool, func(ctx context.Context) (err error) {
		ok, err = mg.client.Inserts(ctx, pool, table, shardID, docs)
		return err
	})
	return ok, mongoErr(err)
}

func (s *FunServant) MgDelete(ctx context.Context, rc *rpc.Context, pool, table string, shardID int32, query []byte) (bool, error) {
	mg, done, err := s.mg.hold()
	if err != nil {
		return false, err
	}
	defer done()
	var ok bool
	err = s.mongo(ctx, rc, pool, func(ctx context.Context) (err error) {
		ok, err = mg.client.Delete(ctx, pool, table, shardID, query)
		return err
	})
	return ok, mongoErr(err)
}

func (s *FunServant) MgFindAndModify(ctx context.Context, rc *rpc.Context, pool, table string, shardID int32, query, change []byte, upsert, remove, returnNew bool) ([]byte, error) {
	mg, done, err := s.mg.hold()
	if err != nil {
		return nil, err
	}
	defer done()
	var doc []byte
	err = s.mongo(ctx, rc, pool, func(ctx context.Context) (err error) {
		doc, err = mg.client.FindAndModify(ctx, pool, table, shardID, query, change, upsert, remove, returnNew)
		return err
	})
	if err != nil {
		return nil, mongoErr(err)
	}
	return orEmpty(doc), nil
}

// mongo runs fn under the call's deadline, bounded too by the pool's
// io_timeout (which servant/mongodb applies as well), so that the deadline
// error names the bound that ended the call.
func (s *FunServant) mongo(ctx context.Context, rc *rpc.Context, pool string, fn func(context.Context) error) error {
	return s.within(ctx, rc, s.cfg.MongoDB.Pools[pool].IOTimeout, fn) // 0: off, the call's deadline alone
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
