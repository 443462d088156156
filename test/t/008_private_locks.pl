
# Nobody outside the extension can stall it through its locks (1.7).  Up to
# 1.6 the extension serialised with advisory locks, which every login role
# may take: a role with no grants at all ran
# pg_advisory_lock_shared(hashtext('ticket.queue'), hashint8(run_id)) and the
# queue worker stopped inside serve_queue(), for that run and every other.
# Here a role with no grants at all and a member of ticket_app take every
# advisory key 1.6 used (the queue, serve and batch locks of the runs, the
# waitlist lock, the (user, run) and per-user locks), while the worker
# serves requests on those runs and on another one, and grabs, passenger
# changes and a refund that fills the waitlist go on without waiting.  The
# extension's own locks (ticket.lock_xact() and friends) are out of their
# reach.  Then one run stuck behind a client's open transaction on its
# carriages: the worker leaves it for later and serves the other run, and
# serves the stuck one once the transaction ends.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $date = '2030-05-01';

my $node = PostgreSQL::Test::Cluster->new('locks');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
fsync = off
log_min_messages = warning
shared_preload_libraries = 'ticket'
ticket.queue_database = 'postgres'
});
$node->start;

$node->safe_psql('postgres', qq{
SET client_min_messages = warning;
CREATE EXTENSION ticket CASCADE;
SELECT ticket.add_station('AAQ', 'Alpha'), ticket.add_station('BBQ', 'Bravo'), ticket.add_station('CCQ', 'Charlie');
SELECT ticket.add_train('G1', ARRAY['AAQ', 'BBQ', 'CCQ']);
SELECT ticket.add_carriage('G1', 1, 'second', 5, 'ABC');
SELECT ticket.add_train('G2', ARRAY['AAQ', 'BBQ', 'CCQ']);
SELECT ticket.add_carriage('G2', 1, 'second', 5, 'ABC');
-- one seat: sold out at once, for the waitlist
SELECT ticket.add_train('G3', ARRAY['AAQ', 'BBQ', 'CCQ']);
SELECT ticket.add_carriage('G3', 1, 'second', 1, 'A');
SELECT ticket.open_sales('G1', '$date');
SELECT ticket.open_sales('G2', '$date');
SELECT ticket.open_sales('G3', '$date');
-- a role with no grants at all, and an application's login role
CREATE ROLE outsider LOGIN;
CREATE ROLE clerk LOGIN IN ROLE ticket_app;
});
my ($run1, $run2, $run3) = split /\n/, $node->safe_psql('postgres',
	"SELECT r.run_id FROM ticket.run r JOIN ticket.train t USING (train_id) ORDER BY t.code");
# the worker serves the runs of a round in run_id order: the first is the one held up
cmp_ok($run1, '<', $run2, 'the run held up comes first in a round of the worker');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'ticket queue worker'"),
	'the queue worker runs');

# A call as the application, that must not wait: 57014 if it does.
sub as_clerk
{
	my ($sql) = @_;
	my ($rc, $out, $err) = $node->psql(
		'postgres', "SET statement_timeout = '10s';\n$sql",
		extra_params => [ '-U', 'clerk' ]);
	return $rc == 0 ? $out : "error: $err";
}

# Requests on both runs, accepted in one transaction (so a round of the
# worker meets both), then their answers, waiting at most 20 s for each.
my $user = 100;
sub served_on_both_runs
{
	my @users = ($user++, $user++);
	my $ids = as_clerk(qq{
SELECT string_agg(x.request_id::text, ' ') FROM (
	SELECT (ticket.enqueue($users[0], 'G1', '$date', 'AAQ', 'CCQ')).request_id
	UNION ALL
	SELECT (ticket.enqueue($users[1], 'G2', '$date', 'AAQ', 'CCQ')).request_id) x});
	return "could not enqueue: $ids" if $ids !~ /^\d+ \d+$/;
	my ($one, $two) = split / /, $ids;
	my ($rc, $out, $err) = $node->psql('postgres', qq{
SELECT (SELECT status FROM ticket.queue_wait($one, '20 s')) || ' ' || (SELECT status FROM ticket.queue_wait($two, '20 s'))},
		extra_params => [ '-U', 'clerk' ]);
	return $rc == 0 ? $out : "error: $err";
}

