
# Many clients at once: 32 pgbench clients grab, confirm, cancel and refund
# seats for ~20 s on one hot run of ~60 seats and on three other runs, while
# one more client sweeps expired holds.  Holds last 2 s, so they expire during
# the run; one client always pays 0.1 s after its hold expired, and must be
# refused (TK003).  Afterwards the sales are checked by queries that do not use the
# extension's own logic: no two live tickets overlap, every paid order still
# has its ticket, and ticket.remaining() equals a brute-force recount for every
# journey and class.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $clients  = 32;       # clients doing sales
my $duration = 20;       # seconds
my $date     = '2030-02-01';

my $node = PostgreSQL::Test::Cluster->new('rush');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
max_connections = 100
fsync = off
synchronous_commit = off
log_min_messages = warning
log_statement = none
log_lock_waits = on
deadlock_timeout = 100ms
});
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE rush');
$node->safe_psql('rush', q{
SET client_min_messages = warning;
CREATE EXTENSION ticket CASCADE;
ALTER DATABASE rush SET ticket.hold_timeout = '2s';
-- the segrange operators (=, <>) live in schema ticket
ALTER DATABASE rush SET search_path = public, ticket;
});

# the timetable, through the API -----------------------------------------------

$node->safe_psql('rush', qq{
SELECT ticket.add_station('VNP', '北京南');
SELECT ticket.add_station('TIP', '天津南');
SELECT ticket.add_station('JGK', '济南西');
SELECT ticket.add_station('UUH', '徐州东');
SELECT ticket.add_station('NKH', '南京南');
SELECT ticket.add_station('AOH', '上海虹桥');

-- the hot train: all six stations, 60 seats
SELECT ticket.add_train('G100', ARRAY['VNP', 'TIP', 'JGK', 'UUH', 'NKH', 'AOH']);
SELECT ticket.add_carriage('G100', 1, 'business', 2, 'ACF');   --  6
SELECT ticket.add_carriage('G100', 2, 'first', 3, 'ACDF');     -- 12
SELECT ticket.add_carriage('G100', 3, 'second', 7, 'ABC');     -- 21
SELECT ticket.add_carriage('G100', 4, 'second', 7, 'ABC');     -- 21

-- a small train that also sells out
SELECT ticket.add_train('D200', ARRAY['TIP', 'JGK', 'UUH', 'NKH']);
SELECT ticket.add_carriage('D200', 1, 'first', 2, 'ACDF');     --  8
SELECT ticket.add_carriage('D200', 2, 'second', 4, 'ABCDF');   -- 20

-- a long train the other way, with the default K layout (hundreds of seats)
SELECT ticket.add_train('K300', ARRAY['AOH', 'NKH', 'UUH', 'JGK', 'TIP', 'VNP']);
SELECT ticket.add_default_layout('K300');

-- a train skipping stations
SELECT ticket.add_train('G400', ARRAY['VNP', 'JGK', 'NKH', 'AOH']);
SELECT ticket.add_carriage('G400', 1, 'first', 3, 'ACDF');     -- 12
SELECT ticket.add_carriage('G400', 2, 'second', 6, 'ABCDF');   -- 30

SELECT ticket.open_sales('$date'::date);
});

is($node->safe_psql('rush', 'SELECT count(*) FROM ticket.run'), '4', 'four runs open');
is( $node->safe_psql(
		'rush',
		"SELECT count(*) FROM ticket.seat JOIN ticket.train USING (train_id) WHERE code = 'G100'"),
	'60',
	'the hot train has 60 seats');

# test scaffolding: one random step of a client, errors sorted by SQLSTATE ------

