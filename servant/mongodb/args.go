package mongodb

import (
	"errors"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// emptyDoc is the BSON encoding of {}: the query matching every document.
// It is never written to.
var emptyDoc = bson.Raw{5, 0, 0, 0, 0}

// invalid returns an error wrapping ErrInvalid that names the argument.
func invalid(arg, format string, a ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, arg, fmt.Sprintf(format, a...))
}

// document checks that b holds exactly one valid BSON document.
func document(arg string, b []byte) (bson.Raw, error) {
	if err := bson.Raw(b).Validate(); err != nil {
		return nil, invalid(arg, "not a BSON document (%d bytes): %v", len(b), err)
	}
	return bson.Raw(b), nil
}

// query returns the filter in b; empty bytes match every document.
func query(arg string, b []byte) (bson.Raw, error) {
	if len(b) == 0 {
		return emptyDoc, nil
	}
	return document(arg, b)
}

// projection returns the fields to return, or nil for all of them.
func projection(b []byte) (bson.Raw, error) {
	if len(b) == 0 {
		return nil, nil
	}
	return document("fields", b)
}

// change is a parsed change argument. mgo's Update, Upsert and Apply sent
// a change as given: a document of $ operators updates the matched
// document, a plain document replaces it (its _id kept). A document mixing
// the two is refused here, as the server would refuse it.
type change struct {
	doc     bson.Raw
	replace bool
}

// parseChange checks the change argument and tells update from replace.
func parseChange(b []byte) (change, error) {
	doc, err := document("change", b)
	if err != nil {
		return change{}, err
	}
	elems, err := doc.Elements()
	if err != nil || len(elems) == 0 {
		return change{}, invalid("change", "empty document")
	}
	ops := 0
	for _, e := range elems {
		if strings.HasPrefix(e.Key(), "$") {
			ops++
		}
	}
	if ops != 0 && ops != len(elems) {
		return change{}, invalid("change", "mixes $ operators and plain fields")
	}
	return change{doc: doc, replace: ops == 0}, nil
}

// idValue returns the _id an mg_find_id id argument names. id is a BSON
// document holding the _id value: {"_id": v}, or any document of exactly
// one element whose value is the _id (PHP's bson_encode of a scalar is not
// self-describing, so a bare value cannot be accepted).
func idValue(b []byte) (bson.RawValue, error) {
	doc, err := document("id", b)
	if err != nil {
		return bson.RawValue{}, err
	}
	if v, err := doc.LookupErr("_id"); err == nil {
		return v, nil
	}
	elems, _ := doc.Elements()
	if len(elems) != 1 {
		return bson.RawValue{}, invalid("id", `must be a BSON document {"_id": value} or of one element, got %d elements`, len(elems))
	}
	return elems[0].Value(), nil
}

// parseOrderBy turns mg_find_all's orderBy items into a sort document:
// "field" or "+field" ascending, "-field" descending, in the given order;
// "$natural" and "-$natural" sort by storage order.
// nil or empty means the server's natural order.
func parseOrderBy(items []string) (bson.D, error) {
	if len(items) == 0 {
		return nil, nil
	}
	sort := make(bson.D, 0, len(items))
	seen := make(map[string]bool, len(items))
	for i, item := range items {
		field, desc := strings.CutPrefix(item, "-")
		if !desc {
			field, _ = strings.CutPrefix(item, "+")
		}
		if err := checkField(field); err != nil {
			return nil, invalid(fmt.Sprintf("orderBy[%d]", i), "%v, got %q", err, item)
		}
		if seen[field] {
			return nil, invalid(fmt.Sprintf("orderBy[%d]", i), "field %q appears twice", field)
		}
		seen[field] = true
		sort = append(sort, bson.E{Key: field, Value: direction(desc)})
	}
	return sort, nil
}

// direction is a sort direction: -1 for descending, 1 for ascending.
func direction(descending bool) int32 {
	if descending {
		return -1
	}
	return 1
}

// checkField accepts a field path such as "a" or "a.b".
func checkField(field string) error {
	switch {
	case field == "":
		return errors.New("empty field")
	case field == "$natural": // the storage order, as mgo allowed
		return nil
	case strings.HasPrefix(field, "$"):
		return errors.New("field must not start with $ (except $natural)")
	case strings.HasPrefix(field, "-") || strings.HasPrefix(field, "+"):
		return errors.New("one direction sign only")
	case strings.Contains(field, "\x00"):
		return errors.New("field must not contain NUL")
	case strings.HasPrefix(field, ".") || strings.HasSuffix(field, ".") || strings.Contains(field, ".."):
		return errors.New("empty path segment")
	}
	return nil
}

// checkTable accepts a collection name clients may use.
func checkTable(table string) error {
	switch {
	case table == "":
		return invalid("table", "empty")
	case len(table) > 200:
		return invalid("table", "longer than 200 bytes")
	case strings.ContainsAny(table, "$\x00"):
		return invalid("table", "must not contain $ or NUL, got %q", table)
	case strings.HasPrefix(table, "system.") || strings.HasPrefix(table, "."):
		return invalid("table", "reserved name %q", table)
	}
	return nil
}

// checkPage checks find_all's limit and skip; zero means none.
func checkPage(limit, skip int32) error {
	if limit < 0 {
		return invalid("limit", "must not be negative, got %d", limit)
	}
	if skip < 0 {
		return invalid("skip", "must not be negative, got %d", skip)
	}
	return nil
}
