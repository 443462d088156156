
# The order queue under a crowd, served by the background worker: 64
# clients each enqueue a random journey on one hot 1,193-seat, 20-stop run
# and wait for the answer, over and over.  Every accepted request must be
# served, in exactly the order of acceptance (the rank correlation between
# acceptance and service is 1, with no inversion), the seats must be sold
# exactly as the requests say, and no two live tickets may overlap.  Then the
# admission cap: with the run's service held up, a crowd knocking at once
# fills the queue to the cap (plus at most the callers racing it), and
# everyone else hears TK018; once service resumes every accepted request is
# served.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $clients  = 64;
my $duration = 12;
my $cap      = 20;
my $knocks   = 5;                      # requests per client while service is held up
my $attempts = $clients * $knocks;

my $node = PostgreSQL::Test::Cluster->new('queue');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
max_connections = 120
fsync = off
log_min_messages = warning
shared_preload_libraries = 'ticket'
ticket.queue_database = 'postgres'
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
SELECT ticket.open_sales('G9', '2030-01-02');
-- test scaffolding: a passenger enqueues (its own transaction), then waits
-- for the answer in the next one
CREATE UNLOGGED TABLE public.answer (request_id bigint, outcome text, sqlstate text, heard text);
CREATE FUNCTION public.enqueue(u bigint, day date) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	a integer := floor(random() * 19);
	b integer := a + 1 + floor(random() * (19 - a));
BEGIN
	RETURN (ticket.enqueue(u, 'G9', day, 'stop ' || a, 'stop ' || b)).request_id;
EXCEPTION WHEN SQLSTATE 'TK001' OR SQLSTATE 'TK018' THEN
	INSERT INTO public.answer VALUES (NULL, 'refused', SQLSTATE);
	RETURN 0;
END
$$;
CREATE FUNCTION public.wait(req bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	s record;
BEGIN
	IF req = 0 THEN
		RETURN 'refused';
	END IF;
	LOOP
		SELECT * INTO s FROM ticket.queue_wait(req);
		EXIT WHEN s.status <> 'waiting';
	END LOOP;
	INSERT INTO public.answer VALUES (req, s.status, s.error_sqlstate, s::text);
	RETURN s.status;
END
$$;
});

# pairs of live tickets that overlap, by an independent int4range check
my $live_overlaps = q{
SELECT count(*) FROM ticket.tickets a JOIN ticket.tickets b
  ON a.run_id = b.run_id AND a.seat_id = b.seat_id AND a.ticket_id < b.ticket_id
 AND int4range(ticket.lower(a.legs), ticket.upper(a.legs))
     && int4range(ticket.lower(b.legs), ticket.upper(b.legs))
WHERE a.status IN ('held', 'paid') AND b.status IN ('held', 'paid')};

ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'ticket queue worker'"),
	'the queue worker runs');

$node->pgbench(
	"--no-vacuum --client=$clients --jobs=2 --time=$duration",
	0,
	[ qr{processed: [1-9]}, qr{number of failed transactions: 0 } ],
	[qr{^$}],
	'64 clients enqueue on one hot run and wait for their answers, with no failure',
	{   'queue_passenger' =>
		  "\\set u random(1, 1000000000000)\n"
		  . "SELECT public.enqueue(:u, '2030-01-01') AS req \\gset\n"
		  . "SELECT public.wait(:req);\n" });

# waiting requests live in shared memory (the library is preloaded) until served
ok( $node->poll_query_until('postgres',
		"SELECT coalesce(sum(waiting), 0) = 0 FROM ticket.waiting_requests()"),
	'every accepted request is served');

my ($served, $done, $rho, $inversions) = split /\|/, $node->safe_psql('postgres', q{
WITH r AS (
	SELECT rank() OVER (ORDER BY queue_position) AS accepted,
	       rank() OVER (ORDER BY service_no) AS served, q.status
	FROM ticket.queue_request q JOIN ticket.run ru USING (run_id)
	WHERE ru.service_date = '2030-01-01')
SELECT count(*), count(*) FILTER (WHERE status = 'done'),
       -- Spearman's rank correlation, exactly 1 when the orders agree
       1 - 6 * sum((accepted - served) ^ 2) / (count(*) * (count(*) ^ 2 - 1)),
       -- two orders of the same requests agree iff every rank agrees
       count(*) FILTER (WHERE accepted <> served)
FROM r});
cmp_ok($done, '>', 1000, "the queue sold tickets ($done of $served requests served were done)");
is($rho,        '1', "acceptance and service order agree: rank correlation $rho over $served requests");
is($inversions, '0', 'every request was served at the rank it was accepted at');

