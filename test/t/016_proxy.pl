# ticket_proxy (doc/scale-out.md): the ticket API on a PL/Proxy database in
# front of 4 partition databases of one server, and of 2 servers.
#
#  - the real timetable (demo/data) is loaded through the proxy and, the same
#    calls, into a one-node database; the partitions stay in step (timetable
#    version and digest), and one that misses a call is found out of step;
#  - routing is deterministic: every run exists on exactly one partition,
#    the one ticket.run_partition() names, and every id carries its partition;
#  - fan-out search and search_transfers answer exactly what one node does;
#  - many clients grab, pay, cancel and refund through the proxy on runs of
#    every partition; afterwards, on each partition, no seat leg is sold
#    twice, remaining() equals a brute-force recount, and every payment the
#    proxy acknowledged is there;
#  - retries by request id, idempotent confirm, errors keep their SQLSTATE;
#  - with two servers, a partition server that goes away fails only the
#    calls of its runs, and all is served again once it is back.

use strict;
use warnings;

use Cwd;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $date     = '2030-03-01';
my $date2    = '2030-03-02';
my $clients  = 12;
my $duration = 12;           # seconds of the rush
my $data     = getcwd() . '/demo/data';

# synchronous_commit stays on: servers are stopped (immediate) right after
# acknowledged calls, which must then be there (fsync off only trusts the
# kernel, which an immediate stop does not lose)
my $conf = q{
shared_preload_libraries = 'ticket'
ticket.queue_database = ''
max_connections = 200
fsync = off
log_min_messages = warning
log_statement = none
};

my $node = PostgreSQL::Test::Cluster->new('proxy_one');
$node->init;
$node->append_conf('postgresql.conf', $conf);
$node->start;

sub make_partition
{
	my ($n, $db) = @_;
	$n->safe_psql('postgres', "CREATE DATABASE $db");
	$n->safe_psql($db, q{
SET client_min_messages = warning;
CREATE EXTENSION ticket CASCADE;
});
	return $n->connstr($db);
}