$node->safe_psql('rush', qq{
CREATE SCHEMA rush;

-- what each step did; unlogged and insert-only, so clients do not queue on it
CREATE UNLOGGED TABLE rush.outcome (client integer, action text, outcome text, n integer);

-- the journeys clients choose from; id 1 is the hot run
CREATE TABLE rush.route (id integer PRIMARY KEY, train text, stops text[], classes text[]);
INSERT INTO rush.route
SELECT row_number() OVER (ORDER BY t.code <> 'G100', t.code), t.code,
       (SELECT array_agg(st.code ORDER BY s.stop_no) FROM ticket.stop s
        JOIN ticket.station st USING (station_id) WHERE s.train_id = t.train_id),
       (SELECT array_agg(DISTINCT c.seat_class::text) FROM ticket.carriage c WHERE c.train_id = t.train_id)
FROM ticket.train t;

-- each client's last successful grab, for request_id retries
CREATE UNLOGGED TABLE rush.last_grab (client integer PRIMARY KEY, user_id bigint, train text,
	from_st text, to_st text, cls text, request_id text, order_id bigint);
CREATE SEQUENCE rush.request_seq;

CREATE FUNCTION rush.random_user() RETURNS bigint LANGUAGE sql VOLATILE
AS 'SELECT 1 + floor(random() * 200)::bigint';

-- half of all journeys are on the hot run
CREATE FUNCTION rush.random_route() RETURNS rush.route LANGUAGE plpgsql VOLATILE AS \$\$
DECLARE
	k integer := CASE WHEN random() < 0.5 THEN 1 ELSE 2 + floor(random() * 3)::integer END;
	r rush.route;
BEGIN
	SELECT * INTO STRICT r FROM rush.route WHERE id = k;
	RETURN r;
END
\$\$;

-- grab a random journey; on success remember it for retries
CREATE FUNCTION rush.grab(cid integer) RETURNS text LANGUAGE plpgsql AS \$\$
DECLARE
	u bigint := rush.random_user();
	r rush.route := rush.random_route();
	n integer := cardinality(r.stops);
	i integer := floor(random() * (n - 1))::integer;		-- 0 .. n-2
	j integer;
	cls text;
	req text := 'c' || cid || '-' || nextval('rush.request_seq');
	b ticket.booking;
BEGIN
	j := i + 1 + floor(random() * (n - 1 - i))::integer;	-- i+1 .. n-1
	IF random() >= 0.3 THEN
		cls := r.classes[1 + floor(random() * cardinality(r.classes))::integer];
	END IF;
	SELECT * INTO b FROM ticket.grab(u, r.train, '$date', r.stops[i + 1], r.stops[j + 1], cls, req);
	IF b.order_id IS NULL OR b.status <> 'held' OR b.legs <> ticket.segrange(i, j)
	   OR (cls IS NOT NULL AND b.seat_class <> cls) THEN
		RAISE EXCEPTION 'bad booking % for % % % % %', b, r.train, i, j, cls, req USING ERRCODE = 'XX999';
	END IF;
	INSERT INTO rush.last_grab VALUES (cid, u, r.train, r.stops[i + 1], r.stops[j + 1], cls, req, b.order_id)
	ON CONFLICT (client) DO UPDATE SET user_id = excluded.user_id, train = excluded.train,
		from_st = excluded.from_st, to_st = excluded.to_st, cls = excluded.cls,
		request_id = excluded.request_id, order_id = excluded.order_id;
	RETURN 'ok';
END
\$\$;

-- the client's last grab again, same request id: must be the same order
CREATE FUNCTION rush.retry(cid integer) RETURNS text LANGUAGE plpgsql AS \$\$
DECLARE
	g rush.last_grab;
	b ticket.booking;
BEGIN
	SELECT * INTO g FROM rush.last_grab WHERE last_grab.client = cid;
	IF NOT FOUND THEN
		RETURN 'nothing to retry';
	END IF;
	SELECT * INTO b FROM ticket.grab(g.user_id, g.train, '$date', g.from_st, g.to_st, g.cls, g.request_id);
	IF b.order_id IS DISTINCT FROM g.order_id THEN
		RAISE EXCEPTION 'retry of % returned order % instead of %', g.request_id, b.order_id, g.order_id
			USING ERRCODE = 'XX998';
	END IF;
	RETURN 'same order';
END
\$\$;

-- the client's last request id for another train: must be refused (TK013)
CREATE FUNCTION rush.reuse(cid integer) RETURNS text LANGUAGE plpgsql AS \$\$
DECLARE
	g rush.last_grab;
	r rush.route;
BEGIN
	SELECT * INTO g FROM rush.last_grab WHERE last_grab.client = cid;
	IF NOT FOUND THEN
		RETURN 'nothing to reuse';
	END IF;
	SELECT * INTO r FROM rush.route WHERE train <> g.train ORDER BY random() LIMIT 1;
	PERFORM ticket.grab(g.user_id, r.train, '$date', r.stops[1], r.stops[2], NULL, g.request_id);
	RAISE EXCEPTION 'request id % was accepted for another train', g.request_id USING ERRCODE = 'XX997';
END
\$\$;

-- an order of a random user: the newest one of the wanted status, else the newest
CREATE FUNCTION rush.some_order(wanted text) RETURNS bigint LANGUAGE plpgsql AS \$\$
DECLARE
	u bigint := rush.random_user();
	result bigint;
BEGIN
	IF random() < 0.7 THEN
		SELECT o.order_id INTO result FROM ticket.orders o
		WHERE o.user_id = u AND o.status = wanted ORDER BY o.order_id DESC LIMIT 1;
	END IF;
	IF result IS NULL THEN
		SELECT o.order_id INTO result FROM ticket.orders o
		WHERE o.user_id = u ORDER BY o.order_id DESC LIMIT 1;
	END IF;
	RETURN result;
END
\$\$;

CREATE FUNCTION rush.remaining() RETURNS text LANGUAGE plpgsql AS \$\$
DECLARE
	r rush.route := rush.random_route();
	n integer := cardinality(r.stops);
	i integer := 1 + floor(random() * (n - 1))::integer;
	j integer;
	bad integer;
BEGIN
	j := i + 1 + floor(random() * (n - i))::integer;
	SELECT count(*) INTO bad FROM ticket.remaining(r.train, '$date', r.stops[i], r.stops[j]) x
	WHERE x.remaining < 0 OR x.remaining > 1000;
	IF bad > 0 THEN
		RAISE EXCEPTION 'remaining out of range' USING ERRCODE = 'XX996';
	END IF;
	RETURN 'ok';
END
\$\$;

-- one step of a sales client
CREATE FUNCTION rush.step(cid integer) RETURNS text LANGUAGE plpgsql AS \$\$
DECLARE
	p double precision := random();
	act text;
	expected text[];
	res text;
	id bigint;
	state text;
BEGIN
	IF p < 0.45 THEN act := 'grab'; expected := '{TK001,TK002}';
	ELSIF p < 0.52 THEN act := 'retry'; expected := '{}';
	ELSIF p < 0.54 THEN act := 'reuse'; expected := '{TK013}';
	ELSIF p < 0.76 THEN act := 'confirm'; expected := '{TK003,TK015}';
	ELSIF p < 0.86 THEN act := 'cancel'; expected := '{TK004}';
	ELSIF p < 0.96 THEN act := 'refund'; expected := '{TK005}';
	ELSE act := 'remaining'; expected := '{}';
	END IF;
	BEGIN
		CASE act
			WHEN 'grab' THEN res := rush.grab(cid);
			WHEN 'retry' THEN res := rush.retry(cid);
			WHEN 'reuse' THEN res := rush.reuse(cid);
			WHEN 'confirm' THEN
				id := rush.some_order('held');
				res := CASE WHEN id IS NULL THEN 'no order' ELSE ticket.confirm(id) END;
			WHEN 'cancel' THEN
				id := rush.some_order('held');
				res := CASE WHEN id IS NULL THEN 'no order' ELSE ticket.cancel(id) END;
			WHEN 'refund' THEN
				id := rush.some_order('paid');
				res := CASE WHEN id IS NULL THEN 'no order' ELSE ticket.refund(id) END;
			ELSE res := rush.remaining();
		END CASE;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
		IF NOT state = ANY (expected) THEN
			RAISE;		-- unexpected: pgbench aborts the client and the test fails
		END IF;
		res := state;
	END;
	INSERT INTO rush.outcome VALUES (cid, act, res);
	RETURN res;
END
\$\$;

-- after the rush: for every journey and class, grab() must sell a seat exactly
-- when remaining() says one is left (each grab is undone at once)
CREATE FUNCTION rush.grab_disagrees() RETURNS SETOF text LANGUAGE plpgsql AS \$\$
DECLARE
	q record;
	k integer := 0;
	got bigint;
	verdict text;
BEGIN
	FOR q IN
		SELECT t.code AS train, r.service_date, a.stop_no AS i, b.stop_no AS j,
		       sa.code AS from_st, sb.code AS to_st, x.seat_class, x.remaining
		FROM ticket.run r JOIN ticket.train t USING (train_id)
		JOIN ticket.stop a ON a.train_id = r.train_id
		JOIN ticket.stop b ON b.train_id = r.train_id AND b.stop_no > a.stop_no
		JOIN ticket.station sa ON sa.station_id = a.station_id
		JOIN ticket.station sb ON sb.station_id = b.station_id,
		LATERAL ticket.remaining(t.code, r.service_date, sa.code, sb.code) x
		ORDER BY 1, 3, 4, 7
	LOOP
		k := k + 1;
		verdict := NULL;
		BEGIN
			SELECT g.order_id INTO got
			FROM ticket.grab(1000000 + k, q.train, q.service_date, q.from_st, q.to_st, q.seat_class) g;
			IF q.remaining = 0 THEN
				verdict := 'grab sold a seat';
			END IF;
			RAISE EXCEPTION 'undo' USING ERRCODE = 'RU001';
		EXCEPTION
			WHEN SQLSTATE 'RU001' THEN NULL;
			WHEN SQLSTATE 'TK001' THEN
				IF q.remaining > 0 THEN
					verdict := 'grab said sold out';
				END IF;
		END;
		IF verdict IS NOT NULL THEN
			RETURN NEXT format('%s [%s,%s) %s: remaining %s but %s', q.train, q.i, q.j, q.seat_class,
				q.remaining, verdict);
		END IF;
	END LOOP;
END
\$\$;

-- a passenger who pays too late, every time: holds last 2 s and client 1
-- confirms its hold 2.1 s after the grab; confirming must fail (TK003)
CREATE FUNCTION rush.late_grab(cid integer) RETURNS bigint LANGUAGE plpgsql AS \$\$
DECLARE
	r rush.route := rush.random_route();
	b ticket.booking;
BEGIN
	SELECT * INTO b FROM ticket.grab(900000 + cid, r.train, '$date', r.stops[1], r.stops[2]);
	RETURN b.order_id;
EXCEPTION WHEN SQLSTATE 'TK001' THEN
	INSERT INTO rush.outcome VALUES (cid, 'late grab', 'TK001');
	RETURN 0;
END
\$\$;
CREATE FUNCTION rush.late_confirm(cid integer, id bigint) RETURNS text LANGUAGE plpgsql AS \$\$
BEGIN
	IF id = 0 THEN
		RETURN 'nothing held';
	END IF;
	PERFORM ticket.confirm(id);
	RAISE EXCEPTION 'order % was paid after its hold had expired', id USING ERRCODE = 'XX995';
EXCEPTION WHEN SQLSTATE 'TK003' THEN
	INSERT INTO rush.outcome VALUES (cid, 'confirm', 'TK003');
	RETURN 'TK003';
END
\$\$;

-- the sweeping client
CREATE FUNCTION rush.sweep() RETURNS integer LANGUAGE plpgsql AS \$\$
DECLARE
	n integer := ticket.expire_holds();
BEGIN
	INSERT INTO rush.outcome VALUES (0, 'sweep', 'ok', n);
	RETURN n;
END
\$\$;
});