is( $node->safe_psql('postgres', q{
SELECT count(*) FROM ticket.queue_request q
JOIN ticket.run ru USING (run_id) LEFT JOIN ticket.tickets t ON t.order_id = q.order_id
WHERE ru.service_date = '2030-01-01'
  AND (q.status = 'done') <> (t.ticket_id IS NOT NULL AND t.legs::text = q.legs::text AND t.status = 'held')}),
	'0', 'every done request holds a ticket for its journey, and only those');
is( $node->safe_psql('postgres', q{
SELECT count(*) FROM public.answer a JOIN ticket.queue_request q USING (request_id)
WHERE a.outcome <> q.status OR a.sqlstate IS DISTINCT FROM q.error_sqlstate}),
	'0', 'every client heard the outcome the queue recorded');
# queue_wait() answers from shared memory what its server left there: the
# whole answer (order, carriage, seat, hold, or SQLSTATE and message) is
# what queue_status() reads from the tables
is( $node->safe_psql('postgres', q{
SELECT count(*) FILTER (WHERE a.heard IS DISTINCT FROM (SELECT s::text FROM ticket.queue_status(a.request_id) s))
       || '|' || (count(*) > 1000)
FROM public.answer a WHERE a.request_id IS NOT NULL}),
	'0|true', "every answer queue_wait() gave equals queue_status()'s, column by column");
is($node->safe_psql('postgres', $live_overlaps), '0', 'no two live tickets overlap');
# batches insert many tickets in one statement; the maps follow them once
# per carriage (1.6): every map equals the one rebuilt from the live tickets
is( $node->safe_psql('postgres', q{
BEGIN;
CREATE TEMP TABLE maps_now AS
SELECT rc.run_id, rc.carriage_no, rc.map FROM ticket.run_carriage rc JOIN ticket.run r USING (run_id)
WHERE r.service_date = '2030-01-01';
SELECT count(ticket.rebuild_seat_map(run_id, carriage_no)) FROM maps_now \\g /dev/null
SELECT count(*) FILTER (WHERE rc.map <> m.map) || '|' || count(*)
FROM ticket.run_carriage rc JOIN maps_now m USING (run_id, carriage_no);
ROLLBACK}),
	'0|16', 'every seat map equals the one rebuilt from the live tickets');

# The cap: hold up the service of the second run (a server of a run takes
# its serve lock first; this session takes it and keeps it), then a crowd.
my $blocker = $node->background_psql('postgres');
$blocker->query_safe(q{
BEGIN;
SELECT ticket.lock_xact('serve_queue', r.run_id)
FROM ticket.run r WHERE r.service_date = '2030-01-02'});
$node->safe_psql('postgres', 'TRUNCATE public.answer');
local $ENV{PGOPTIONS} = "-c ticket.queue_max_waiting=$cap";
$node->pgbench(
	"--no-vacuum --client=$clients --jobs=2 --transactions=$knocks",
	0,
	[qr{processed: $attempts/$attempts}],
	[qr{^$}],
	"$clients clients knock $knocks times each on a queue capped at $cap",
	{ 'queue_crowd' => "\\set u random(1, 1000000000000)\nSELECT public.enqueue(:u, '2030-01-02');\n" });
my ($waiting, $full) = split /\|/, $node->safe_psql('postgres', q{
SELECT (SELECT coalesce(sum(w.waiting), 0) FROM ticket.waiting_requests() w JOIN ticket.run r USING (run_id)
        WHERE r.service_date = '2030-01-02'),
       (SELECT count(*) FROM public.answer WHERE sqlstate = 'TK018')});
cmp_ok($waiting, '>=', $cap, "the queue filled to the cap ($waiting waiting)");
# without the cap all $attempts would wait; callers racing it can pass it by
# at most one each at the same instant
cmp_ok($waiting, '<', $cap + $clients, "the cap held: at most the racing callers beyond it ($waiting of $attempts waiting)");
is($waiting + $full, $attempts, "everyone else heard 'queue full' ($full times TK018)");
# in shared memory the cap is checked under the queue's lock: exact
is($waiting, $cap, 'preloaded, the queue holds exactly the cap');
$blocker->query_safe('COMMIT');
$blocker->quit;
ok( $node->poll_query_until('postgres',
		"SELECT coalesce(sum(waiting), 0) = 0 FROM ticket.waiting_requests()"),
	'once service resumes, every accepted request is served');

