#!/usr/bin/env bash
# What a durable queued request would cost (doc/queue.md, "Durability"): the
# shipped enqueue (the request waits in shared memory) against the same enqueue
# plus one transactional WAL record flushed at commit, the least a request kept
# on disk needs.  8 pgbench clients, the queue worker serving, fsync on,
# enqueues spread over 200 runs of 1,193 seats so that none sells out.
#
#   bench/queue_durability.sh      as postgres, with the extension installed
#                                  into the server pg_config names (PG_CONFIG=...)
#
# Starts a throwaway server in /tmp/ticket-queue-durability (Unix socket, port
# 54391) and stops it at the end.  SECS (10) per measurement, two rounds.
set -euo pipefail
PG_CONFIG=${PG_CONFIG:-pg_config}
export PATH="$("$PG_CONFIG" --bindir):$PATH"
dir=/tmp/ticket-queue-durability; port=54391
rm -rf "$dir"; mkdir -p "$dir"
trap 'pg_ctl -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true' EXIT
initdb -D "$dir/data" -A trust -U postgres >/dev/null
cat >> "$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$dir'
shared_preload_libraries = 'ticket'
ticket.queue_database = 'bench'
shared_buffers = 256MB
max_wal_size = 4GB
fsync = on
synchronous_commit = on
ticket.hold_timeout = '2h'
log_min_messages = warning
CONF
pg_ctl -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
export PGHOST=$dir PGPORT=$port PGUSER=postgres
createdb bench
psql -X -q -v ON_ERROR_STOP=1 -d bench >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION ticket CASCADE;
SELECT count(ticket.add_station('B' || chr(65 + i / 26) || chr(65 + i % 26), 'bench ' || i)) FROM generate_series(0, 9) i;
SELECT ticket.add_train('G1', ARRAY(SELECT 'bench ' || i FROM generate_series(0, 9) i ORDER BY i));
SELECT ticket.add_default_layout('G1');
SELECT count(ticket.open_sales('G1', d::date)) FROM generate_series(date '2030-01-01', date '2030-07-19', interval '1 day') d;
SQL
cat > "$dir/shipped.pgbench" <<'PGB'
\set u random(1, 1000000000000)
\set d random(0, 199)
SELECT ticket.enqueue(:u, 'G1', date '2030-01-01' + :d, 'bench 0', 'bench 9');
PGB
cat > "$dir/durable.pgbench" <<'PGB'
\set u random(1, 1000000000000)
\set d random(0, 199)
BEGIN;
SELECT ticket.enqueue(:u, 'G1', date '2030-01-01' + :d, 'bench 0', 'bench 9');
SELECT pg_logical_emit_message(true, 'ticket.queue', 'a request of user ' || :u);
COMMIT;
PGB
for round in 1 2; do
	for w in shipped durable; do
		psql -X -q -d bench -c 'CHECKPOINT'
		printf '%-8s round %s: ' "$w" "$round"
		pgbench -n -d bench -c 8 -j 2 -T "${SECS:-10}" -f "$dir/$w.pgbench" 2>&1 \
			| awk '/latency average/ { ms = $4 } /^tps/ { tps = $3 } END { printf "%.0f enqueues/s, %.1f ms each\n", tps, ms }'
	done
done
