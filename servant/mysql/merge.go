package mysql

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Merge merges the JSON object jsonValue into the JSON object stored in
// column of the row of table that where selects (my_merge), atomically, and
// returns the merged object. In one transaction it runs
//
//	SELECT `column` FROM `table` WHERE <where> FOR UPDATE
//	UPDATE `table` SET `column` = ? WHERE <where>
//
// with the merged JSON bound as the parameter: concurrent Merges of a row
// wait for each other's row lock, so none loses another's keys.
//
// Merging: each key of jsonValue replaces the stored key of that name, except
// that where both values are objects they are merged the same way,
// recursively (the original's mergemap behaviour). A JSON null is stored as
// null, not deleted. A stored NULL or empty string counts as {}. Numbers keep
// their exact digits; keys come out sorted.
//
// table (plain or db.table) and column must be plain identifiers (letters,
// digits, _, $; not starting with a digit), as they cannot be bound. where is
// SQL from the caller, trusted exactly as the sql of Query is. key is the
// caller's name for the merge and appears in errors only: the original used
// it to name an in-process mutex, which the row lock replaces, and which
// held on one node only.
//
// ok is false, with a nil error, when where matches no row; matching more
// than one row is an error wrapping ErrMergeRows. Merge is a write: on a
// sharded pool it goes to hintID's shard and fails with ErrShardLocked while
// the entity is locked.
func (c *Client) Merge(ctx context.Context, pool, table string, hintID int64, where, key, column,
	jsonValue string) (ok bool, newVal string, err error) {
	defer func() {
		if err != nil && key != "" {
			err = fmt.Errorf("merge %q: %w", key, err)
		}
	}()
	m, err := newMerge(table, column, where, jsonValue)
	if err != nil {
		return false, "", err
	}
	srv, err := c.route(ctx, pool, hintID, true)
	if err != nil {
		return false, "", err
	}
	if err := srv.check(m.selectSQL); err != nil { // where is the caller's SQL
		return false, "", err
	}
	err = srv.do(func() error { return m.run(ctx, srv) })
	return m.found && err == nil, m.newVal, err
}

// merge is one Merge call's statements and outcome.
type merge struct {
	selectSQL, updateSQL string
	patch                map[string]any

	found  bool
	newVal string
}

func newMerge(table, column, where, jsonValue string) (*merge, error) {
	if err := checkTable(table); err != nil {
		return nil, fmt.Errorf("%w: table: %v", ErrBadIdentifier, err)
	}
	if err := checkIdent(column); err != nil {
		return nil, fmt.Errorf("%w: column: %v", ErrBadIdentifier, err)
	}
	if strings.TrimSpace(where) == "" {
		return nil, errors.New("mysql: merge needs a where clause")
	}
	patch, err := decodeObject(jsonValue)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMergeValue, err)
	}
	t, col := quoteTable(table), "`"+column+"`"
	return &merge{
		selectSQL: "SELECT " + col + " FROM " + t + " WHERE " + where + " FOR UPDATE",
		updateSQL: "UPDATE " + t + " SET " + col + " = ? WHERE " + where,
		patch:     patch,
	}, nil
}

// run reads, merges and writes in one transaction on srv.
func (m *merge) run(ctx context.Context, srv *server) error {
	// The UPDATE is prepared before the transaction holds a connection:
	// preparing may need a second one, and waiting for it while holding
	// the row lock can starve the pool (every connection in a Merge).
	update, err := srv.stmts.get(ctx, m.updateSQL)
	if err != nil {
		return err
	}
	defer srv.stmts.release(update)
	tx, err := srv.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // a no-op once committed
	stored, found, err := selectOne(ctx, tx, m.selectSQL)
	if err != nil || !found {
		return err
	}
	merged, err := mergeJSON(stored, m.patch)
	if err != nil {
		return err
	}
	if _, err := tx.StmtContext(ctx, update.stmt).ExecContext(ctx, merged); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	m.found, m.newVal = true, merged
	return nil
}

// selectOne runs q and returns its only row's only column; found is false
// if there is no row.
func selectOne(ctx context.Context, tx *sql.Tx, q string) (val sql.NullString, found bool, err error) {
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return val, false, err
	}
	defer rows.Close()
	for rows.Next() {
		if found {
			return val, false, ErrMergeRows
		}
		if err := rows.Scan(&val); err != nil {
			return val, false, err
		}
		found = true
	}
	return val, found, rows.Err()
}

// mergeJSON merges patch into the stored object and encodes the result.
func mergeJSON(stored sql.NullString, patch map[string]any) (string, error) {
	base := map[string]any{}
	if stored.Valid && strings.TrimSpace(stored.String) != "" {
		var err error
		if base, err = decodeObject(stored.String); err != nil {
			return "", fmt.Errorf("%w: %v", ErrMergeStored, err)
		}
	}
	mergeInto(base, patch)
	return encodeJSON(base)
}

// mergeInto sets every key of src in dst, merging where both are objects.
func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if sub, ok := v.(map[string]any); ok {
			if have, ok := dst[k].(map[string]any); ok {
				mergeInto(have, sub)
				continue
			}
		}
		dst[k] = v
	}
}

// decodeObject decodes s, which must be exactly one JSON object, keeping
// numbers as their literal digits.
func decodeObject(s string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("got a JSON %s, want an object", jsonKind(v))
	}
	return obj, nil
}

// jsonKind names the kind of a decoded JSON value.
func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	}
	return "null"
}

// encodeJSON encodes v compactly, without escaping <, > and &.
func encodeJSON(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}
