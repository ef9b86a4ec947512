package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/faed/faed/pool"

	"github.com/go-sql-driver/mysql"
)

// server is one configured pool: a database/sql DB (which pools the
// connections) on one server, guarded by the breaker it shares with the
// other pools on that server. It is safe for concurrent use.
type server struct {
	name string // the pool's name
	addr string // host:port, as errors and stats name it
	cfg  PoolConfig
	db   *sql.DB
	br   *pool.Breaker

	stmts     *stmtCache
	multibyte bool // cfg.Charset may hide an ASCII byte in a character (see checkSession)

	queries, errors atomic.Uint64
}

// openServer builds the pool name; it does not connect.
func openServer(name string, cfg PoolConfig, br *pool.Breaker) (*server, error) {
	cfg = cfg.withDefaults()
	dc, err := driverConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("pools.%s: %w", name, err)
	}
	conn, err := mysql.NewConnector(dc)
	if err != nil {
		return nil, fmt.Errorf("pools.%s: %w", name, err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(cfg.MaxOpen)
	db.SetMaxIdleConns(cfg.MaxIdle)
	db.SetConnMaxIdleTime(cfg.ConnMaxIdleTime)
	db.SetConnMaxLifetime(cfg.ConnMaxLifetime)
	return &server{name: name, addr: cfg.address(), cfg: cfg, db: db, br: br,
		stmts: newStmtCache(db, cfg.StmtCacheSize), multibyte: hasASCIITrailBytes(cfg.Charset)}, nil
}

// driverConfig turns a pool's config (with its defaults) into the driver's.
// Every new connection gets the pool's session: SET NAMES with the charset
// and collation, then one SET of autocommit = 1, sql_mode and time_zone.
// Arguments are never interpolated into the SQL text, where a charset the
// escaping did not expect could turn a value into SQL: a statement with
// arguments is prepared on the server (see stmtCache). Multi-statements
// stay off, so a call is one statement.
func driverConfig(p PoolConfig) (*mysql.Config, error) {
	c := mysql.NewConfig()
	c.User, c.Passwd = p.User, string(p.Password)
	c.Net, c.Addr, c.DBName = "tcp", p.address(), p.Database
	c.Timeout, c.ReadTimeout, c.WriteTimeout = p.DialTimeout, p.ReadTimeout, p.WriteTimeout
	c.InterpolateParams, c.MultiStatements = false, false
	if err := c.Apply(mysql.Charset(p.Charset, p.Collation)); err != nil {
		return nil, err
	}
	// Validate keeps the values to words, so quoting them is enough.
	c.Params = map[string]string{"autocommit": "1", "sql_mode": "'" + p.SQLMode + "'"}
	if p.TimeZone != "" {
		c.Params["time_zone"] = "'" + p.TimeZone + "'"
	}
	return c, nil
}

// check refuses, naming the pool, a statement that would leave session
// state on its connection (see checkSession). It runs before the breaker:
// a refused statement never reaches the server.
func (s *server) check(q string) error {
	if err := checkSession(q, s.multibyte); err != nil {
		return fmt.Errorf("pool %q: %w", s.name, err)
	}
	return nil
}

// do runs fn through the breaker, counts it, and names the pool and server
// in its error. A refusal by the open breaker returns at once.
func (s *server) do(fn func() error) error {
	s.queries.Add(1)
	err := s.guard(fn)
	if err != nil {
		s.errors.Add(1)
		return fmt.Errorf("pool %q on %s: %w", s.name, s.addr, err)
	}
	return nil
}

// guard runs fn if the breaker allows, and reports the outcome to it.
func (s *server) guard(fn func() error) error {
	if err := s.br.Allow(); err != nil {
		return err
	}
	err := fn()
	report(s.br, err)
	return err
}

// query runs a read and returns its rows.
func (s *server) query(ctx context.Context, q string, args []any) (*Result, error) {
	if err := s.check(q); err != nil {
		return nil, err
	}
	var r *Result
	err := s.do(func() error {
		rows, err := s.rows(ctx, q, args)
		if err != nil {
			return err
		}
		r, err = scan(rows)
		return err
	})
	return r, err
}

// rows runs q: as text when it has no arguments (nothing to bind, one round
// trip), else through its cached prepared statement. The statement may be
// released before rows is closed: database/sql closes a Stmt only after
// the rows it returned.
func (s *server) rows(ctx context.Context, q string, args []any) (*sql.Rows, error) {
	if len(args) == 0 {
		return s.db.QueryContext(ctx, q)
	}
	cs, err := s.stmts.get(ctx, q)
	if err != nil {
		return nil, err
	}
	defer s.stmts.release(cs)
	return cs.stmt.QueryContext(ctx, args...)
}

// result executes q as rows runs it.
func (s *server) result(ctx context.Context, q string, args []any) (sql.Result, error) {
	if len(args) == 0 {
		return s.db.ExecContext(ctx, q)
	}
	cs, err := s.stmts.get(ctx, q)
	if err != nil {
		return nil, err
	}
	defer s.stmts.release(cs)
	return cs.stmt.ExecContext(ctx, args...)
}

// exec runs a write and returns the rows it affected and its insert id.
func (s *server) exec(ctx context.Context, q string, args []any) (*Result, error) {
	if err := s.check(q); err != nil {
		return nil, err
	}
	r := &Result{}
	err := s.do(func() error {
		res, err := s.result(ctx, q, args)
		if err != nil {
			return err
		}
		// The driver's Result never fails; it carries both numbers.
		r.RowsAffected, _ = res.RowsAffected()
		r.LastInsertID, _ = res.LastInsertId()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// run pings the pool every PingInterval until ctx is done or stop closes.
// With PingInterval 0 it only waits.
func (s *server) run(ctx context.Context, stop <-chan struct{}) {
	var tick <-chan time.Time // nil: never fires
	if s.cfg.PingInterval > 0 {
		t := time.NewTicker(s.cfg.PingInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-tick:
			s.ping(ctx)
		}
	}
}

// ping checks the server through the breaker: while it is open the ping is
// skipped, once half-open the ping is the trial call, and a failed ping
// counts as a failure (database/sql retries a dead idle connection with a
// fresh one, so a failed Ping means the server itself did not answer).
func (s *server) ping(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*s.cfg.DialTimeout)
	defer cancel()
	_ = s.guard(func() error { return s.db.PingContext(ctx) })
}

// scan reads every row into a Result, NULL as "NULL", and closes rows.
func scan(rows *sql.Rows) (*Result, error) {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	raw := make([]sql.RawBytes, len(cols))
	dest := make([]any, len(cols))
	for i := range raw {
		dest[i] = &raw[i]
	}
	r := &Result{Cols: cols, Rows: [][]string{}}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		r.Rows = append(r.Rows, texts(raw))
	}
	return r, rows.Err()
}

// texts copies one row out of the driver's buffer.
func texts(raw []sql.RawBytes) []string {
	row := make([]string, len(raw))
	for i, b := range raw {
		if b == nil {
			row[i] = Null
		} else {
			row[i] = string(b)
		}
	}
	return row
}

// anyArgs converts the call's string arguments for database/sql.
func anyArgs(args []string) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a
	}
	return out
}
