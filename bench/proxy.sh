#!/usr/bin/env bash
# ticket_proxy against one node (doc/scale-out.md): W1 (grab) and R1
# (remaining) of bench/run, direct and through a PL/Proxy database in front
# of 1, 2 and 4 partitions, with the server CPU per call.
#
#   bench/proxy.sh                  as root, from the top of a clone (bench/run calls it too)
#   BENCH_SECONDS=30 bench/proxy.sh
#
# Two throwaway servers in /tmp/ticket-bench-proxy (Unix sockets only): one
# holds the partitions (and the direct database), the other the proxy
# databases, so the CPU each side spends is measured apart: the CPU time of
# a server's processes (its postmaster, its live children and the children it
# reaped) from 3 s into each run to its end, divided by the calls pgbench
# made in that time (its per-second progress); the first seconds connect
# and start the partitions' backends.
# Every database has W1's timetable (20 trains of 20 stops with 1,000 seats
# on 10 dates: 200 runs), loaded through the proxy where there is one.
# Prints one row per measurement; the goals are the issue's: proxy
# throughput at least 0.8 x direct for R1 and 0.7 x for W1, and the
# partitions' CPU per call not growing with their number.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
SECS=${BENCH_SECONDS:-15}
CLIENTS=${BENCH_CLIENTS:-8}
PG_CONFIG=${PG_CONFIG:-pg_config}
PG_BIN=$("$PG_CONFIG" --bindir)
dir=/tmp/ticket-bench-proxy
PART_PORT=54340
PROXY_PORT=54341

[ "$(id -u)" -eq 0 ] || { echo "bench/proxy.sh: run as root" >&2; exit 1; }
"$here/test/install-packages"
make -C "$here" -s PG_CONFIG="$PG_CONFIG" >/dev/null
make -C "$here" -s PG_CONFIG="$PG_CONFIG" install >/dev/null

as_pg() { runuser -u postgres -- "$@"; }
stop_all() {
	for s in part proxy; do
		[ -d "$dir/$s" ] && as_pg "$PG_BIN/pg_ctl" -D "$dir/$s" -m immediate stop >/dev/null 2>&1 || true
	done
}
trap 'stop_all; [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$dir"' EXIT
stop_all
rm -rf "$dir"
mkdir -p "$dir/logs"
chown -R postgres: "$dir"

start_server() {    # name port
	as_pg "$PG_BIN/initdb" -D "$dir/$1" -A trust -U postgres >/dev/null
	cat >> "$dir/$1/postgresql.conf" <<CONF
port = $2
listen_addresses = ''
unix_socket_directories = '$dir'
shared_preload_libraries = 'ticket'
ticket.queue_database = ''
max_connections = 300
shared_buffers = 512MB
fsync = on
synchronous_commit = off
CONF
	as_pg "$PG_BIN/pg_ctl" -D "$dir/$1" -l "$dir/logs/$1.log" -w start >/dev/null
}
start_server part $PART_PORT
start_server proxy $PROXY_PORT

psql_at() {    # port db sql...
	local port=$1 db=$2; shift 2
	as_pg "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -d "$db" "$@"
}

# W1's timetable, through the API (the same calls direct and through a proxy)
timetable="
SELECT count(ticket.add_station('SA' || chr(65 + i), 'S' || i)) FROM generate_series(0, 19) i;
SELECT count(ticket.add_train('Z' || (1000 + t), ARRAY(SELECT 'S' || i FROM generate_series(0, 19) i ORDER BY i)))
FROM generate_series(1, 20) t;
SELECT sum(ticket.add_carriage('Z' || (1000 + t), c, 'second', 20, 'ABCDF'))
FROM generate_series(1, 20) t, generate_series(1, 10) c;
SELECT count(ticket.open_sales('Z' || (1000 + t), DATE '2030-01-01' + d))
FROM generate_series(1, 20) t, generate_series(0, 9) d;"

psql_at $PART_PORT postgres -c 'CREATE DATABASE direct'
psql_at $PART_PORT direct -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION ticket CASCADE' -c "$timetable" >/dev/null
for n in 1 2 4; do
	opts=()
	for ((p = 0; p < n; p++)); do
		psql_at $PART_PORT postgres -c "CREATE DATABASE n${n}_p$p"
		psql_at $PART_PORT "n${n}_p$p" -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION ticket CASCADE'
		opts+=("p$p 'host=$dir port=$PART_PORT dbname=n${n}_p$p'")
	done
	psql_at $PROXY_PORT postgres -c "CREATE DATABASE proxy$n"
	psql_at $PROXY_PORT "proxy$n" -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION ticket_proxy CASCADE' \
		-c "CREATE SERVER ticket FOREIGN DATA WRAPPER plproxy OPTIONS ($(IFS=,; echo "${opts[*]}"))" \
		-c 'CREATE USER MAPPING FOR PUBLIC SERVER ticket' -c 'SELECT ticket.init_partitions()' -c "$timetable" >/dev/null
