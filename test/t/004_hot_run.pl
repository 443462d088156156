
# One hot train, as on the morning sales open: 64 clients grab random
# journeys on one 1,193-seat, 20-stop run until it is sold out or the time is
# up.  Grabs racing for the same carriages must never deadlock or fail with
# anything but sold out, and the sales must be exact: no two live tickets
# overlap (checked over int4range), every seat-leg is sold at most once, and
# ticket.remaining() equals a brute-force recount for every journey.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $clients  = 64;
my $duration = 15;

my $node = PostgreSQL::Test::Cluster->new('hot');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
max_connections = 120
fsync = off
synchronous_commit = off
log_min_messages = warning
deadlock_timeout = 100ms
});
$node->start;

$node->safe_psql('postgres', q{
SET client_min_messages = warning;
CREATE EXTENSION ticket CASCADE;
SELECT ticket.add_station(chr(65 + i / 26) || chr(65 + i % 26) || 'Q', 'stop ' || i)
FROM generate_series(0, 19) i;
SELECT ticket.add_train('G9', ARRAY(SELECT 'stop ' || i FROM generate_series(0, 19) i ORDER BY i));
SELECT ticket.add_default_layout('G9');
SELECT ticket.open_sales('G9', '2030-01-01');
-- test scaffolding: one passenger, a random journey; sold out is an answer,
-- anything else fails the pgbench transaction and so the test
CREATE FUNCTION public.passenger(u bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	a integer := floor(random() * 19);
	b integer := a + 1 + floor(random() * (19 - a));
BEGIN
	PERFORM ticket.grab(u, 'G9', '2030-01-01', 'stop ' || a, 'stop ' || b);
	RETURN 'ok';
EXCEPTION WHEN SQLSTATE 'TK001' THEN
	RETURN 'sold out';
END
$$;
});

$node->pgbench(
	"--no-vacuum --client=$clients --jobs=2 --time=$duration --protocol=prepared",
	0,
	[ qr{processed: [1-9]}, qr{number of failed transactions: 0 } ],
	[qr{^$}],
	'64 clients grab on one hot run with no failure',
	{ 'hot_passenger' => "\\set u random(1, 1000000000000)\nSELECT public.passenger(:u);\n" });

my $sold = $node->safe_psql('postgres',
	"SELECT count(*) FROM ticket.tickets WHERE status IN ('held', 'paid')");
cmp_ok($sold, '>=', 1193, "at least one ticket per seat was sold ($sold)");

is( $node->safe_psql('postgres', q{
SELECT count(*) FROM ticket.tickets a JOIN ticket.tickets b
  ON a.run_id = b.run_id AND a.seat_id = b.seat_id AND a.ticket_id < b.ticket_id
 AND int4range(ticket.lower(a.legs), ticket.upper(a.legs))
     && int4range(ticket.lower(b.legs), ticket.upper(b.legs))
WHERE a.status IN ('held', 'paid') AND b.status IN ('held', 'paid')}),
	'0', 'no two live tickets overlap');

is( $node->safe_psql('postgres', q{
WITH pairs AS (
	SELECT a.stop_no AS a, b.stop_no AS b, sa.code AS f, sb.code AS t
	FROM ticket.stop a JOIN ticket.stop b ON b.train_id = a.train_id AND b.stop_no > a.stop_no
	JOIN ticket.station sa ON sa.station_id = a.station_id
	JOIN ticket.station sb ON sb.station_id = b.station_id),
api AS (
	SELECT p.a, p.b, r.seat_class, r.remaining
	FROM pairs p, LATERAL ticket.remaining('G9', '2030-01-01', p.f, p.t) r),
recount AS (
	SELECT p.a, p.b, s.seat_class::text AS seat_class, count(*) FILTER (WHERE NOT EXISTS (
		SELECT 1 FROM ticket.tickets k WHERE k.seat_id = s.seat_id
		  AND int4range(ticket.lower(k.legs), ticket.upper(k.legs)) && int4range(p.a, p.b)
		  AND (k.status = 'paid' OR (k.status = 'held' AND k.hold_until > now()))))::int AS remaining
	FROM pairs p CROSS JOIN ticket.seat s
	GROUP BY 1, 2, 3)
SELECT count(*) FILTER (WHERE api.remaining IS DISTINCT FROM recount.remaining)
FROM recount FULL JOIN api USING (a, b, seat_class)}),
	'0', 'remaining() equals a brute-force recount for all 190 journeys and 3 classes');

my $log = slurp_file($node->logfile);
my $deadlocks = () = $log =~ /deadlock detected/g;
is($deadlocks, 0, 'no deadlocks');

$node->stop;
done_testing();
