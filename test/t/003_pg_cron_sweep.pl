
# The hold sweeper under pg_cron: ticket.schedule_jobs() creates one job
# (calling it again does not add another), the job expires a short hold
# without anyone calling expire_holds() by hand, and unschedule_jobs()
# removes it.  Without pg_cron, schedule_jobs() only gives a notice.
# pg_cron 1.4 runs jobs at most once a minute, so this test waits up to a
# little over a minute for the job.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $date = '2030-04-01';

my $node = PostgreSQL::Test::Cluster->new('cron');
$node->init;
# jobs connect through libpq; the node listens only on its Unix socket
my $host = $node->host;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.host = '$host'
fsync = off
log_statement = none
});
$node->start;

$node->safe_psql('postgres', q{
SET client_min_messages = warning;
CREATE EXTENSION pg_cron;
CREATE EXTENSION ticket CASCADE;
});
$node->safe_psql('postgres', qq{
SELECT ticket.add_station('VNP', '北京南');
SELECT ticket.add_station('AOH', '上海虹桥');
SELECT ticket.add_train('G1', ARRAY['VNP', 'AOH']);
SELECT ticket.add_carriage('G1', 1, 'second', 1, 'AB');
SELECT ticket.open_sales('G1', '$date');
});

# schedule_jobs() is idempotent -----------------------------------------------

my $job1 = $node->safe_psql('postgres', 'SELECT ticket.schedule_jobs()');
my $job2 = $node->safe_psql('postgres', 'SELECT ticket.schedule_jobs()');
like($job1, qr/^\d+$/, 'schedule_jobs() returns a job id');
is($job2, $job1, 'scheduling again returns the same job');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) || ' ' || string_agg(format('%s|%s|%s|%s|%s', jobid, schedule, command, database, active), ',')
		 FROM cron.job WHERE jobname = 'ticket-expire-holds'"),
	"1 $job1|* * * * *|SELECT ticket.expire_holds()|postgres|t",
	'one job named ticket-expire-holds, every minute, in this database');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cron.job'), '1', 'no other job was created');

# a short hold expires by the job alone ------------------------------------------

my $order = $node->safe_psql('postgres', qq{
SET ticket.hold_timeout = '2s';
SELECT order_id FROM ticket.grab(1, 'G1', '$date', 'VNP', 'AOH', 'second', 'cron-1');
});
like($order, qr/^\d+$/, 'grabbed a seat with a 2 s hold');
is( $node->safe_psql('postgres',
		"SELECT hold_until - created_at FROM ticket.orders WHERE order_id = $order"),
	'00:00:02', 'the hold lasts 2 s');

my $started = time;
my $status  = '';
while (time - $started < 150)
{
	$status = $node->safe_psql('postgres', "SELECT status FROM ticket.orders WHERE order_id = $order");
	last if $status eq 'expired';
	sleep 1;
}
is($status, 'expired', 'the hold expired without calling expire_holds()');
note sprintf('the job expired it after %.0f s', time - $started);

is( $node->safe_psql('postgres', "SELECT status FROM ticket.tickets WHERE order_id = $order"),
	'expired', 'its ticket expired too');

# it was the job: a successful run of it covers the moment the order closed
my $runs = $node->safe_psql('postgres', qq{
SELECT string_agg(format('%s %s %s', status, return_message, start_time), E'\\n' ORDER BY runid)
FROM cron.job_run_details WHERE jobid = $job1});
note "runs of the job:\n$runs";
# pg_cron records the run's end only after the job's transaction has
# committed, so the order can be seen expired a moment before that: wait.
# It also records the start only after it has sent the command, so the job's
# transaction (whose now() is the order's closed_at) may begin a fraction of a
# millisecond before start_time (seen: 0.4 ms): allow one second for that.
my $covering = '0';
for (1 .. 30)
{
	$covering = $node->safe_psql('postgres', qq{
SELECT count(*) FROM cron.job_run_details d, ticket.orders o
WHERE d.jobid = $job1 AND d.status = 'succeeded' AND d.command = 'SELECT ticket.expire_holds()'
  AND o.order_id = $order
  AND o.closed_at BETWEEN d.start_time - interval '1 second' AND d.end_time});
	last if $covering eq '1';
	sleep 1;
}
is($covering, '1', 'a succeeded run of ticket-expire-holds closed the order');
is($node->safe_psql('postgres', "SELECT count(*) FROM cron.job_run_details WHERE status <> 'succeeded'"),
	'0', 'no failed job runs');

# the seat is for sale again (the job released it, not a grab)
is( $node->safe_psql('postgres',
		"SELECT remaining FROM ticket.remaining('G1', '$date', 'VNP', 'AOH')"),
	'2', 'both seats are free again');

# unschedule_jobs() removes the job and is idempotent -------------------------------

is($node->safe_psql('postgres', 'SELECT ticket.unschedule_jobs()'), 't', 'unschedule_jobs() removes the job');
is($node->safe_psql('postgres', "SELECT count(*) FROM cron.job WHERE jobname = 'ticket-expire-holds'"),
	'0', 'the job is gone');
is($node->safe_psql('postgres', 'SELECT ticket.unschedule_jobs()'), 'f', 'a second unschedule_jobs() finds nothing');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cron.job'), '0', 'cron.job is empty');

# and the job can come back
my $job3 = $node->safe_psql('postgres', 'SELECT ticket.schedule_jobs()');
like($job3, qr/^\d+$/, 'schedule_jobs() again after unscheduling');
is($node->safe_psql('postgres', "SELECT count(*) FROM cron.job WHERE jobname = 'ticket-expire-holds'"),
	'1', 'one job again');
is($node->safe_psql('postgres', 'SELECT ticket.unschedule_jobs()'), 't', 'and removed again');

# without pg_cron: a notice, no error ------------------------------------------------

$node->safe_psql('postgres', 'CREATE DATABASE nocron');
$node->safe_psql('nocron', 'SET client_min_messages = warning; CREATE EXTENSION ticket CASCADE');
my ($ret, $out, $err) = $node->psql('nocron', 'SELECT ticket.schedule_jobs() IS NULL');
is($ret, 0, 'schedule_jobs() without pg_cron is not an error');
is($out, 't', '... it returns NULL');
like($err, qr/NOTICE:\s+pg_cron is not installed in this database/, '... and gives a notice');
($ret, $out, $err) = $node->psql('nocron', 'SELECT ticket.unschedule_jobs()');
is($ret, 0,   'unschedule_jobs() without pg_cron is not an error');
is($out, 'f', '... it returns false');
like($err, qr/NOTICE:\s+pg_cron is not installed in this database/, '... and gives a notice');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cron.job'), '0',
	'nothing was scheduled from the other database');

$node->stop;
done_testing();