sub make_proxy
{
	my ($n, $db, @parts) = @_;
	my $opts = join(', ', map { "p$_ " . quote_lit($parts[$_]) } 0 .. $#parts);
	$n->safe_psql('postgres', "CREATE DATABASE $db");
	$n->safe_psql($db, qq{
SET client_min_messages = warning;
CREATE EXTENSION ticket_proxy CASCADE;
CREATE SERVER ticket FOREIGN DATA WRAPPER plproxy OPTIONS ($opts);
CREATE USER MAPPING FOR PUBLIC SERVER ticket;
GRANT USAGE ON FOREIGN SERVER ticket TO ticket_app, ticket_admin;
SELECT ticket.init_partitions();
});
}

sub quote_lit { my $s = shift; $s =~ s/'/''/g; return "'$s'"; }

my @part = map { "part$_" } 0 .. 3;
my @connstr = map { make_partition($node, $_) } @part;
make_proxy($node, 'proxy', @connstr);
$node->safe_psql('postgres', 'CREATE DATABASE single');
$node->safe_psql('single', 'SET client_min_messages = warning; CREATE EXTENSION ticket CASCADE');

is($node->safe_psql('proxy', 'SELECT string_agg(format(\'%s/%s\', partition_no, partitions), \' \') FROM ticket.check_partitions()'),
	'0/4 1/4 2/4 3/4', 'init_partitions numbered the 4 partitions');

# the real timetable, the same calls through the proxy and on one node --------------

my $load = qq{
SET client_min_messages = warning;
CREATE TABLE cr_station (code text, name text, pinyin text);
CREATE TABLE cr_stop (train_code text, stop_no integer, code text, arrive_s integer, depart_s integer);
\\copy cr_station FROM '$data/stations.tsv'
\\copy cr_stop FROM '$data/stops.tsv'
SELECT count(ticket.add_station(code, name, pinyin)) FROM (SELECT * FROM cr_station ORDER BY code) s;
SELECT count(ticket.add_train(train_code, stops, arrivals, departures))
FROM (SELECT train_code,
             array_agg(code ORDER BY stop_no) AS stops,
             array_agg(make_interval(secs => arrive_s) ORDER BY stop_no) AS arrivals,
             array_agg(make_interval(secs => depart_s) ORDER BY stop_no) AS departures
      FROM cr_stop GROUP BY train_code ORDER BY train_code) routes;
-- a small train: 6 second-class and 4 first-class seats, so runs sell out
SELECT sum(ticket.add_carriage(train_code, 1, 'second', 2, 'ABC') + ticket.add_carriage(train_code, 2, 'first', 1, 'ACDF'))
FROM (SELECT DISTINCT train_code FROM cr_stop ORDER BY 1) t;
SELECT ticket.set_fare(min(train_code), 'VNP', 'AOH', 'second', 553) FROM cr_stop WHERE train_code = 'G1';
SELECT ticket.open_sales('$date'::date) + ticket.open_sales('$date2'::date);
};
my $t0 = time;
my $opened_proxy  = $node->safe_psql('proxy', $load);
my $opened_single = $node->safe_psql('single', $load);
note sprintf('timetable loaded in %d s', time - $t0);
is($opened_proxy, $opened_single, 'as many runs opened through the proxy as on one node');
my $n_trains = $node->safe_psql('single', 'SELECT count(*) FROM ticket.train');
cmp_ok($n_trains, '>', 400, "the real timetable: $n_trains trains");

is( $node->safe_psql('proxy',
		'SELECT count(*) FILTER (WHERE in_step), count(DISTINCT timetable_digest), min(timetable_version) > 1000 FROM ticket.check_partitions()'),
	'4|1|t', 'every partition is in step: one timetable version and digest');
is( $node->safe_psql('proxy', 'SELECT timetable_digest FROM ticket.check_partitions() LIMIT 1'),
	$node->safe_psql('single', 'SELECT timetable_digest FROM ticket.partition_info()'),
	'the partitions hold the timetable of the one node');

# routing: each run on exactly one partition, the one the proxy names -----------------

my %owner;
my $misplaced = 0;
for my $p (0 .. 3)
{
	for my $line (split /\n/, $node->safe_psql($part[$p],
		"SELECT t.code, r.service_date, r.run_id >> 48, ticket.run_partition(t.code, r.service_date)
		 FROM ticket.run r JOIN ticket.train t USING (train_id)"))
	{
		my ($code, $day, $id_part, $own) = split /\|/, $line;
		$misplaced++ if $id_part != $p || $own != $p;
		$owner{"$code $day"}{$p}++;
	}
}
is($misplaced, 0, 'every run is on the partition its partition computes, and its id says so');
is(scalar(keys %owner), 2 * $n_trains, 'every train has its two runs, on the partitions together');
is(scalar(grep { keys %{ $owner{$_} } != 1 } keys %owner), 0, 'no run exists on two partitions');
my @sample = (sort keys %owner)[0 .. 49];
my $values = join(', ', map { my ($c, $d) = split / /; "('$c', '$d'::date)" } @sample);
my $proxy_says = $node->safe_psql('proxy',
	"SELECT string_agg(ticket.run_partition(c, d)::text, ' ' ORDER BY c, d) FROM (VALUES $values) v(c, d)");
is($proxy_says, join(' ', map { (keys %{ $owner{$_} })[0] } @sample),
	'ticket.run_partition on the proxy names the partition holding the run');
my %per_part;
$per_part{ (keys %{ $owner{$_} })[0] }++ for keys %owner;
note 'runs per partition: ' . join(' ', map { "$_:" . ($per_part{$_} // 0) } 0 .. 3);
is(scalar(keys %per_part), 4, 'runs are spread over all 4 partitions');

# the same grabs on both, then searches must answer alike ---------------------------

my $grabs = qq{
SET client_min_messages = warning;
SELECT count(g.*) FROM (
	SELECT row_number() OVER (ORDER BY train_code) AS k, train_code,
	       (array_agg(code ORDER BY stop_no))[1] AS f, (array_agg(code ORDER BY stop_no))[2] AS t
	FROM cr_stop GROUP BY train_code ORDER BY train_code LIMIT 150) x,
	LATERAL ticket.grab(x.k, x.train_code, '$date', x.f, x.t, 'second', 'g' || x.k) g;
SELECT count(ticket.confirm(g.order_id)) FROM (
	SELECT row_number() OVER (ORDER BY train_code) AS k, train_code,
	       (array_agg(code ORDER BY stop_no))[1] AS f, (array_agg(code ORDER BY stop_no))[2] AS t
	FROM cr_stop GROUP BY train_code ORDER BY train_code LIMIT 60) x,
	LATERAL ticket.grab(x.k, x.train_code, '$date', x.f, x.t, 'second', 'g' || x.k) g;
};
is($node->safe_psql('proxy', $grabs), $node->safe_psql('single', $grabs), 'the same grabs and payments succeed on both');

# the busiest station pairs of the timetable (many trains), and a few for transfers
my $pairs = $node->safe_psql('single', q{
SELECT string_agg(format('(%L, %L)', f, t), ', ') FROM (
	SELECT a.code AS f, b.code AS t, count(*) FROM cr_stop a JOIN cr_stop b
	  ON b.train_code = a.train_code AND b.stop_no > a.stop_no
	GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 25) p});
my $search = qq{
SELECT p.f, p.t, s.* FROM (VALUES $pairs) p(f, t),
	LATERAL ticket.search(p.f, p.t, '$date') s
ORDER BY p.f, p.t};
my $search_single = $node->safe_psql('single', "SELECT count(*), string_agg(x::text, E'\\n') FROM ($search) x");
my $search_proxy = $node->safe_psql('proxy', "SELECT count(*), string_agg(x::text, E'\\n') FROM ($search) x");
my ($n_rows) = split /\|/, $search_single;
cmp_ok($n_rows, '>', 100, "search: $n_rows trains over 25 busy pairs");
ok($search_single =~ /,open,/ && $search_single =~ /second\W+5\b/, 'search shows open runs with seats sold');
is($search_proxy, $search_single, 'fan-out search answers exactly what one node does');

my $tpairs = $node->safe_psql('single', q{
SELECT string_agg(format('(%L, %L)', f, t), ', ') FROM (VALUES ('VNP', 'AOH'), ('BJP', 'GZQ'), ('SHH', 'CDW'), ('VNP', 'IZQ'), ('AOH', 'CXW')) v(f, t)
WHERE EXISTS (SELECT 1 FROM ticket.station s WHERE s.code = v.f) AND EXISTS (SELECT 1 FROM ticket.station s WHERE s.code = v.t)});
my $transfers = qq{
SELECT p.f, p.t, s.* FROM (VALUES $tpairs) p(f, t),
	LATERAL ticket.search_transfers(p.f, p.t, '$date', max_results => 30) s
ORDER BY p.f, p.t};
my $tr_single = $node->safe_psql('single', "SELECT count(*), string_agg(x::text, E'\\n') FROM ($transfers) x");
my $tr_proxy = $node->safe_psql('proxy', "SELECT count(*), string_agg(x::text, E'\\n') FROM ($transfers) x");
my ($n_tr) = split /\|/, $tr_single;
cmp_ok($n_tr, '>', 20, "search_transfers: $n_tr itineraries");
is($tr_proxy, $tr_single, 'fan-out search_transfers answers exactly what one node does');
is( $node->safe_psql('proxy', "SELECT count(*) FROM ticket.remaining_matrix('G1', '$date')"),
	$node->safe_psql('single', "SELECT count(*) FROM ticket.remaining_matrix('G1', '$date')"),
	'remaining_matrix through the proxy');

# retries, idempotency, SQLSTATEs ---------------------------------------------------------

my ($oid1) = $node->safe_psql('proxy', "SELECT order_id FROM ticket.grab(7001, 'G1', '$date', 'VNP', 'AOH', NULL, 'retry-1')");
is($node->safe_psql('proxy', "SELECT order_id FROM ticket.grab(7001, 'G1', '$date', 'VNP', 'AOH', NULL, 'retry-1')"),
	$oid1, 'a grab retried with its request id returns the same order');
is($node->safe_psql('proxy', "SELECT ticket.confirm($oid1) || ' ' || ticket.confirm($oid1)"), 'paid paid',
	'confirm retried after it succeeded answers paid again');
is($node->safe_psql('proxy', "SELECT ticket.id_partition($oid1) = ticket.run_partition('G1', '$date')"), 't',
	'the order id names the partition of its run');
my ($ret, $out, $err) = $node->psql('proxy', "SELECT * FROM ticket.grab(1, 'G99999', '$date', 'VNP', 'AOH')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  TK007: /, 'an error from a partition keeps its SQLSTATE (TK007)');
($ret, $out, $err) = $node->psql('proxy', "SELECT ticket.confirm(1 + (3::bigint << 48) + 100000)",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  TK006: /, 'an unknown order on its partition: TK006');
my $other = $node->safe_psql('proxy', qq{
SELECT x.c FROM (SELECT DISTINCT train_code AS c FROM cr_stop) x
WHERE ticket.run_partition(x.c, '$date') <> ticket.id_partition($oid1) ORDER BY 1 LIMIT 1});
my $tid = $node->safe_psql('part' . $node->safe_psql('proxy', "SELECT ticket.id_partition($oid1)"),
	"SELECT ticket_id FROM ticket.tickets WHERE order_id = $oid1");
($ret, $out, $err) = $node->psql('proxy',
	"SELECT * FROM ticket.change_ticket($tid, '$other', '$date', (SELECT code FROM cr_stop WHERE train_code = '$other' AND stop_no = 0), (SELECT code FROM cr_stop WHERE train_code = '$other' AND stop_no = 1))",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  TK090: /, 'a change to a run on another partition: TK090');

# the queue through the proxy: the request id carries the partition ------------------

my ($req) = $node->safe_psql('proxy', "SELECT request_id FROM ticket.enqueue(7002, 'G1', '$date', 'VNP', 'AOH')");
my $qp = $node->safe_psql('proxy', "SELECT ticket.id_partition($req)");
is($qp, $node->safe_psql('proxy', "SELECT ticket.run_partition('G1', '$date')"), 'a queued request is on the partition of its run');
$node->safe_psql("part$qp", 'SELECT ticket.serve_queue()');
like($node->safe_psql('proxy', "SELECT status, order_id IS NOT NULL FROM ticket.queue_wait($req, '5 s')"),
	qr/^(done\|t|failed\|f)$/, 'queue_wait through the proxy gives the answer');

# many clients through the proxy ------------------------------------------------------

$node->safe_psql('proxy', qq{
CREATE SCHEMA rush;
CREATE UNLOGGED TABLE rush.outcome (client integer, action text, outcome text);
-- the runs of the rush: 8 trains, two on each partition
CREATE TABLE rush.route (id serial PRIMARY KEY, train text, stops text[]);
INSERT INTO rush.route (train, stops)
SELECT x.train_code, x.stops FROM (
	SELECT train_code, array_agg(code ORDER BY stop_no) AS stops,
	       row_number() OVER (PARTITION BY ticket.run_partition(train_code, '$date') ORDER BY train_code) AS k
	FROM cr_stop GROUP BY train_code HAVING count(*) >= 4) x
WHERE x.k <= 2;
-- orders the clients got, and what they were told
CREATE TABLE rush.mine (order_id bigint PRIMARY KEY, user_id bigint, status text);
CREATE TABLE rush.acked (order_id bigint, outcome text);

CREATE FUNCTION rush.step(cid integer) RETURNS text LANGUAGE plpgsql AS \$\$
DECLARE
	p double precision := random();
	u bigint := 1 + floor(random() * 150)::bigint;
	r rush.route;
	n integer;
	i integer;
	j integer;
	act text;
	res text;
	id bigint;
	b ticket.booking;
	state text;
BEGIN
	SELECT * INTO r FROM rush.route ORDER BY random() LIMIT 1;
	n := cardinality(r.stops);
	i := floor(random() * (n - 1))::integer;
	j := i + 1 + floor(random() * (n - 1 - i))::integer;
	IF p < 0.5 THEN act := 'grab';
	ELSIF p < 0.75 THEN act := 'confirm';
	ELSIF p < 0.85 THEN act := 'cancel';
	ELSIF p < 0.95 THEN act := 'refund';
	ELSE act := 'remaining';
	END IF;
	BEGIN
		CASE act
		WHEN 'grab' THEN
			SELECT * INTO b FROM ticket.grab(u, r.train, '$date', r.stops[i + 1], r.stops[j + 1], NULL,
				'c' || cid || '-' || clock_timestamp());
			IF b.legs <> format('[%s,%s)', i, j) THEN
				RAISE EXCEPTION 'bad booking %', b USING ERRCODE = 'XX999';
			END IF;
			INSERT INTO rush.mine VALUES (b.order_id, u, 'held') ON CONFLICT DO NOTHING;
			res := 'ok';
		WHEN 'confirm' THEN
			SELECT m.order_id INTO id FROM rush.mine m WHERE m.status = 'held' ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED;
			IF id IS NULL THEN res := 'none'; ELSE
				res := ticket.confirm(id);
				UPDATE rush.mine SET status = res WHERE order_id = id;
				INSERT INTO rush.acked VALUES (id, res);
			END IF;
		WHEN 'cancel' THEN
			SELECT m.order_id INTO id FROM rush.mine m WHERE m.status = 'held' ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED;
			IF id IS NULL THEN res := 'none'; ELSE
				res := ticket.cancel(id);
				UPDATE rush.mine SET status = res WHERE order_id = id;
			END IF;
		WHEN 'refund' THEN
			SELECT m.order_id INTO id FROM rush.mine m WHERE m.status = 'paid' ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED;
			IF id IS NULL THEN res := 'none'; ELSE
				res := ticket.refund(id);
				UPDATE rush.mine SET status = res WHERE order_id = id;
				INSERT INTO rush.acked VALUES (id, res);
			END IF;
		ELSE
			PERFORM * FROM ticket.remaining(r.train, '$date', r.stops[i + 1], r.stops[j + 1]);
			res := 'ok';
		END CASE;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
		IF state NOT IN ('TK001', 'TK002', 'TK003', 'TK004', 'TK005', 'TK015') THEN
			RAISE;
		END IF;
		res := state;
		IF act IN ('confirm', 'cancel') AND state IN ('TK003', 'TK004', 'TK015') THEN
			UPDATE rush.mine SET status = 'gone' WHERE order_id = id;
		END IF;
	END;
	INSERT INTO rush.outcome VALUES (cid, act, res);
	RETURN res;
END
\$\$;
});
is($node->safe_psql('proxy', 'SELECT count(DISTINCT ticket.run_partition(train, \'' . $date . '\')) FROM rush.route'),
	'4', 'the rush runs are on all 4 partitions');

$node->pgbench(
	"--no-vacuum --client=$clients --jobs=2 --time=$duration",
	0,
	[ qr{number of transactions actually processed: \d+}, qr{number of failed transactions: 0 } ],
	[qr{^(?!.*(aborted|ERROR))}s],
	"$clients clients through the proxy for $duration s",
	{ '013_proxy_rush' => "\\if :client_id = 0\nSELECT ticket.expire_holds();\n\\sleep 300 ms\n\\else\nSELECT rush.step(:client_id);\n\\endif\n" },
	'proxy');

my %count;
for my $line (split /\n/, $node->safe_psql('proxy', 'SELECT action, outcome, count(*) FROM rush.outcome GROUP BY 1, 2 ORDER BY 1, 2'))
{
	my ($a, $o, $c) = split /\|/, $line;
	$count{"$a $o"} = $c;
	note sprintf('%-10s %-10s %6d', $a, $o, $c);
}
cmp_ok($count{'grab ok'} // 0, '>=', 50, 'many grabs through the proxy');
cmp_ok($count{'grab TK001'} // 0, '>=', 10, 'runs sold out (TK001)');
cmp_ok($count{'confirm paid'} // 0, '>=', 20, 'many payments through the proxy');
cmp_ok($count{'refund refunded'} // 0, '>=', 3, 'refunds through the proxy');

my ($overlaps, $mismatched, $compared, $lost) = (0, 0, 0, 0);
my $rush_trains = $node->safe_psql('proxy', "SELECT string_agg(quote_literal(train), ', ') FROM rush.route");
my $acked = $node->safe_psql('proxy',
	"SELECT string_agg(format('(%s, %L)', order_id, outcome), ', ') FROM (SELECT DISTINCT ON (order_id) * FROM rush.acked ORDER BY order_id, outcome = 'paid') a");
for my $p (0 .. 3)
{
	$overlaps += $node->safe_psql($part[$p], q{
SELECT count(*) FROM ticket.tickets t1 JOIN ticket.tickets t2
  ON t1.run_id = t2.run_id AND t1.seat_id = t2.seat_id AND t1.ticket_id < t2.ticket_id
 AND t1.legs::int4range && t2.legs::int4range
WHERE t1.status IN ('held', 'paid') AND t2.status IN ('held', 'paid')});
	my ($c, $m) = split /\|/, $node->safe_psql($part[$p], qq{
WITH journey AS (
	SELECT r.run_id, r.train_id, t.code AS train, r.service_date,
	       a.stop_no AS i, b.stop_no AS j, sa.code AS from_st, sb.code AS to_st
	FROM ticket.run r JOIN ticket.train t USING (train_id)
	JOIN ticket.stop a ON a.train_id = r.train_id
	JOIN ticket.stop b ON b.train_id = r.train_id AND b.stop_no > a.stop_no
	JOIN ticket.station sa ON sa.station_id = a.station_id
	JOIN ticket.station sb ON sb.station_id = b.station_id
	WHERE t.code IN ($rush_trains) AND r.service_date = '$date'),
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
SELECT count(*), count(*) FILTER (WHERE b.n IS DISTINCT FROM a.n)
FROM brute b FULL JOIN api a ON (a.run_id, a.i, a.j, a.cls) = (b.run_id, b.i, b.j, b.cls)});
	$compared += $c;
	$mismatched += $m;
	next unless $acked;
	# every acknowledged payment (or refund) of this partition is there
	$lost += $node->safe_psql($part[$p], qq{
SELECT count(*) FROM (VALUES $acked) a(order_id, outcome)
LEFT JOIN ticket.orders o USING (order_id)
WHERE a.order_id >> 48 = $p
  AND (o.order_id IS NULL OR (a.outcome = 'paid' AND o.status NOT IN ('paid', 'refunded'))
       OR (a.outcome = 'refunded' AND o.status <> 'refunded'))});
}
is($overlaps, 0, 'no seat leg sold twice on any partition');
cmp_ok($compared, '>', 100, "remaining compared with a recount on every partition ($compared journeys and classes)");
is($mismatched, 0, 'remaining() through the partitions equals the brute-force recount');
cmp_ok(scalar(split /\), \(/, $acked), '>=', 20, 'payments were acknowledged');
is($lost, 0, 'every payment the proxy acknowledged is on its partition');
my $wrong_part = 0;
for my $p (0 .. 3)
{
	$wrong_part += $node->safe_psql($part[$p],
		"SELECT count(*) FROM ticket.orders o JOIN ticket.tickets t USING (order_id) WHERE o.order_id >> 48 <> $p OR t.ticket_id >> 48 <> $p");
}
is($wrong_part, 0, 'every order and ticket id carries its partition');

# a partition that misses an administration call is found ----------------------------

$node->safe_psql('part3', "SELECT ticket.set_setting('max_orders_per_day', 30)");
is($node->safe_psql('proxy', 'SELECT string_agg(partition_no || \':\' || in_step, \' \') FROM ticket.check_partitions()'),
	'0:true 1:true 2:true 3:false', 'a partition that took a call the others did not is out of step');
$node->safe_psql('proxy', "SELECT ticket.set_setting('max_orders_per_day', 30)");
is($node->safe_psql('proxy', 'SELECT string_agg(partition_no || \':\' || in_step, \' \') FROM ticket.check_partitions()'),
	'0:true 1:true 2:true 3:false', 'and stays so (its version is ahead) until an administrator repairs it');

# two servers ----------------------------------------------------------------------------

my $node2 = PostgreSQL::Test::Cluster->new('proxy_two');
$node2->init;
$node2->append_conf('postgresql.conf', $conf);
$node2->start;
my @two = (make_partition($node, 'half0'), make_partition($node2, 'half1'));
make_proxy($node, 'proxy2', @two);
$node->safe_psql('proxy2', q{
SELECT ticket.add_station('VNP', '北京南'), ticket.add_station('TIP', '天津南'), ticket.add_station('AOH', '上海虹桥');
SELECT ticket.add_train(c, ARRAY['VNP', 'TIP', 'AOH']) FROM unnest(ARRAY['G1', 'G2', 'G3', 'G4', 'G5', 'G6']) c;
SELECT ticket.add_carriage(c, 1, 'second', 2, 'ABC') FROM unnest(ARRAY['G1', 'G2', 'G3', 'G4', 'G5', 'G6']) c;
} . "SELECT ticket.open_sales('$date'::date);");
my %on;
for my $c (qw(G1 G2 G3 G4 G5 G6))
{
	push @{ $on{ $node->safe_psql('proxy2', "SELECT ticket.run_partition('$c', '$date')") } }, $c;
}
is(scalar(keys %on), 2, 'runs on both servers');
is($node->safe_psql('half0', 'SELECT count(*) FROM ticket.run') + $node2->safe_psql('half1', 'SELECT count(*) FROM ticket.run'),
	6, 'six runs, on the two servers together');
my ($t_a, $t_b) = ($on{0}[0], $on{1}[0]);
my $o_b = $node->safe_psql('proxy2', "SELECT order_id FROM ticket.grab(1, '$t_b', '$date', 'VNP', 'AOH', NULL, 'two-1')");
is($node2->safe_psql('half1', "SELECT status FROM ticket.orders WHERE order_id = $o_b"), 'held', 'a grab on the second server');

# the second server goes away between a grab and its payment
$node2->stop('immediate');
($ret, $out, $err) = $node->psql('proxy2', "SELECT ticket.confirm($o_b)");
isnt($ret, 0, 'a payment on a server that is down fails') or diag $out;
is($node->safe_psql('proxy2', "SELECT status FROM ticket.grab(2, '$t_a', '$date', 'VNP', 'AOH')"), 'held',
	'runs of the server still up sell on');
$node2->start;
# the proxy's connection to it was lost: the first call may say so, then it reconnects
$node->psql('proxy2', "SELECT ticket.confirm($o_b)");
is($node->safe_psql('proxy2', "SELECT ticket.confirm($o_b)"), 'paid',
	'once the server is back, the retried payment goes through (hold still valid)');
is($node->safe_psql('proxy2', "SELECT order_id FROM ticket.grab(1, '$t_b', '$date', 'VNP', 'AOH', NULL, 'two-1')"),
	$o_b, 'and the retried grab returns the same order');
is($node->safe_psql('proxy2', "SELECT count(*) FROM ticket.search('VNP', 'AOH', '$date') WHERE sales = 'open'"),
	'6', 'search merges the runs of both servers');

$node2->stop;
$node->stop;
done_testing();
