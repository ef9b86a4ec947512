package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	_ "github.com/go-sql-driver/mysql" // MariaDB's performance_schema, read by backendClock
)

// A -php run can say where the time of a call goes: faed's own clock of it
// (the handler's time, from GET /stats) and MariaDB's clock of its
// statements (performance_schema), each the mean over the calls of the
// measured window. SPEC §10 holds the first against the second.

// clock reads a running total of some calls' time: how many there were
// and their summed time in microseconds.
type clock interface {
	read() (count int64, totalUs float64, err error)
}

// meanOver returns what c's calls took on average between before and the
// reading it takes now.
func meanOver(c clock, before [2]float64) (float64, error) {
	n, total, err := c.read()
	if err != nil {
		return 0, err
	}
	if calls := float64(n) - before[0]; calls > 0 {
		return (total - before[1]) / calls, nil
	}
	return 0, errors.New("no calls were timed in the window")
}

// readNow is a clock reading as meanOver takes it.
func readNow(c clock) ([2]float64, error) {
	n, total, err := c.read()
	return [2]float64{float64(n), total}, err
}

// handlerClock is faed's per-call stats of one call name.
type handlerClock struct{ admin, call string }

func (h handlerClock) read() (int64, float64, error) {
	var s struct {
		Engine struct {
			PerCall []struct {
				Name    string  `json:"name"`
				Count   int64   `json:"count"`
				TotalUs float64 `json:"total_us"`
			} `json:"per_call"`
		} `json:"engine"`
	}
	if err := getJSON(h.admin, "/stats", &s); err != nil {
		return 0, 0, err
	}
	for _, c := range s.Engine.PerCall {
		if c.Name == h.call {
			return c.Count, c.TotalUs, nil
		}
	}
	return 0, 0, nil // not called yet
}

// backendClock is MariaDB's own time of the SELECTs it ran, whether sent as
// text (mysqli's query) or as a prepared statement's execution (faed's).
// Its own reading is one of them: one among the window's thousands.
type backendClock struct{ db *sql.DB }

// newBackendClock opens a clock on the MariaDB of dsn (go-sql-driver/mysql
// form), whose performance_schema must be on.
func newBackendClock(dsn string) (backendClock, error) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return backendClock{}, err
	}
	db.SetMaxOpenConns(1)
	return backendClock{db}, nil
}

func (b backendClock) read() (int64, float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var n int64
	var totalPs float64 // SUM_TIMER_WAIT is in picoseconds
	err := b.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(COUNT_STAR), 0), COALESCE(SUM(SUM_TIMER_WAIT), 0)
		FROM performance_schema.events_statements_summary_global_by_event_name
		WHERE EVENT_NAME IN ('statement/sql/select', 'statement/com/Execute')`).Scan(&n, &totalPs)
	if err != nil {
		return 0, 0, fmt.Errorf("reading MariaDB's performance_schema: %w", err)
	}
	return n, totalPs / 1e6, nil
}