# Wake-ups (1.5): with the library preloaded a session waiting on a run
# sleeps until a batch of the run commits, and is woken by it.
my $run2 = $node->safe_psql('postgres', "SELECT run_id FROM ticket.run WHERE service_date = '2030-01-02'");
my $batches = $node->safe_psql('postgres', "SELECT ticket.queue_batch_count($run2)");
like($batches, qr/^\d+$/, "preloaded, the batch count of a run is known ($batches)");
is($node->safe_psql('postgres',
		"SELECT ticket.queue_sleep($run2, $batches, clock_timestamp() + interval '0.2 s')"),
	'f', 'with no batch, a sleep ends at its deadline and says so');
$node->safe_psql('postgres', 'CREATE UNLOGGED TABLE public.woke (woke boolean, status text)');
$blocker = $node->background_psql('postgres');
$blocker->query_safe(qq{
BEGIN;
SELECT ticket.lock_xact('serve_queue', $run2)});
my $request = $node->safe_psql('postgres',
	"SELECT (ticket.enqueue(424242, 'G9', '2030-01-02', 'stop 0', 'stop 1')).request_id");
my $sleeper = $node->background_psql('postgres');
$sleeper->query_until(qr/sleeping/, qq{\\echo sleeping
INSERT INTO public.woke (woke)
SELECT bool_or(ticket.queue_sleep($run2, $batches, clock_timestamp() + interval '60 s'))
FROM generate_series(1, 60);
UPDATE public.woke SET status = (SELECT w.status FROM ticket.queue_wait($request, '60 s') w);
});
$blocker->query_safe('COMMIT');
$blocker->quit;
ok($node->poll_query_until('postgres', 'SELECT count(*) = 1 FROM public.woke WHERE status IS NOT NULL'),
	'the sleeper came back once service resumed');
is($node->safe_psql('postgres', q{SELECT woke::text || '|' || status FROM public.woke}),
	'true|done', "the batch woke it, and queue_wait() has the request's answer");
$sleeper->quit;
cmp_ok($node->safe_psql('postgres', "SELECT ticket.queue_batch_count($run2)"), '>', $batches,
	'the batch was counted');

