#!/usr/bin/env bash
# bench.sh: measure faed against the floors it is compared with (SPEC §10).
# Builds bin/faed and bin/faebench, starts faed, a raw echo server, a stock
# Apache Thrift server (with and without thrift's per-call connectivity-check
# goroutine), memcached, and a two-node faed cluster on a ZooKeeper of its
# own, all on loopback, drives each with the same load generator, and prints
# a table with calls/s, p50/p99 latency, server CPU per call and faed's
# ratios: noop against echo and stock, lc_get against memcached's get, mc_get
# through faed against PHP talking to memcached itself (connect, 3 gets,
# close), a forwarded call against a local one, a local one on a cluster node
# (a vbucket map lookup) against a one-node faed's, and last the hand-off:
# one vbucket moved and a 3 -> 4 rebalance under load (faebench -handoff).
# `make bench` runs it from the repository root. Without memcached or
# ZooKeeper installed, their part is skipped with a message. Every process it
# starts is stopped on exit.
#
# Environment:
#   BENCH_DURATION    measured time per run (default 5s)
#   BENCH_ROUNDS      rounds of every run, interleaved; the table shows
#                     medians (default 1; use 3 on a busy machine)
#   BENCH_CLIENTS     concurrent clients (default 64)
#   BENCH_SIZE        value size in bytes of lc_get, mc_get and get, and of
#                     the MySQL rows (default 100)
#   BENCH_PHP_PROCS   PHP processes of the PHP runs (default 8)
#   BENCH_DELAY       what the delay proxies in front of memcached and MariaDB
#                     add each way (default 200us)
#   BENCH_IDLE_CONNS  connections held for the memory run (default 10000)
#   BENCH_DIR         sockets, config, logs and results (default /tmp/faed-bench)
#   FAED_BIN          use this faed binary instead of building ./cmd/faed
set -euo pipefail

duration=${BENCH_DURATION:-5s}
rounds=${BENCH_ROUNDS:-1}
clients=${BENCH_CLIENTS:-64}
size=${BENCH_SIZE:-100}
php_procs=${BENCH_PHP_PROCS:-8}
delay=${BENCH_DELAY:-200us}
idle_conns=${BENCH_IDLE_CONNS:-10000}
dir=${BENCH_DIR:-/tmp/faed-bench}
faed_bin=${FAED_BIN:-bin/faed}
bench=$PWD/bin/faebench

# ZooKeeper as Debian installs it. Debian's zookeeper.jar names slf4j-api
# but no binding: without the last two jars the server logs nothing at all.
zk_jar=/usr/share/java/zookeeper.jar
zk_classpath=/etc/zookeeper/conf:$zk_jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar

declare -A pid=()    # server name -> process id
started=()           # server names in start order; stopped in reverse
used_ports=" "       # ports handed out by free_port
faed_port='' http_port='' echo_port='' stock_port='' # set by free_port
mc_port=''           # memcached's port; empty when it is not installed
my_port=''           # MariaDB's port; empty when it is not installed
mc_delay_port='' my_delay_port='' # the delay proxies' ports in front of them
relay_port=''        # the relay in front of the echo server's TCP port
zk_port=''           # ZooKeeper's port; empty when it is not installed
node_a='' node_b=''  # the cluster nodes' advertised host:port
admin_a='' admin_b='' # the cluster nodes' admin host:port
results=             # JSON lines of every run

