package mongodb

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Every method in this file writes, so fails with ErrReadOnly in read-only
// mode; the package comment says how a change argument is read.

// Update changes the first document matching query. It reports whether a
// document matched.
func (c *Client) Update(ctx context.Context, pool, table string, shardID int32, query, change []byte) (bool, error) {
	q, ch, err := writeArgs(table, query, change)
	if err != nil {
		return false, err
	}
	return c.update(ctx, opUpdate, pool, table, shardID, q, ch, false)
}

// UpdateID changes the document whose _id is the int32 id. It reports
// whether it exists.
func (c *Client) UpdateID(ctx context.Context, pool, table string, shardID int32, id int32, change []byte) (bool, error) {
	_, ch, err := writeArgs(table, nil, change)
	if err != nil {
		return false, err
	}
	return c.update(ctx, opUpdateID, pool, table, shardID, idFilter(id), ch, false)
}

// Upsert changes the first document matching query, or inserts one built
// from query and change if none does. It reports true on success.
func (c *Client) Upsert(ctx context.Context, pool, table string, shardID int32, query, change []byte) (bool, error) {
	q, ch, err := writeArgs(table, query, change)
	if err != nil {
		return false, err
	}
	return c.update(ctx, opUpsert, pool, table, shardID, q, ch, true)
}

// UpsertID is Upsert on the document whose _id is the int32 id.
func (c *Client) UpsertID(ctx context.Context, pool, table string, shardID int32, id int32, change []byte) (bool, error) {
	_, ch, err := writeArgs(table, nil, change)
	if err != nil {
		return false, err
	}
	return c.update(ctx, opUpsertID, pool, table, shardID, idFilter(id), ch, true)
}

func (c *Client) update(ctx context.Context, o op, pool, table string, shardID int32, filter any, ch change, upsert bool) (bool, error) {
	var res *mongo.UpdateResult
	err := c.run(ctx, o, pool, table, shardID, func(ctx context.Context, coll *mongo.Collection) (err error) {
		if ch.replace {
			res, err = coll.ReplaceOne(ctx, filter, ch.doc, options.Replace().SetUpsert(upsert))
		} else {
			res, err = coll.UpdateOne(ctx, filter, ch.doc, options.UpdateOne().SetUpsert(upsert))
		}
		return err
	})
	if err != nil {
		return false, err
	}
	return res.MatchedCount > 0 || res.UpsertedCount > 0, nil
}

// Insert inserts doc, a BSON document. Without an _id the driver gives it
// an ObjectID. It reports true on success; a duplicate _id is an error.
func (c *Client) Insert(ctx context.Context, pool, table string, shardID int32, doc []byte) (bool, error) {
	d, err := insertArgs(table, "doc", doc)
	if err != nil {
		return false, err
	}
	err = c.run(ctx, opInsert, pool, table, shardID, func(ctx context.Context, coll *mongo.Collection) error {
		_, err := coll.InsertOne(ctx, d)
		return err
	})
	return err == nil, err
}

// Inserts inserts docs in order and stops at the first failure: the
// documents before it stay inserted. It reports true when all were.
func (c *Client) Inserts(ctx context.Context, pool, table string, shardID int32, docs [][]byte) (bool, error) {
	ds, err := insertsArgs(table, docs)
	if err != nil {
		return false, err
	}
	err = c.run(ctx, opInserts, pool, table, shardID, func(ctx context.Context, coll *mongo.Collection) error {
		_, err := coll.InsertMany(ctx, ds)
		return err
	})
	return err == nil, err
}

// Delete deletes the first document matching query (empty: any one). It
// reports whether one was deleted.
func (c *Client) Delete(ctx context.Context, pool, table string, shardID int32, query []byte) (bool, error) {
	q, _, err := readArgs(table, query, nil)
	if err != nil {
		return false, err
	}
	var res *mongo.DeleteResult
	err = c.run(ctx, opDelete, pool, table, shardID, func(ctx context.Context, coll *mongo.Collection) (err error) {
		res, err = coll.DeleteOne(ctx, q)
		return err
	})
	if err != nil {
		return false, err
	}
	return res.DeletedCount > 0, nil
}

// FindAndModify atomically changes (or, with remove, deletes) the first
// document matching query and returns it as it was before, or after the
// change with returnNew. With upsert a missing document is inserted. change
// is ignored with remove, which combines with neither upsert nor returnNew.
// When there is no document to return (no match without upsert, or an
// upsert that inserted with returnNew false) the result is an empty BSON
// document, as the original returned: mg_find_and_modify declares no
// exception, so its callers cannot decode TMongoNotFound.
func (c *Client) FindAndModify(ctx context.Context, pool, table string, shardID int32, query, change []byte,
	upsert, remove, returnNew bool) ([]byte, error) {
	q, ch, err := famArgs(table, query, change, upsert, remove, returnNew)
	if err != nil {
		return nil, err
	}
	var out bson.Raw
	err = c.run(ctx, opFindAndModify, pool, table, shardID, func(ctx context.Context, coll *mongo.Collection) (err error) {
		out, err = findAndModify(ctx, coll, q, ch, upsert, remove, returnNew)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return append([]byte(nil), emptyDoc...), nil
	}
	return out, err
}

func findAndModify(ctx context.Context, coll *mongo.Collection, q bson.Raw, ch change,
	upsert, remove, returnNew bool) (bson.Raw, error) {
	when := options.Before
	if returnNew {
		when = options.After
	}
	switch {
	case remove:
		return coll.FindOneAndDelete(ctx, q).Raw()
	case ch.replace:
		opts := options.FindOneAndReplace().SetUpsert(upsert).SetReturnDocument(when)
		return coll.FindOneAndReplace(ctx, q, ch.doc, opts).Raw()
	default:
		opts := options.FindOneAndUpdate().SetUpsert(upsert).SetReturnDocument(when)
		return coll.FindOneAndUpdate(ctx, q, ch.doc, opts).Raw()
	}
}

// idFilter selects the document whose _id is the int32 id.
func idFilter(id int32) bson.D { return bson.D{{Key: "_id", Value: id}} }

// writeArgs checks the table, query and change arguments of an update.
func writeArgs(table string, queryDoc, changeDoc []byte) (bson.Raw, change, error) {
	q, _, err := readArgs(table, queryDoc, nil)
	if err != nil {
		return nil, change{}, err
	}
	ch, err := parseChange(changeDoc)
	return q, ch, err
}

// famArgs checks FindAndModify's arguments.
func famArgs(table string, queryDoc, changeDoc []byte, upsert, remove, returnNew bool) (bson.Raw, change, error) {
	if !remove {
		return writeArgs(table, queryDoc, changeDoc)
	}
	if upsert || returnNew {
		return nil, change{}, invalid("remove", "combines with neither upsert nor returnNew")
	}
	q, _, err := readArgs(table, queryDoc, nil)
	return q, change{}, err
}

func insertArgs(table, arg string, doc []byte) (bson.Raw, error) {
	if err := checkTable(table); err != nil {
		return nil, err
	}
	return document(arg, doc)
}

func insertsArgs(table string, docs [][]byte) ([]bson.Raw, error) {
	if len(docs) == 0 {
		return nil, invalid("docs", "empty list")
	}
	out := make([]bson.Raw, len(docs))
	for i, doc := range docs {
		d, err := insertArgs(table, fmt.Sprintf("docs[%d]", i), doc)
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}