# 1. The probe, as it was found: a role with no grants takes the first
# run's queue lock of 1.6, in share mode, and keeps it.
my $outsider = $node->background_psql('postgres', extra_params => [ '-U', 'outsider' ]);
$outsider->query_safe(
	"SELECT pg_advisory_lock_shared(hashtext('ticket.queue'), hashint8($run1))");
is(served_on_both_runs(), 'done done',
	"with 1.6's queue lock of a run taken by a role with no grants, requests on it and on another run are served");

# 2. Every advisory key 1.6 used, taken exclusively: the outsider takes
# those of the first and third runs and of 300 users (their (user, run)
# keys there and their own), a member of ticket_app those of the second run
# and of the same users on it.
my $old_keys = sub {
	my ($runs, $user_keys) = @_;
	return qq{
SELECT count(pg_advisory_lock(hashtext(k), hashint8(r)))
FROM unnest(ARRAY['ticket.queue', 'ticket.serve_queue', 'ticket.queue_batch', 'ticket.waitlist']) k,
     unnest(ARRAY[$runs]::bigint[]) r;
SELECT count(pg_advisory_lock(hashint8extended(u, r)))
FROM generate_series(1, 300) u, unnest(ARRAY[$user_keys]::bigint[]) r;
SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted;};
};
$outsider->query_safe(
	"SELECT pg_advisory_unlock_shared(hashtext('ticket.queue'), hashint8($run1))");
is($outsider->query_safe($old_keys->("$run1, $run3", "$run1, $run3, -1")), "8\n900\n908",
	'the role with no grants holds every advisory key of 1.6 for two runs and 300 users');
my $clerk = $node->background_psql('postgres', extra_params => [ '-U', 'clerk' ]);
is($clerk->query_safe($old_keys->($run2, $run2)), "4\n300\n304",
	'a member of ticket_app holds them for the second run');

is(served_on_both_runs(), 'done done', 'requests on those runs are served all the same');

# the (user, run) lock of grab, and the user's lock of the passenger form,
# add_passenger and remove_passenger
like(as_clerk(qq{SELECT order_id FROM ticket.grab(10, 'G1', '$date', 'AAQ', 'BBQ')}),
	qr/^\d+$/, "a grab by a user whose (user, run) key of 1.6 is taken does not wait");
is( as_clerk(q{
SELECT ticket.add_passenger(11, '11010519491231002X', 'Zhang San') > 0,
       ticket.add_passenger(11, '110101201003151233', 'Li Si', 'child') > 0,
       ticket.remove_passenger(11, '110101201003151233')}),
	't|t|t', "neither do add_passenger and remove_passenger, whose user's key of 1.6 is taken");
like(
	as_clerk(qq{SELECT count(*) FROM ticket.grab(11, 'G1', '$date', 'BBQ', 'CCQ', 'second', ARRAY['11010519491231002X'])}),
	qr/^1$/, 'nor a grab with passengers');

# the waitlist lock of 1.6: a cancel hands its seat to the waitlist at once
my $held = as_clerk(qq{SELECT order_id FROM ticket.grab(12, 'G3', '$date', 'AAQ', 'CCQ')});
like($held, qr/^\d+$/, 'the one seat of the third run is held');
my $waiting = as_clerk(qq{SELECT ticket.join_waitlist(13, 'G3', '$date', 'AAQ', 'CCQ')});
like($waiting, qr/^\d+$/, 'another user waits for it');
is( as_clerk(qq{
SELECT ticket.cancel($held);
SELECT status FROM ticket.waitlist_status($waiting)}),
	"cancelled\nfulfilled",
	'a cancel on a run whose waitlist key of 1.6 is taken hands the seat to the waitlist without waiting');