cleanup() {
	local i
	for ((i = ${#started[@]} - 1; i >= 0; i--)); do
		stop "${started[$i]}"
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# stop NAME: SIGTERM server NAME and reap it; SIGKILL it if it still runs
# after 15s. Servers stop in reverse start order, so the cluster nodes leave
# while their ZooKeeper still runs.
stop() {
	local p=${pid[$1]} i
	kill -TERM "$p" 2>/dev/null || return 0
	for ((i = 0; i < 150; i++)); do
		running "$p" || break
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
}

# running PID: whether the process exists and has not exited (an exited
# child stays a zombie until it is reaped).
running() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

# free_port VAR: store in VAR a loopback TCP port nothing listens on, taken
# below the kernel's ephemeral range so no outgoing connection holds it.
free_port() {
	local port low
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range
	while :; do
		port=$((10000 + RANDOM % (low - 10000)))
		[[ $used_ports == *" $port "* ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			used_ports+="$port "
			printf -v "$1" '%s' "$port"
			return
		fi
	done
}

# start NAME CMD...: run a server in the background, logging to NAME.log.
# It runs in $dir, so relative paths in its defaults (faed's kvdb file) land
# there and not in the work tree.
start() {
	local name=$1
	shift
	(cd "$dir" && exec "$@") >"$dir/$name.log" 2>&1 &
	pid[$name]=$!
	started+=("$name")
}

# fail NAME MESSAGE: say what failed, show the end of server NAME's log, exit.
fail() {
	echo "bench: $2; end of $dir/$1.log:" >&2
	tail -n 20 "$dir/$1.log" >&2
	exit 1
}

# wait_ready NAME ADDR: wait until server NAME accepts connections on ADDR.
wait_ready() {
	if ! "$bench" -wait 15s -addr "$2" || ! kill -0 "${pid[$1]}" 2>/dev/null; then
		fail "$1" "$1 is not accepting connections on $2"
	fi
}

# run SERVER ADDR CALL PATTERN [ARGS...]: one measured run against server
# SERVER (whose CPU time is measured and whose log is shown on failure).
# ARGS go to faebench after the defaults, so a -label, -pid or -c there wins.
run() {
	local name=$1 addr=$2 call=$3 pattern=$4
	shift 4
	if ! "$bench" -label "$name" -addr "$addr" -call "$call" -pattern "$pattern" \
		-c "$clients" -d "$duration" -size "$size" -pid "${pid[$name]}" -json "$@" >>"$results"; then
		fail "$name" "run $call/$pattern against $name failed"
	fi
}

raise_nofile() {
	if ! ulimit -n 65536 2>/dev/null; then
		ulimit -n "$(ulimit -Hn)"
		echo "bench: cannot raise open files to 65536; using $(ulimit -n)" >&2
	fi
}

# pool_config SECTION: a [SECTION] of pooled connections sized for the
# clients. A memcache pool already keeps max_open idle by default; the
# peer pool's default max_idle (4) would make nearly every one of $clients
# concurrent forwards dial and close a connection of its own: that
# measures dialling, not a pool sized for its load.
pool_config() {
	cat <<EOF
[$1]
max_idle = $clients
max_open = $((clients > 64 ? clients : 64))
EOF
}

write_config() {
	free_port faed_port
	free_port http_port
	cat >"$dir/faed.toml" <<EOF
[engine]
listen = ["unix:$dir/faed.sock", "tcp:127.0.0.1:$faed_port"]
max_outstanding_sessions = 20000
[http]
listen = "127.0.0.1:$http_port"
EOF
	if [[ -n $mc_port ]]; then
		free_port mc_delay_port
		cat >>"$dir/faed.toml" <<EOF
[servant.memcache.pools.default]
servers = ["127.0.0.1:$mc_port"]
[servant.memcache.pools.delayed]
servers = ["127.0.0.1:$mc_delay_port"]
EOF
		pool_config servant.memcache.pools.default.pool >>"$dir/faed.toml"
		pool_config servant.memcache.pools.delayed.pool >>"$dir/faed.toml"
	fi
	if [[ -n $my_port ]]; then
		free_port my_delay_port
		mysql_pool direct "$my_port" >>"$dir/faed.toml"
		mysql_pool delayed "$my_delay_port" >>"$dir/faed.toml"
	fi
}

# write_nostats_config: a one-node faed like faed.toml's, per-call stats
# off, on a unix socket of its own: what the stats cost.
write_nostats_config() {
	local http
	free_port http
	cat >"$dir/faed-nostats.toml" <<EOF
[engine]
listen = ["unix:$dir/faed-nostats.sock"]
max_outstanding_sessions = 20000
call_stats = false
[http]
listen = "127.0.0.1:$http"
[servant.kvdb]
path = "$dir/faed-nostats.kvdb"
EOF
}

# mysql_pool NAME PORT: faed's MySQL pool NAME on database faebench at PORT,
# with a connection for each PHP process.
mysql_pool() {
	cat <<EOF
[servant.mysql.pools.$1]
addr = "127.0.0.1:$2"
user = "root"
database = "faebench"
max_open = $php_procs
max_idle = $php_procs
EOF
}

start_servers() {
	free_port echo_port
	free_port stock_port
	start faed "$faed_bin" -config "$dir/faed.toml"
	write_nostats_config
	start faed-nostats "$faed_bin" -config "$dir/faed-nostats.toml"
	start echo "$bench" -serve echo -size "$size" -listen "unix:$dir/echo.sock,tcp:127.0.0.1:$echo_port"
	start stock "$bench" -serve stock -size "$size" -listen "unix:$dir/stock.sock,tcp:127.0.0.1:$stock_port"
	start stock-nocheck "$bench" -serve stock-nocheck -size "$size" -listen "unix:$dir/stock-nocheck.sock"
	free_port relay_port
	start relay "$bench" -serve relay -listen "tcp:127.0.0.1:$relay_port" -to "tcp:127.0.0.1:$echo_port"
	if [[ -n $mc_port ]]; then
		start delay-memcached "$bench" -serve delay -delay "$delay" \
			-listen "tcp:127.0.0.1:$mc_delay_port" -to "tcp:127.0.0.1:$mc_port"
	fi
	if [[ -n $my_port ]]; then
		start delay-mariadb "$bench" -serve delay -delay "$delay" \
			-listen "tcp:127.0.0.1:$my_delay_port" -to "tcp:127.0.0.1:$my_port"
	fi
	wait_ready faed "unix:$dir/faed.sock"
	wait_ready faed "tcp:127.0.0.1:$faed_port"
	wait_ready faed-nostats "unix:$dir/faed-nostats.sock"
	wait_ready echo "unix:$dir/echo.sock"
	wait_ready echo "tcp:127.0.0.1:$echo_port"
	wait_ready stock "unix:$dir/stock.sock"
	wait_ready stock "tcp:127.0.0.1:$stock_port"
	wait_ready stock-nocheck "unix:$dir/stock-nocheck.sock"
	wait_ready relay "tcp:127.0.0.1:$relay_port"
	if [[ -n $mc_port ]]; then
		wait_ready delay-memcached "tcp:127.0.0.1:$mc_delay_port"
	fi
	if [[ -n $my_port ]]; then
		wait_ready delay-mariadb "tcp:127.0.0.1:$my_delay_port"
	fi
}

# start_memcached: memcached with 2 worker threads (one per core here), or a
# message if it is not installed. Run as root, it needs -u root.
start_memcached() {
	if ! command -v memcached >/dev/null; then
		echo "bench: memcached is not installed (apt-get install memcached): skipping the memcached and mc_get runs" >&2
		return
	fi
	free_port mc_port
	start memcached memcached -u root -l 127.0.0.1 -p "$mc_port" -U 0 -t 2
	wait_ready memcached "tcp:127.0.0.1:$mc_port"
}

# start_mariadb: MariaDB on a fresh data directory in $dir/mariadb with
# table faebench.kv of rows 1..1000, each value $size bytes, or a message if
# MariaDB or PHP's mysqli is not installed. root has no password (over TCP
# from 127.0.0.1 too). performance_schema times the statements it runs.
start_mariadb() {
	if ! command -v mariadbd >/dev/null || ! command -v mariadb-install-db >/dev/null; then
		echo "bench: MariaDB is not installed (apt-get install mariadb-server): skipping the MySQL runs" >&2
		return
	fi
	if ! php -r 'exit(extension_loaded("mysqli") ? 0 : 1);' 2>/dev/null; then
		echo "bench: PHP's mysqli is not installed (apt-get install php-mysql): skipping the MySQL runs" >&2
		return
	fi
	local my=$dir/mariadb
	rm -rf "${my:?}"
	mkdir -p "$my/tmp"
	if ! mariadb-install-db --no-defaults --user=root --datadir="$my/data" --tmpdir="$my/tmp" \
		--auth-root-authentication-method=normal --skip-test-db >"$dir/mariadb-install.log" 2>&1; then
		echo "bench: mariadb-install-db failed; end of $dir/mariadb-install.log:" >&2
		tail -n 20 "$dir/mariadb-install.log" >&2
		exit 1
	fi
	free_port my_port
	start mariadb mariadbd --no-defaults --user=root --datadir="$my/data" --tmpdir="$my/tmp" \
		--socket="$my/mysqld.sock" --port="$my_port" --bind-address=127.0.0.1 --skip-name-resolve \
		--performance-schema=ON --max-connections=1000
	wait_ready mariadb "tcp:127.0.0.1:$my_port"
	mariadb_sql "CREATE DATABASE faebench;
		CREATE TABLE faebench.kv (id INT PRIMARY KEY, v MEDIUMBLOB NOT NULL);
		INSERT INTO faebench.kv WITH RECURSIVE n(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM n WHERE id < 1000)
			SELECT id, REPEAT('v', $size) FROM n;" || fail mariadb "cannot create table faebench.kv"
}

# mariadb_sql SQL: run SQL as root on the benchmark's MariaDB.
mariadb_sql() {
	mariadb --no-defaults --socket="$dir/mariadb/mysqld.sock" -u root --batch --skip-column-names -e "$1"
}

# start_zookeeper: a standalone ZooKeeper in $dir/zk, left starting in the
# background (the JVM takes seconds; wait_zookeeper waits for it), or a
# message if it is not installed.
start_zookeeper() {
	if ! command -v java >/dev/null || [[ ! -f $zk_jar ]]; then
		echo "bench: ZooKeeper is not installed (apt-get install zookeeper): skipping the cluster runs" >&2
		return
	fi
	free_port zk_port
	rm -rf "${dir:?}/zk"
	mkdir -p "$dir/zk/data"
	cat >"$dir/zk/zoo.cfg" <<EOF
tickTime=500
initLimit=10
syncLimit=5
dataDir=$dir/zk/data
clientPort=$zk_port
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok
EOF
	start zookeeper java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
		-Dzookeeper.log.dir="$dir/zk" -Dzookeeper.root.logger=INFO,CONSOLE \
		-cp "$zk_classpath" org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zk/zoo.cfg"
}

# zk_serving: whether ZooKeeper's `srvr` shows a Mode line (`ruok` answers
# before the server serves).
zk_serving() {
	local out
	out=$({ exec 3<>"/dev/tcp/127.0.0.1/$zk_port" && printf srvr >&3 && timeout 2 cat <&3; } 2>/dev/null) || return 1
	[[ $out == *"Mode:"* ]]
}

wait_zookeeper() {
	local i
	for ((i = 0; i < 600; i++)); do
		zk_serving && return
		running "${pid[zookeeper]}" || break
		sleep 0.1
	done
	fail zookeeper "ZooKeeper is not serving on 127.0.0.1:$zk_port"
}

# start_node NAME WORKER NODE_VAR ADMIN_VAR: a faed cluster node listening
# on TCP only, with idgen worker id WORKER; stores its advertised address in
# NODE_VAR and its admin address in ADMIN_VAR.
start_node() {
	# Not "port": free_port sets its VAR through dynamic scope, and has a
	# local of that name.
	local name=$1 worker=$2 tcp admin
	free_port tcp
	free_port admin
	cat >"$dir/$name.toml" <<EOF
[engine]
listen = ["tcp:127.0.0.1:$tcp"]
max_outstanding_sessions = 20000
[http]
listen = "127.0.0.1:$admin"
[servant.idgen]
worker_id = $worker
[servant.kvdb]
path = "$dir/$name.kvdb"
[cluster]
zookeeper = ["127.0.0.1:$zk_port"]
advertise = "127.0.0.1:$tcp"
session_timeout = "4s"
EOF
	pool_config cluster.peer_pool >>"$dir/$name.toml"
	start "$name" "$faed_bin" -config "$dir/$name.toml"
	printf -v "$3" '%s' "127.0.0.1:$tcp"
	printf -v "$4" '%s' "127.0.0.1:$admin"
}

# start_cluster: two faed nodes on the ZooKeeper, ready once each of them
# reports both as members.
start_cluster() {
	wait_zookeeper
	start_node faed-a 1 node_a admin_a
	start_node faed-b 2 node_b admin_b
	wait_ready faed-a "tcp:$node_a"
	wait_ready faed-b "tcp:$node_b"
	"$bench" -wait 30s -admin "$admin_a" -members "$node_a,$node_b" || fail faed-a "faed-a does not see both members"
	"$bench" -wait 30s -admin "$admin_b" -members "$node_a,$node_b" || fail faed-b "faed-b does not see both members"
}

# memcache_round: memcached's get against faed's lc_get and mc_get, over
# TCP (memcached's only listener here), persistent and in the PHP pattern;
# mc_get in the PHP pattern over faed's unix socket too, as PHP reaches a
# faed on its own host. mc_get's server CPU is faed's and memcached's.
memcache_round() {
	local mc=tcp:127.0.0.1:$mc_port faed_tcp=tcp:127.0.0.1:$faed_port both=${pid[faed]},${pid[memcached]}
	run memcached "$mc" get persistent -proto memcache
	run faed "$faed_tcp" lc_get persistent
	run echo "tcp:127.0.0.1:$echo_port" lc_get persistent
	run faed "$faed_tcp" mc_get persistent -pid "$both"
	run memcached "$mc" get php -proto memcache
	run faed "$faed_tcp" mc_get php -pid "$both"
	run faed "unix:$dir/faed.sock" mc_get php -pid "$both"
}

# php_run NAME ADDR MODE [ARGS...]: one measured run of $php_procs PHP
# processes (faebench -php MODE) against ADDR, with server NAME's CPU time;
# ARGS go to faebench after the defaults.
php_run() {
	local name=$1 addr=$2 mode=$3
	shift 3
	if ! "$bench" -label "$name" -php "$mode" -addr "$addr" -procs "$php_procs" \
		-d "$duration" -size "$size" -pid "${pid[$name]}" -json "$@" >>"$results"; then
		fail "$name" "PHP run $mode against $name failed"
	fi
}

# php_round: PHP itself against MariaDB and memcached, straight (mysqli, the
# memcache extension, over TCP) and through faed's unix socket and pooled
# connections, then the same with the delay proxies in front of both
# servers. faed's rows count faed's CPU time and the server's; the MySQL
# rows also give MariaDB's own time per SELECT, and faed's my_query rows
# the handler's.
php_round() {
	local faed_unix=unix:$dir/faed.sock admin=127.0.0.1:$http_port
	if [[ -n $my_port ]]; then
		local my_dsn="root@tcp(127.0.0.1:$my_port)/" both=${pid[faed]},${pid[mariadb]}
		php_run mariadb "tcp:127.0.0.1:$my_port" mysql -mariadb "$my_dsn"
		php_run faed "$faed_unix" my_query -pool direct -pid "$both" -admin "$admin" -mariadb "$my_dsn"
		php_run mariadb "tcp:127.0.0.1:$my_delay_port" mysql -delayed -mariadb "$my_dsn"
		php_run faed "$faed_unix" my_query -pool delayed -delayed -pid "$both" -admin "$admin" -mariadb "$my_dsn"
	fi
	if [[ -n $mc_port ]]; then
		local both=${pid[faed]},${pid[memcached]}
		php_run memcached "tcp:127.0.0.1:$mc_port" memcache
		php_run faed "$faed_unix" mc_get -pid "$both"
		php_run memcached "tcp:127.0.0.1:$mc_delay_port" memcache -delayed
		php_run faed "$faed_unix" mc_get -pool delayed -delayed -pid "$both"
	fi
}

# cluster_round: node A's lc_get of a key it owns (by the vbucket map of
# GET /cluster/map) against one of a key node B owns and against the
# one-node faed's, at full concurrency and with one client; and the same
# lc_get through the relay in front of the echo server: client -> relay ->
# echo server is the floor of client -> node A -> node B. Server CPU is both
# nodes' (the one-node faed's alone; the relay's and the echo server's).
cluster_round() {
	local both=${pid[faed-a]},${pid[faed-b]} c
	for c in "$clients" 1; do
		run faed-a "tcp:$node_a" lc_get persistent -c "$c" -label faed-local -pid "$both" \
			-owned-by "$node_a" -admin "$admin_a"
		run faed-a "tcp:$node_a" lc_get persistent -c "$c" -label faed-fwd -pid "$both" \
			-owned-by "$node_b" -admin "$admin_a"
		run faed "tcp:127.0.0.1:$faed_port" lc_get persistent -c "$c" -label faed-1node
		run relay "tcp:127.0.0.1:$relay_port" lc_get persistent -c "$c" -pid "${pid[relay]},${pid[echo]}"
	done
}

# round: every load run once, the servers compared on a workload back to back.
round() {
	local name
	for name in echo stock stock-nocheck faed faed-nostats; do
		run "$name" "unix:$dir/$name.sock" noop persistent
	done
	local call
	for call in ping lc_get; do
		for name in stock faed faed-nostats; do
			run "$name" "unix:$dir/$name.sock" "$call" persistent
		done
	done
	for name in echo stock faed; do
		run "$name" "unix:$dir/$name.sock" noop php
	done
	run echo "tcp:127.0.0.1:$echo_port" noop php
	run stock "tcp:127.0.0.1:$stock_port" noop php
	run faed "tcp:127.0.0.1:$faed_port" noop php
	if [[ -n $mc_port ]]; then
		memcache_round
	fi
	php_round
	if [[ -n $zk_port ]]; then
		cluster_round
	fi
}

main() {
	mkdir -p bin "$dir"
	if [[ -z ${FAED_BIN:-} ]]; then
		go build -o bin/faed ./cmd/faed
	fi
	go build -o "$bench" ./cmd/faebench
	faed_bin=$(realpath "$faed_bin")
	raise_nofile
	start_zookeeper
	start_memcached
	start_mariadb
	write_config
	start_servers
	if [[ -n $zk_port ]]; then
		start_cluster
	fi
	results=$dir/results.jsonl
	: >"$results"
	echo "bench: $(nproc) cores, $clients clients, $rounds x $duration per run, results in $results" >&2

	local i
	for ((i = 1; i <= rounds; i++)); do
		round
	done
	if ! "$bench" -label faed -idle "$idle_conns" -addr "unix:$dir/faed.sock" -pid "${pid[faed]}" -json >>"$results"; then
		fail faed "idle run against faed failed"
	fi

	echo
	"$bench" -summary "$results"
	if [[ -n $zk_port ]]; then
		handoff
	fi
}

# handoff: faebench starts faed nodes of its own on the ZooKeeper and
# measures one vbucket move and a 3 -> 4 rebalance under load (issue 8).
# The benchmark's own cluster and one-node faed are stopped first, so the
# two cores are the hand-off's alone.
handoff() {
	local i
	for ((i = ${#started[@]} - 1; i >= 0; i--)); do
		[[ ${started[$i]} == zookeeper ]] || stop "${started[$i]}"
	done
	if ! "$bench" -handoff "$dir/handoff" -faed "$faed_bin" -zookeeper "127.0.0.1:$zk_port" \
		-c "$clients" -d "$duration" -size "$size"; then
		echo "bench: the hand-off run failed; node logs in $dir/handoff" >&2
		exit 1
	fi
}

main "$@"
