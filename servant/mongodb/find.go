package mongodb

import (
	"context"
	"fmt"
	"math"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// FindOne returns the first document matching query (empty: any document),
// with only fields (empty: all), as BSON. No match is ErrNotFound.
func (c *Client) FindOne(ctx context.Context, pool, table string, shardID int32, query, fields []byte) ([]byte, error) {
	q, proj, err := readArgs(table, query, fields)
	if err != nil {
		return nil, err
	}
	return c.findOne(ctx, opFindOne, pool, table, shardID, q, proj)
}

// FindID returns the document whose _id is named by id, as BSON. id is a
// BSON document: {"_id": value}, or any one-element document whose value
// is the _id, so PHP sends bson_encode(['_id' => $id]). No match is
// ErrNotFound (mg_find_id declares no TMongoNotFound: the dispatcher
// decides what the client sees).
func (c *Client) FindID(ctx context.Context, pool, table string, shardID int32, id []byte) ([]byte, error) {
	if err := checkTable(table); err != nil {
		return nil, err
	}
	v, err := idValue(id)
	if err != nil {
		return nil, err
	}
	return c.findOne(ctx, opFindID, pool, table, shardID, bson.D{{Key: "_id", Value: v}}, nil)
}

func (c *Client) findOne(ctx context.Context, o op, pool, table string, shardID int32, filter any, proj bson.Raw) ([]byte, error) {
	opts := options.FindOne()
	if proj != nil {
		opts.SetProjection(proj)
	}
	var out bson.Raw
	err := c.run(ctx, o, pool, table, shardID, func(ctx context.Context, coll *mongo.Collection) (err error) {
		out, err = coll.FindOne(ctx, filter, opts).Raw()
		return err
	})
	return out, err
}

// FindAll returns the documents matching query, with only fields, skipping
// skip and returning at most limit of them (zero: no bound), sorted by
// orderBy: items "field" (or "+field") ascending, "-field" descending,
// "$natural" for storage order. A negative limit or skip, or a bad orderBy
// item, is ErrInvalid. No match is an empty result, not an error. The
// whole result is held in memory: callers bound it with limit.
func (c *Client) FindAll(ctx context.Context, pool, table string, shardID int32, query, fields []byte,
	limit, skip int32, orderBy []string) ([][]byte, error) {
	q, proj, err := readArgs(table, query, fields)
	if err != nil {
		return nil, err
	}
	opts, err := findOptions(proj, limit, skip, orderBy)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	err = c.run(ctx, opFindAll, pool, table, shardID, func(ctx context.Context, coll *mongo.Collection) error {
		return findAll(ctx, coll, q, opts, &out)
	})
	return out, err
}

func findOptions(proj bson.Raw, limit, skip int32, orderBy []string) (*options.FindOptionsBuilder, error) {
	if err := checkPage(limit, skip); err != nil {
		return nil, err
	}
	sort, err := parseOrderBy(orderBy)
	if err != nil {
		return nil, err
	}
	opts := options.Find()
	if proj != nil {
		opts.SetProjection(proj)
	}
	if sort != nil {
		opts.SetSort(sort)
	}
	if limit > 0 {
		opts.SetLimit(int64(limit))
	}
	return opts.SetSkip(int64(skip)), nil
}

// findAll appends every document of the cursor to out, copied: the
// cursor's current document is only valid until its next batch.
func findAll(ctx context.Context, coll *mongo.Collection, q bson.Raw, opts *options.FindOptionsBuilder, out *[][]byte) error {
	cur, err := coll.Find(ctx, q, opts)
	if err != nil {
		return err
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		*out = append(*out, append([]byte(nil), cur.Current...))
	}
	return cur.Err()
}

// Count returns how many documents match query (empty: all of them).
func (c *Client) Count(ctx context.Context, pool, table string, shardID int32, query []byte) (int32, error) {
	q, _, err := readArgs(table, query, nil)
	if err != nil {
		return 0, err
	}
	var n int64
	err = c.run(ctx, opCount, pool, table, shardID, func(ctx context.Context, coll *mongo.Collection) (err error) {
		n, err = coll.CountDocuments(ctx, q)
		return err
	})
	if err == nil && n > math.MaxInt32 {
		return 0, fmt.Errorf("pool %q table %q: count %d does not fit mg_count's i32", pool, table, n)
	}
	return int32(n), err
}

// readArgs checks the table, query and fields arguments of a read.
func readArgs(table string, queryDoc, fields []byte) (bson.Raw, bson.Raw, error) {
	if err := checkTable(table); err != nil {
		return nil, nil, err
	}
	q, err := query("query", queryDoc)
	if err != nil {
		return nil, nil, err
	}
	proj, err := projection(fields)
	return q, proj, err
}