# 3. The extension's own locks are out of the reach of both.
for my $role ('outsider', 'clerk')
{
	for my $call ("lock_xact('queue', $run1)", "try_lock_xact('serve_queue', $run1)",
		"lock_session('user', 10)", "unlock_session('user_run', 1)")
	{
		my ($rc, $out, $err) =
		  $node->psql('postgres', "SELECT ticket.$call", extra_params => [ '-U', $role ]);
		like($err, qr/permission denied/, "$role may not call ticket.$call");
	}
	is( $node->safe_psql('postgres', qq{
SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'ticket'::regnamespace
AND p.proname IN ('lock_xact', 'try_lock_xact', 'lock_session', 'unlock_session')
AND has_function_privilege('$role', p.oid, 'EXECUTE')}),
		'0', "$role may execute none of the lock functions");
}
# an operator sees them in pg_locks, by their objsubid, with the key
my $locker = $node->background_psql('postgres');
$locker->query_safe("BEGIN; SELECT ticket.lock_xact('serve_queue', $run3)");
is( $node->safe_psql('postgres', q{
SELECT locktype || ' ' || objsubid || ' ' || ((classid::bigint << 32) | objid::bigint) || ' ' || mode
FROM pg_locks WHERE locktype = 'advisory' AND objsubid > 2}),
	"advisory 12302 $run3 ExclusiveLock", 'pg_locks shows the serve lock of a run as advisory, objsubid 12302');
$locker->query_safe('COMMIT');
$locker->quit;

$outsider->quit;
$clerk->quit;

# 4. One run stuck behind a client's open transaction on its carriages: the
# worker leaves it for later (after ticket.queue_lock_timeout, 100 ms) and
# serves the other run meanwhile; once the transaction ends it is served.
my $open = $node->background_psql('postgres', extra_params => [ '-U', 'clerk' ]);
$open->query_safe(qq{BEGIN; SELECT order_id FROM ticket.grab(20, 'G1', '$date', 'AAQ', 'CCQ')});
my ($stuck, $other) = split / /, as_clerk(qq{
SELECT string_agg(x.request_id::text, ' ') FROM (
	SELECT (ticket.enqueue(21, 'G1', '$date', 'AAQ', 'CCQ')).request_id
	UNION ALL
	SELECT (ticket.enqueue(22, 'G2', '$date', 'AAQ', 'CCQ')).request_id) x});
is(as_clerk("SELECT status FROM ticket.queue_wait($other, '20 s')"),
	'done', "while a client's open transaction holds the first run's carriage, a request on another run is served");
is(as_clerk("SELECT status FROM ticket.queue_wait($stuck, '0 s')"),
	'waiting', 'the request on the held run waits');
ok( $node->wait_for_log(qr/run $run1 left for the next round: a lock it needs is held elsewhere/),
	'the log says why the run was left');
$open->query_safe('COMMIT');
$open->quit;
is(as_clerk("SELECT status FROM ticket.queue_wait($stuck, '20 s')"),
	'done', 'once the transaction ends, that request is served too');
is( $node->safe_psql('postgres', qq{
SELECT string_agg(user_id::text, ',' ORDER BY service_no) FROM ticket.queue_request
WHERE run_id = $run1 AND status = 'done'}),
	'100,102,21', 'the held run served its requests in order');

$node->stop;