# 1.6: that answer was the one its server left in shared memory.  With the
# request's row changed behind the queue's back (a test's write, nothing
# the extension does), queue_wait() still tells the outcome at service and
# queue_status() tells the row.
my $moved = q{(SELECT q.order_id FROM ticket.queue_request q WHERE q.request_id = } . $request . ')';
$node->safe_psql('postgres',
	"UPDATE ticket.orders SET hold_until = hold_until + interval '1 hour' WHERE order_id = $moved");
is( $node->safe_psql('postgres', qq{
SELECT w.status || '|' || s.status || '|' || (s.hold_until - w.hold_until) || '|' || (w.order_id = s.order_id)
FROM ticket.queue_wait($request, '0 s') w, ticket.queue_status($request) s}),
	'done|done|01:00:00|true',
	'queue_wait() answers from shared memory, without reading the table');
$node->safe_psql('postgres',
	"UPDATE ticket.orders SET hold_until = hold_until - interval '1 hour' WHERE order_id = $moved");

# Requests in shared memory follow their transactions: a rolled-back
# enqueue (whole or to a savepoint) leaves no request; a released savepoint
# keeps it.  With service held up, a repeated request id answers with the
# waiting request, another journey under it is TK013, a second request of
# the user on the run TK020.
$node->safe_psql('postgres', q{
CREATE FUNCTION public.sqlstate_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
$$;
CREATE TABLE public.kept (what text, request_id bigint);
});
$blocker = $node->background_psql('postgres');
$blocker->query_safe(qq{
BEGIN;
SELECT ticket.lock_xact('serve_queue', $run2)});
my $committed = $node->safe_psql('postgres',
	"SELECT (ticket.enqueue(515151, 'G9', '2030-01-02', 'stop 2', 'stop 3')).request_id");
my $rolled_back = $node->safe_psql('postgres', q{
BEGIN;
SELECT (ticket.enqueue(545454, 'G9', '2030-01-02', 'stop 2', 'stop 3')).request_id;
ROLLBACK;});
my ($to_savepoint, $released) = split /\n/, $node->safe_psql('postgres', q{
BEGIN;
SAVEPOINT s;
SELECT (ticket.enqueue(525252, 'G9', '2030-01-02', 'stop 2', 'stop 3')).request_id;
ROLLBACK TO SAVEPOINT s;
SELECT (ticket.enqueue(535353, 'G9', '2030-01-02', 'stop 2', 'stop 3', NULL, 'click-1')).request_id;
COMMIT;});
is($node->safe_psql('postgres', qq{
SELECT string_agg(public.sqlstate_of(format('SELECT ticket.queue_status(%s)', r)), ' ' ORDER BY n)
FROM unnest(ARRAY[$committed, $rolled_back, $to_savepoint, $released]::bigint[]) WITH ORDINALITY u(r, n)}),
	'ok TK019 TK019 ok',
	'committed and released-savepoint requests wait; rolled-back ones (whole or to a savepoint) are gone');
$node->safe_psql('postgres', qq{INSERT INTO public.kept VALUES ('committed', $committed), ('savepoint released', $released)});
is($node->safe_psql('postgres', q{SELECT count(*) FROM ticket.waiting_requests() w JOIN ticket.run r USING (run_id)
	WHERE r.service_date = '2030-01-02' AND w.waiting = 2}),
	'1', 'two requests wait in shared memory: the rolled-back ones are not there');
is($node->safe_psql('postgres', q{
SELECT (ticket.enqueue(535353, 'G9', '2030-01-02', 'stop 2', 'stop 3', NULL, 'click-1')).request_id
     = (SELECT request_id FROM public.kept WHERE what = 'savepoint released')}),
	't', 'a repeated request id answers with the waiting request');
is($node->safe_psql('postgres', q{
SELECT public.sqlstate_of($$SELECT ticket.enqueue(535353, 'G9', '2030-01-02', 'stop 1', 'stop 3', NULL, 'click-1')$$)
    || ' ' || public.sqlstate_of($$SELECT ticket.enqueue(535353, 'G9', '2030-01-02', 'stop 4', 'stop 5')$$)}),
	'TK013 TK020', 'another journey under that id is TK013, a second request of the user TK020');
$blocker->query_safe('COMMIT');
$blocker->quit;
ok( $node->poll_query_until('postgres', q{
SELECT bool_and(s.status <> 'waiting') FROM public.kept k, ticket.queue_status(k.request_id) s}),
	'once service resumes they are served');
is($node->safe_psql('postgres', q{
SELECT count(*) FROM ticket.queue_request q JOIN public.kept k USING (request_id)}),
	'2', 'and written to queue_request as they are served');

# A transaction that queued a request in shared memory cannot be prepared
# (its request could not wait for another session's COMMIT PREPARED).
$node->append_conf('postgresql.conf', 'max_prepared_transactions = 5');
$node->restart;
my ($prep_rc, $prep_out, $prep_err) = $node->psql('postgres', q{
BEGIN;
SELECT ticket.enqueue(707070, 'G9', '2030-01-02', 'stop 5', 'stop 6');
PREPARE TRANSACTION 'q';});
like($prep_err, qr/cannot prepare a transaction that queued or served requests/, 'such a transaction cannot be prepared');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_prepared_xacts}), '0', 'and nothing is left prepared');

# Journeys enqueue resolved are kept (for every session, 1.6) until the
# timetable changes: a station renamed under a kept journey is no longer
# found by its old code.
my $keeper = $node->background_psql('postgres');
$keeper->query_safe(q{SELECT public.sqlstate_of($$SELECT ticket.enqueue(616161, 'G9', '2030-01-02', 'AAQ', 'ABQ')$$)});
$node->safe_psql('postgres', q{UPDATE ticket.station SET code = 'AZQ' WHERE code = 'AAQ'});
is($keeper->query_safe(q{
SELECT public.sqlstate_of($$SELECT ticket.enqueue(626262, 'G9', '2030-01-02', 'AAQ', 'ABQ')$$)
    || ' ' || public.sqlstate_of($$SELECT ticket.enqueue(636363, 'G9', '2030-01-02', 'AZQ', 'ABQ')$$)}),
	'TK009 ok', 'a kept journey is dropped when the timetable changes');
$keeper->quit;

# Another database numbers its requests from its own sequences, and
# requests left waiting by a dropped extension go with it.
$node->safe_psql('postgres', 'CREATE DATABASE other');
my $setup_other = q{
SET client_min_messages = warning;
CREATE EXTENSION ticket CASCADE;
SELECT ticket.add_station('AAQ', 'a'), ticket.add_station('BBQ', 'b');
SELECT ticket.add_train('G7', ARRAY['a', 'b']);
SELECT ticket.add_carriage('G7', 1, 'second', 2, 'AB');
SELECT ticket.open_sales('G7', '2030-01-01');
};
$node->safe_psql('other', $setup_other);
is($node->safe_psql('other', q{
SELECT (ticket.enqueue(1, 'G7', '2030-01-01', 'a', 'b')).request_id < 10,
       (ticket.enqueue(2, 'G7', '2030-01-01', 'a', 'b')).queue_position < 10}),
	't|t', 'another database numbers its queued requests from its own sequences');
