package lock

import "time"

// entry is one held (or expired, not yet swept) lock.
type entry struct {
	key        string
	expires    time.Time
	prev, next *entry
}

// expiryList is an intrusive doubly linked list of entries. Table keeps it
// ordered by expiry, soonest first: every push is at now+Expiry with now read
// under the table's lock from a monotonic clock, so it is never earlier
// than anything already in the list.
type expiryList struct {
	head, tail *entry
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