# 5. The queue's table path (the library not preloaded, no worker): enqueue
# shares a run's queue lock until it commits and queue_wait() waits on a
# batch's lock, both in C.  A role with no grants takes 1.6's keys of both
# exclusively: neither waits.  A client whose enqueue stays uncommitted
# holds its run up for serve_queue() at most ticket.queue_lock_timeout:
# serve_queue() serves the other run and leaves that one for a later call.
my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->append_conf('postgresql.conf', "fsync = off\nlog_min_messages = warning\n");
$plain->start;
$plain->safe_psql('postgres', qq{
SET client_min_messages = warning;
CREATE EXTENSION ticket CASCADE;
SELECT ticket.add_station('AAQ', 'Alpha'), ticket.add_station('BBQ', 'Bravo');
SELECT ticket.add_train('G1', ARRAY['AAQ', 'BBQ']);
SELECT ticket.add_carriage('G1', 1, 'second', 5, 'ABC');
SELECT ticket.add_train('G2', ARRAY['AAQ', 'BBQ']);
SELECT ticket.add_carriage('G2', 1, 'second', 5, 'ABC');
SELECT ticket.open_sales('G1', '$date');
SELECT ticket.open_sales('G2', '$date');
CREATE ROLE outsider LOGIN;
CREATE ROLE clerk LOGIN IN ROLE ticket_app;
});
($run1, $run2) = split /\n/, $plain->safe_psql('postgres',
	"SELECT r.run_id FROM ticket.run r JOIN ticket.train t USING (train_id) ORDER BY t.code");
$outsider = $plain->background_psql('postgres', extra_params => [ '-U', 'outsider' ]);
is( $outsider->query_safe(qq{
SELECT count(pg_advisory_lock(hashtext(k), hashint8(r)))
FROM unnest(ARRAY['ticket.queue', 'ticket.serve_queue', 'ticket.queue_batch']) k,
     unnest(ARRAY[$run1, $run2]::bigint[]) r}),
	'6', 'table path: the role with no grants holds the queue, serve and batch keys of 1.6 of both runs');
sub as_clerk_plain
{
	my ($sql) = @_;
	my ($rc, $out, $err) = $plain->psql(
		'postgres', "SET statement_timeout = '10s';\n$sql",
		extra_params => [ '-U', 'clerk' ]);
	return $rc == 0 ? $out : "error: $err";
}
like(as_clerk_plain(qq{SELECT (ticket.enqueue(30, 'G1', '$date', 'AAQ', 'BBQ')).request_id}),
	qr/^\d+$/, 'table path: an enqueue does not wait for the queue key of 1.6');
$open = $plain->background_psql('postgres', extra_params => [ '-U', 'clerk' ]);
$open->query_safe(qq{SET statement_timeout = '10s'; BEGIN;
SELECT (ticket.enqueue(31, 'G1', '$date', 'AAQ', 'BBQ')).status});
is($open->query_safe('SELECT 1'), '1', 'nor one left uncommitted');
my $request = as_clerk_plain(qq{SELECT (ticket.enqueue(32, 'G2', '$date', 'AAQ', 'BBQ')).request_id});
like($request, qr/^\d+$/, 'nor one on the other run');
is(as_clerk_plain(qq{SELECT status FROM ticket.queue_wait($request, '1 s')}),
	'waiting', "queue_wait() does not wait for 1.6's batch key beyond its timeout");
my ($rc, $out, $err) = $plain->psql('postgres',
	"SET statement_timeout = '10s'; SELECT ticket.serve_queue()");
is($out, '1', "with an enqueue of the first run uncommitted, serve_queue() serves the other run");
like(slurp_file($plain->logfile),
	qr/run $run1 left for the next round: an enqueue of the run has not committed/,
	'and the log says why it left the first');
$open->query_safe('COMMIT');
$open->quit;
$outsider->quit;
is($plain->safe_psql('postgres', "SELECT ticket.serve_queue()"), '2', 'once it commits, a later call serves the first run');
is( $plain->safe_psql('postgres', q{
SELECT string_agg(user_id || ':' || status, ',' ORDER BY service_no) FROM ticket.queue_request}),
	'32:done,30:done,31:done', 'every request is served, each run in order');
$plain->stop;

done_testing();
