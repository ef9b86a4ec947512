package lock

import "time"

// entry is one held (or expired, not yet swept) lock.
type entry struct {
	key        string
	expires    time.Time
	prev, next *entry // in the expiry list
	vb         int
	vbPrev     *entry // in vb's list (see vbList)
	vbNext     *entry
}

// expiryList is an intrusive doubly linked list of entries. Table keeps it
// ordered by expiry, soonest first: every push is at now+Expiry with now read
// under the table's lock from a monotonic clock, so it is never earlier
// than anything already in the list.
type expiryList struct {
	head, tail *entry
}

// insert puts e, whose expiry may be earlier than the tail's (an imported
// lock), where it keeps the list ordered, walking back from the tail.
func (l *expiryList) insert(e *entry) {
	at := l.tail
	for at != nil && at.expires.After(e.expires) {
		at = at.prev
	}
	if at == l.tail {
		l.pushBack(e)
		return
	}
	e.prev = at
	if at == nil {
		e.next, l.head = l.head, e
	} else {
		e.next, at.next = at.next, e
	}
	e.next.prev = e
}

func (l *expiryList) pushBack(e *entry) {
	e.prev, e.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = e
	} else {
		l.head = e
	}
	l.tail = e
}

func (l *expiryList) remove(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// vbList links the entries of each vbucket, so a vbucket's locks are found
// without a scan of the table: heads[vb] is its first entry.
type vbList struct {
	heads []*entry
}

func (l *vbList) add(e *entry) {
	e.vbPrev, e.vbNext = nil, l.heads[e.vb]
	if e.vbNext != nil {
		e.vbNext.vbPrev = e
	}
	l.heads[e.vb] = e
}

func (l *vbList) remove(e *entry) {
	if e.vbPrev != nil {
		e.vbPrev.vbNext = e.vbNext
	} else {
		l.heads[e.vb] = e.vbNext
	}
	if e.vbNext != nil {
		e.vbNext.vbPrev = e.vbPrev
	}
	e.vbPrev, e.vbNext = nil, nil
}