$node->safe_psql('other', q{
SET client_min_messages = warning;
DROP EXTENSION ticket CASCADE;} . $setup_other);
is($node->safe_psql('other', q{
SELECT (ticket.enqueue(3, 'G7', '2030-01-01', 'a', 'b')).ahead, (SELECT sum(waiting) FROM ticket.waiting_requests())}),
	'0|1', 'requests of a dropped extension are gone with it');
is($node->safe_psql('other', q{
SELECT ticket.serve_queue();
SELECT string_agg(user_id || ':' || status, ',') FROM ticket.queue_request}),
	"1\n3:done", 'a call of serve_queue() serves that database\'s queue');

my $log = slurp_file($node->logfile);
my $deadlocks = () = $log =~ /deadlock detected/g;
is($deadlocks, 0, 'no deadlocks');
unlike($log, qr/batch of \d+ requests on run \d+ failed/, 'no batch needed the repair path');

# 1.6: requests taken from shared memory are written to the table once, by
# the statement that serves them.  A batch that meets something its checks
# did not foresee (here a seat map wiped behind the extension's back, so a
# sold seat looks free and the exclusion constraint objects) keeps none of
# its work: its first request is served alone, the way grab serves, and the
# others it took wait in the table for the next batch, none lost.
$node->safe_psql('postgres', "SELECT ticket.open_sales('G9', '2030-01-03')");
my $run3 = $node->safe_psql('postgres', "SELECT run_id FROM ticket.run WHERE service_date = '2030-01-03'");
$node->safe_psql('postgres', qq{
SELECT ticket.grab(515150, 'G9', '2030-01-03', 'stop 0', 'stop 19');
UPDATE ticket.run_carriage rc SET map = ticket.seatmap_new(rc.seats, r.n_legs)
FROM ticket.run r WHERE rc.run_id = r.run_id AND r.run_id = $run3});
# (The serve lock held for the session keeps the worker off this run.)
$blocker = $node->background_psql('postgres');
$blocker->query_safe(qq{
SET client_min_messages = error;
SELECT ticket.lock_session('serve_queue', $run3)});
$node->safe_psql('postgres', qq{
SELECT ticket.enqueue(515150 + i, 'G9', '2030-01-03', 'stop 0', 'stop 19') FROM generate_series(1, 3) i});
is($node->safe_psql('postgres', "SELECT waiting FROM ticket.waiting_requests() WHERE run_id = $run3"),
	'3', 'three requests wait in shared memory');
is($blocker->query_safe("SELECT ticket.serve_queue($run3, 500)"), '1', 'the failed batch served one request');
is( $node->safe_psql('postgres', qq{
SELECT string_agg(q.user_id || ':' || q.status, ',' ORDER BY q.queue_position)
FROM ticket.queue_request q WHERE q.run_id = $run3}),
	'515151:done,515152:waiting,515153:waiting', 'the others it took wait in the table');
# A user waiting in the table may queue again in shared memory (enqueue
# looks where it queues); the batch serving both fails the later one as
# enqueue would have refused it, never giving the user two orders.
$node->safe_psql('postgres', qq{
SELECT ticket.enqueue(515152, 'G9', '2030-01-03', 'stop 0', 'stop 1')});
is($blocker->query_safe("SELECT ticket.serve_queue($run3, 500)"), '3', 'the next batch served the three');
$blocker->query_safe("SELECT ticket.unlock_session('serve_queue', $run3)");
$blocker->quit;
is( $node->safe_psql('postgres', qq{
SELECT string_agg(q.user_id || ':' || q.status || coalesce(':' || q.error_sqlstate, ''), ','
                  ORDER BY q.queue_position)
FROM ticket.queue_request q WHERE q.run_id = $run3}),
	'515151:done,515152:done,515153:done,515152:failed:TK020',
	'every request taken from shared memory was recorded and served, in order; the second of a user TK020');
is( $node->safe_psql('postgres', qq{
SELECT count(*) FROM ticket.orders WHERE run_id = $run3 AND user_id = 515152}),
	'1', 'that user holds one order');
like(slurp_file($node->logfile), qr/batch of 3 requests on run $run3 failed, serving one/,
	'the batch took the repair path');
is($node->safe_psql('postgres', $live_overlaps), '0', 'still no two live tickets overlap');

$node->stop;
done_testing();