done
for db in $(psql_at $PART_PORT postgres -c "SELECT datname FROM pg_database WHERE datname ~ '^(direct|n[0-9]+_p[0-9]+)$'"); do
	psql_at $PART_PORT "$db" -c 'VACUUM ANALYZE'
done

# CPU seconds of a server so far: postmaster, live children, reaped children
server_cpu() {    # data directory
	local pm hz
	pm=$(head -1 "$1/postmaster.pid")
	hz=$(getconf CLK_TCK)
	{
		awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat"
		for c in $(pgrep -P "$pm"); do awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || true; done
	} | awk -v hz="$hz" '{s += $1} END {printf "%.3f", s / hz}'
}

rows=()
declare -A TPS
measure() {    # workload target port db script
	local w=$1 target=$2 port=$3 db=$4 script=$5 log="$dir/logs/$1_$2.log" warm=3
	local p0 x0 p1 x1 n tps pid
	psql_at $PART_PORT postgres -c CHECKPOINT
	# the first seconds connect, and the partitions' backends start and plan:
	# measure the CPU and the calls after them only
	as_pg "$PG_BIN/pgbench" -h "$dir" -p "$port" -n -M prepared -c "$CLIENTS" -j 2 -T "$SECS" -P 1 \
		-f "$here/bench/pgbench/$script" "$db" > "$log" 2>&1 &
	pid=$!
	sleep $warm
	p0=$(server_cpu "$dir/part"); x0=$(server_cpu "$dir/proxy")
	wait $pid || { echo "pgbench failed: $log" >&2; tail -5 "$log" >&2; }
	p1=$(server_cpu "$dir/part"); x1=$(server_cpu "$dir/proxy")
	# calls after the warm-up, from the per-second progress lines
	n=$(awk -v w=$warm '/^progress: / { t = $2 + 0; if (t > w) s += $4 } END { printf "%.0f", s }' "$log")
	[ "${n:-0}" -gt 0 ] || n=1
	tps=$(echo "$n / ($SECS - $warm)" | bc -l)
	TPS[$w,$target]=$tps
	rows+=("$(printf '%-3s %-22s %10.0f calls/s %8.1f µs partitions %8.1f µs proxy' "$w" "$target" "$tps" \
		"$(echo "($p1 - $p0) * 1000000 / $n" | bc -l)" "$(echo "($x1 - $x0) * 1000000 / $n" | bc -l)")")
}

measure W1 direct $PART_PORT direct w1_ticket.pgbench
for n in 1 2 4; do measure W1 "proxy, $n partitions" $PROXY_PORT "proxy$n" w1_ticket.pgbench; done
measure R1 direct $PART_PORT direct r1_remaining.pgbench
for n in 1 2 4; do measure R1 "proxy, $n partitions" $PROXY_PORT "proxy$n" r1_remaining.pgbench; done

# every W1 run sold only what it says: no leg twice on any partition
wrong=0
for db in direct n1_p0 n2_p0 n2_p1 n4_p0 n4_p1 n4_p2 n4_p3; do
	bad=$(psql_at $PART_PORT "$db" -c "SELECT count(*) FROM ticket.tickets t1 JOIN ticket.tickets t2
		ON t1.run_id = t2.run_id AND t1.seat_id = t2.seat_id AND t1.ticket_id < t2.ticket_id
		AND t1.legs::int4range && t2.legs::int4range
		WHERE t1.status IN ('held', 'paid') AND t2.status IN ('held', 'paid')")
	[ "$bad" = 0 ] || { echo "WRONG: $db has $bad overlapping tickets"; wrong=1; }
done
runs=$(for ((p = 0; p < 4; p++)); do psql_at $PART_PORT "n4_p$p" -c 'SELECT count(*) FROM ticket.run'; done | paste -sd' ')

ratio() { echo "scale=2; ${TPS[$1,proxy, 4 partitions]:-0} / ${TPS[$1,direct]:-1}" | bc -l; }
goal() { if [ "$(echo "$2 >= $3" | bc -l)" = 1 ]; then echo PASS; else echo MISS; fi; }
{
	echo "ticket_proxy: $CLIENTS clients, ${SECS} s each, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "(µs: server CPU per call; partitions: the server of the partitions (or the direct database); proxy: the proxy's server)"
	printf '%s\n' "${rows[@]}"
	echo "runs per partition (4 partitions): $runs"
	r1=$(ratio R1); w1=$(ratio W1)
	echo "goal R1 through the proxy (4 partitions) / direct: $r1 (>= 0.8) $(goal R1 "$r1" 0.8)"
	echo "goal W1 through the proxy (4 partitions) / direct: $w1 (>= 0.7) $(goal W1 "$w1" 0.7)"
} | tee "$dir/report.txt"
cp "$dir/report.txt" /tmp/ticket-bench-proxy-report.txt
exit $wrong
