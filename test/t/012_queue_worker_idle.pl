
# An idle queue worker costs nothing: with no request waiting it sleeps on its
# latch until an enqueue wakes it (or a minute passes), instead of running
# two transactions every ticket.queue_naptime (10 ms), which cost 3.4% of a
# core on an empty queue before 1.7.  Measured from the kernel's count of the
# worker's CPU time; then an enqueue still wakes it at once.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use POSIX qw(sysconf _SC_CLK_TCK);

my $date  = '2030-06-01';
my $idle  = 6;                        # seconds measured
my $ticks = sysconf(_SC_CLK_TCK);     # of CPU time, per second

my $node = PostgreSQL::Test::Cluster->new('idle');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'ticket'
ticket.queue_database = 'postgres'
log_min_messages = warning
log_statement = none
});
$node->start;
$node->safe_psql('postgres', qq{
SET client_min_messages = warning;
CREATE EXTENSION ticket CASCADE;
SELECT ticket.add_station('QWA', 'idle A');
SELECT ticket.add_station('QWB', 'idle B');
SELECT ticket.add_train('G6', ARRAY['QWA', 'QWB']);
SELECT ticket.add_carriage('G6', 1, 'second', 2, 'AB');
SELECT ticket.open_sales('G6', '$date');
});
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'ticket queue worker'"),
	'the queue worker runs');
my $pid = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'ticket queue worker'");

# user + system CPU time of a process, in clock ticks
sub cpu_ticks
{
	open(my $f, '<', "/proc/$pid/stat") or die "no process $pid: $!";
	my @field = split / /, (<$f> =~ s/^.*\) //r);
	return $field[11] + $field[12];
}

# a request served, so that the worker has done a round since it started
my $id = $node->safe_psql('postgres', "SELECT request_id FROM ticket.enqueue(1, 'G6', '$date', 'QWA', 'QWB')");
is($node->safe_psql('postgres', "SELECT status FROM ticket.queue_wait($id, '10 s')"), 'done', 'a request is served');
sleep 0.5;

my $cpu = cpu_ticks();
my $started = time;
sleep $idle;
my $used = (cpu_ticks() - $cpu) / $ticks;
my $share = 100 * $used / (time - $started);
note sprintf('the idle worker used %.2f s of CPU in %.1f s (%.2f%% of a core)', $used, time - $started, $share);
cmp_ok($share, '<', 0.5, 'an idle worker uses less than 0.5% of a core');

# an enqueue wakes it at once: served well before the minute it may sleep
$started = time;
$id = $node->safe_psql('postgres', "SELECT request_id FROM ticket.enqueue(2, 'G6', '$date', 'QWA', 'QWB')");
is($node->safe_psql('postgres', "SELECT status FROM ticket.queue_wait($id, '30 s')"), 'done',
	'an enqueue wakes the idle worker');
my $took = time - $started;
cmp_ok($took, '<', 10, sprintf('served in %.2f s', $took));

$node->stop;
done_testing();
