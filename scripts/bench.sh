#!/usr/bin/env bash
# bench.sh: measure faed against the floors it is compared with (SPEC §10).
# Builds bin/faed and bin/faebench, starts faed, a raw echo server and a stock
# Apache Thrift server (with and without thrift's per-call connectivity-check
# goroutine) on loopback, drives each with the same load generator, and prints
# a table with calls/s, p50/p99 latency, server CPU per call and faed's ratios.
# `make bench` runs it from the repository root. Loopback only.
#
# Environment:
#   BENCH_DURATION    measured time per run (default 5s)
#   BENCH_ROUNDS      rounds of every run, interleaved; the table shows
#                     medians (default 1; use 3 on a busy machine)
#   BENCH_CLIENTS     concurrent clients (default 64)
#   BENCH_IDLE_CONNS  connections held for the memory run (default 10000)
#   BENCH_DIR         sockets, config, logs and results (default /tmp/faed-bench)
#   FAED_BIN          use this faed binary instead of building ./cmd/faed
set -euo pipefail

duration=${BENCH_DURATION:-5s}
rounds=${BENCH_ROUNDS:-1}
clients=${BENCH_CLIENTS:-64}
idle_conns=${BENCH_IDLE_CONNS:-10000}
dir=${BENCH_DIR:-/tmp/faed-bench}
faed_bin=${FAED_BIN:-bin/faed}
bench=$PWD/bin/faebench

declare -A pid=()    # server name -> process id
used_ports=" "       # ports handed out by free_port
faed_port='' http_port='' echo_port='' stock_port='' # set by free_port
results=             # JSON lines of every run

cleanup() {
	local name
	for name in "${!pid[@]}"; do kill -TERM "${pid[$name]}" 2>/dev/null || true; done
	for name in "${!pid[@]}"; do wait "${pid[$name]}" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

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
}

# wait_ready NAME ADDR: wait until server NAME accepts connections on ADDR.
wait_ready() {
	if ! "$bench" -wait 15s -addr "$2" || ! kill -0 "${pid[$1]}" 2>/dev/null; then
		echo "bench: $1 is not accepting connections on $2; end of $dir/$1.log:" >&2
		tail -n 20 "$dir/$1.log" >&2
		exit 1
	fi
}

# run NAME ADDR CALL PATTERN: one measured run against server NAME.
run() {
	local name=$1 addr=$2 call=$3 pattern=$4
	if ! "$bench" -label "$name" -addr "$addr" -call "$call" -pattern "$pattern" \
		-c "$clients" -d "$duration" -pid "${pid[$name]}" -json >>"$results"; then
		echo "bench: run $call/$pattern against $name failed; end of $dir/$name.log:" >&2
		tail -n 20 "$dir/$name.log" >&2
		exit 1
	fi
}

raise_nofile() {
	if ! ulimit -n 65536 2>/dev/null; then
		ulimit -n "$(ulimit -Hn)"
		echo "bench: cannot raise open files to 65536; using $(ulimit -n)" >&2
	fi
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
}

start_servers() {
	free_port echo_port
	free_port stock_port
	start faed "$faed_bin" -config "$dir/faed.toml"
	start echo "$bench" -serve echo -listen "unix:$dir/echo.sock,tcp:127.0.0.1:$echo_port"
	start stock "$bench" -serve stock -listen "unix:$dir/stock.sock,tcp:127.0.0.1:$stock_port"
	start stock-nocheck "$bench" -serve stock-nocheck -listen "unix:$dir/stock-nocheck.sock"
	wait_ready faed "unix:$dir/faed.sock"
	wait_ready faed "tcp:127.0.0.1:$faed_port"
	wait_ready echo "unix:$dir/echo.sock"
	wait_ready echo "tcp:127.0.0.1:$echo_port"
	wait_ready stock "unix:$dir/stock.sock"
	wait_ready stock "tcp:127.0.0.1:$stock_port"
	wait_ready stock-nocheck "unix:$dir/stock-nocheck.sock"
}

# round: every load run once, the servers compared on a workload back to back.
round() {
	local name
	for name in echo stock stock-nocheck faed; do
		run "$name" "unix:$dir/$name.sock" noop persistent
	done
	local call
	for call in ping lc_get; do
		for name in stock faed; do
			run "$name" "unix:$dir/$name.sock" "$call" persistent
		done
	done
	for name in echo stock faed; do
		run "$name" "unix:$dir/$name.sock" noop php
	done
	run echo "tcp:127.0.0.1:$echo_port" noop php
	run stock "tcp:127.0.0.1:$stock_port" noop php
	run faed "tcp:127.0.0.1:$faed_port" noop php
}

main() {
	mkdir -p bin "$dir"
	if [[ -z ${FAED_BIN:-} ]]; then
		go build -o bin/faed ./cmd/faed
	fi
	go build -o "$bench" ./cmd/faebench
	faed_bin=$(realpath "$faed_bin")
	raise_nofile
	write_config
	start_servers
	results=$dir/results.jsonl
	: >"$results"
	echo "bench: $(nproc) cores, $clients clients, $rounds x $duration per run, results in $results" >&2

	local i
	for ((i = 1; i <= rounds; i++)); do
		round
	done
	if ! "$bench" -label faed -idle "$idle_conns" -addr "unix:$dir/faed.sock" -pid "${pid[faed]}" -json >>"$results"; then
		echo "bench: idle run against faed failed; end of $dir/faed.log:" >&2
		tail -n 20 "$dir/faed.log" >&2
		exit 1
	fi

	echo
	"$bench" -summary "$results"
}

main "$@"
