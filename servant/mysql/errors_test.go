package mysql

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"
)

func TestIsServerFault(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"duplicate key", &mysql.MySQLError{Number: 1062}, false},
		{"syntax", &mysql.MySQLError{Number: 1064}, false},
		{"unknown column", &mysql.MySQLError{Number: 1054}, false},
		{"no such table", &mysql.MySQLError{Number: 1146}, false},
		{"deadlock", &mysql.MySQLError{Number: 1213}, false},
		{"wrapped user error", fmt.Errorf("x: %w", &mysql.MySQLError{Number: 1062}), false},
		{"too many connections", &mysql.MySQLError{Number: 1040}, true},
		{"server shutdown", &mysql.MySQLError{Number: 1053}, true},
		{"access denied", &mysql.MySQLError{Number: 1045}, true},
		{"bad conn", driver.ErrBadConn, true},
		{"invalid conn", mysql.ErrInvalidConn, true},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"eof", io.ErrUnexpectedEOF, true},
		{"deadline", context.DeadlineExceeded, true},
		{"other", errors.New("sql: expected 1 arguments, got 0"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isServerFault(tt.err); got != tt.want {
				t.Errorf("isServerFault(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