# the rush ------------------------------------------------------------------------

my $total = $clients + 1;    # client 0 sweeps, client 1 pays too late
$node->pgbench(
	"--no-vacuum --client=$total --jobs=4 --time=$duration",
	0,
	[
		qr{number of transactions actually processed: \d+},
		qr{number of failed transactions: 0 }
	],
	[qr{^(?!.*(aborted|ERROR))}s],
	"$clients clients and a sweeper for $duration s",
	{
		'001_rush' => q{
\if :client_id = 0
SELECT rush.sweep();
\sleep 200 ms
\elif :client_id = 1
SELECT rush.late_grab(:client_id) AS late_order \gset
\sleep 2100 ms
SELECT rush.late_confirm(:client_id, :late_order);
\else
SELECT rush.step(:client_id);
\endif
}
	},
	'rush');

# outcome counts ------------------------------------------------------------------

my %count;
for my $line (
	split /\n/,
	$node->safe_psql(
		'rush',
		"SELECT action, outcome, count(*), coalesce(sum(n), 0) FROM rush.outcome
		 GROUP BY 1, 2 ORDER BY 1, 2"))
{
	my ($action, $outcome, $n, $sum) = split /\|/, $line;
	$count{"$action $outcome"} = $n;
	note sprintf("%-10s %-18s %7d%s", $action, $outcome, $n,
		$action eq 'sweep' ? " (orders expired: $sum)" : '');
}
note $node->safe_psql(
	'rush',
	"SELECT string_agg(format('%s %s: %s', t.code, o.status, o.n), E'\\n' ORDER BY t.code, o.status)
	 FROM (SELECT run_id, status, count(*) AS n FROM ticket.orders GROUP BY 1, 2) o
	 JOIN ticket.run r USING (run_id) JOIN ticket.train t USING (train_id)");

cmp_ok($count{'grab ok'} // 0, '>=', 200, 'many grabs succeeded');
cmp_ok($count{'grab TK001'} // 0, '>=', 20, 'sold out happened (TK001)');
cmp_ok($count{'grab TK002'} // 0, '>=', 1, 'users collided on unpaid orders (TK002)');
cmp_ok($count{'retry same order'} // 0, '>=', 10, 'request id retries returned the same order');
cmp_ok($count{'reuse TK013'} // 0, '>=', 1, 'request id reuse was refused (TK013)');
cmp_ok($count{'confirm paid'} // 0, '>=', 50, 'many orders were paid');
cmp_ok($count{'refund refunded'} // 0, '>=', 10, 'orders were refunded');
cmp_ok($count{'cancel cancelled'} // 0, '>=', 10, 'orders were cancelled');
cmp_ok($count{'confirm TK003'} // 0, '>=', 1, 'confirming an expired hold failed (TK003)');
cmp_ok($count{'sweep ok'} // 0, '>=', 10, 'the sweeper ran periodically');
cmp_ok(
	$node->safe_psql('rush', "SELECT count(*) FROM ticket.orders WHERE status = 'expired'"),
	'>=', 1, 'holds expired during the run');

# (a) no two live tickets overlap, by an independent self-join over int4range ----

is( $node->safe_psql(
		'rush', q{
SELECT count(*) FROM ticket.tickets t1 JOIN ticket.tickets t2
  ON t1.run_id = t2.run_id AND t1.seat_id = t2.seat_id AND t1.ticket_id < t2.ticket_id
 AND t1.legs::int4range && t2.legs::int4range
WHERE t1.status IN ('held', 'paid') AND t2.status IN ('held', 'paid')}),
	'0',
	'no overlapping live tickets');

# (b) every paid order still has its live ticket, and orders and tickets agree ----

is( $node->safe_psql(
		'rush', q{
SELECT count(*) FROM ticket.orders o
WHERE o.status = 'paid' AND NOT EXISTS (
	SELECT 1 FROM ticket.tickets t
	WHERE t.order_id = o.order_id AND t.status = 'paid' AND t.legs = o.legs AND t.run_id = o.run_id)}),
	'0',
	'every paid order has its paid ticket with the same legs');
is( $node->safe_psql(
		'rush', q{
SELECT count(*) FROM ticket.orders o
WHERE (SELECT count(*) FROM ticket.tickets t WHERE t.order_id = o.order_id) <> 1}),
	'0',
	'every order has exactly one ticket');
is( $node->safe_psql(
		'rush', q{
SELECT count(*) FROM ticket.orders o JOIN ticket.tickets t USING (order_id)
WHERE t.status <> o.status OR t.legs <> o.legs OR t.run_id <> o.run_id
   OR t.hold_until <> o.hold_until}),
	'0',
	'each ticket has the status, legs, run and hold deadline of its order');
is( $node->safe_psql(
		'rush', q{
SELECT count(*) FROM ticket.orders o JOIN ticket.tickets t USING (order_id)
JOIN ticket.seat s ON s.seat_id = t.seat_id
WHERE s.seat_class <> o.seat_class}),
	'0',
	'each ticket is in the class of its order');

# (c) remaining() equals a brute-force recount for every journey and class -------
# One statement, so every call sees the same snapshot and the same now().

my $check = $node->safe_psql(
	'rush', q{
WITH journey AS (
	SELECT r.run_id, r.train_id, t.code AS train, r.service_date,
	       a.stop_no AS i, b.stop_no AS j, sa.code AS from_st, sb.code AS to_st
	FROM ticket.run r JOIN ticket.train t USING (train_id)
	JOIN ticket.stop a ON a.train_id = r.train_id
	JOIN ticket.stop b ON b.train_id = r.train_id AND b.stop_no > a.stop_no
	JOIN ticket.station sa ON sa.station_id = a.station_id
	JOIN ticket.station sb ON sb.station_id = b.station_id),
brute AS (
	SELECT q.run_id, q.i, q.j, s.seat_class::text AS cls,
	       count(*) - count(*) FILTER (WHERE EXISTS (
	           SELECT 1 FROM ticket.tickets t
	           WHERE t.run_id = q.run_id AND t.seat_id = s.seat_id
	             AND t.legs::int4range && int4range(q.i, q.j)
	             AND (t.status = 'paid' OR (t.status = 'held' AND t.hold_until > now())))) AS n
	FROM journey q JOIN ticket.seat s ON s.train_id = q.train_id
	GROUP BY 1, 2, 3, 4),
api AS (
	SELECT q.run_id, q.i, q.j, x.seat_class AS cls, x.remaining AS n
	FROM journey q, LATERAL ticket.remaining(q.train, q.service_date, q.from_st, q.to_st) x)
SELECT count(*),
       count(*) FILTER (WHERE b.n IS DISTINCT FROM a.n),
       count(*) FILTER (WHERE b.run_id = 1 AND b.n = 0),
       coalesce(string_agg(format('run %s [%s,%s) %s: remaining %s, recount %s',
           coalesce(b.run_id, a.run_id), coalesce(b.i, a.i), coalesce(b.j, a.j),
           coalesce(b.cls, a.cls), a.n, b.n), '; ') FILTER (WHERE b.n IS DISTINCT FROM a.n), '')
FROM brute b FULL JOIN api a ON (a.run_id, a.i, a.j, a.cls) = (b.run_id, b.i, b.j, b.cls)});
my ($compared, $mismatched, $hot_zero, $detail) = split /\|/, $check, 4;
# G100: 15 journeys x 3 classes; D200: 6 x 2; K300: 15 x 3; G400: 6 x 2
is($compared, 15 * 3 + 6 * 2 + 15 * 3 + 6 * 2, 'every journey and class compared');
is($mismatched, '0', 'remaining() equals the brute-force recount everywhere')
  or diag $detail;
note "hot run journeys/classes with nothing left at the end: $hot_zero";

# (e) grab() agrees with remaining(): it sells exactly where a seat is left -------

is($node->safe_psql('rush', "SELECT string_agg(d, '; ') FROM rush.grab_disagrees() d"),
	'', 'grab() sells a seat exactly where remaining() says one is left');

# no deadlocks: every failure of the API under concurrency is one of its SQLSTATEs

my $log = PostgreSQL::Test::Utils::slurp_file($node->logfile);
my @deadlocks;
while ($log =~ /ERROR:  deadlock detected\n(.*?)STATEMENT:/sg)
{
	my $detail = $1;
	my ($where) = $detail =~ /CONTEXT:  (while [^\n]*)/;
	my @calls = $detail =~ /PL\/pgSQL function (?:ticket\.)?(\w+)\(/g;
	@calls = grep { $_ !~ /^(step|grab_disagrees)$/ } @calls;
	push @deadlocks, join(' < ', grep { defined } (@calls, $where));
}
is(scalar(@deadlocks), 0, 'no deadlocks between clients (SQLSTATE 40P01)')
  or diag "deadlock victims were in:\n" . join("\n", @deadlocks);

$node->stop;
done_testing();
