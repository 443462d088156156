# A hot standby: the read functions answer there exactly as on the primary
# (after replay), every function that writes fails at once with TK063 and a
# hint to use the primary (not 25006 from somewhere inside it), nothing of
# ticket runs in the background on the standby nor logs errors there, and
# once the standby is promoted its queue worker serves the queue.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'pg_cron,ticket'
ticket.queue_database = 'postgres'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
fsync = off
});
$primary->start;

# a month ahead of Beijing's today: nothing has left, limits are fresh
my $date = $primary->safe_psql('postgres',
	"SELECT ((now() AT TIME ZONE 'Asia/Shanghai')::date + 30)::text");

$primary->safe_psql('postgres', qq{
SET client_min_messages = warning;
CREATE EXTENSION pg_cron;
CREATE EXTENSION ticket CASCADE;
SELECT ticket.add_station('VNP', '北京南');
SELECT ticket.add_station('NKH', '南京南');
SELECT ticket.add_station('AOH', '上海虹桥');
SELECT ticket.add_station('HGH', '杭州东');
SELECT ticket.add_train('G1', ARRAY['VNP', 'NKH', 'AOH'],
	ARRAY[NULL, '12:24', '13:28']::interval[], ARRAY['09:00', '12:26', NULL]::interval[]);
SELECT ticket.add_carriage('G1', 1, 'first', 2, 'ACDF');
SELECT ticket.add_carriage('G1', 2, 'second', 4, 'ABCDF');
SELECT ticket.add_train('G2', ARRAY['AOH', 'HGH'],
	ARRAY[NULL, '15:30']::interval[], ARRAY['14:30', NULL]::interval[]);
SELECT ticket.add_carriage('G2', 1, 'second', 1, 'A');
SELECT ticket.open_sales('G1', '$date');
SELECT ticket.open_sales('G2', '$date');
SELECT ticket.add_passenger(7, '11010519491231002X', '张三');
SELECT ticket.add_passenger(7, '110105201501010017', '张小三', 'child');
});

# what the reads will look at: paid and held orders, a named order, a
# served queued request, a sold-out journey with a waitlist
my $paid = $primary->safe_psql('postgres',
	"SELECT order_id FROM ticket.grab(1, 'G1', '$date', 'VNP', 'AOH', 'second')");
$primary->safe_psql('postgres', "SELECT ticket.confirm($paid)");
my $held = $primary->safe_psql('postgres',
	"SELECT order_id FROM ticket.grab(2, 'G1', '$date', 'NKH', 'AOH', 'first')");
my $named = $primary->safe_psql('postgres',
	"SELECT DISTINCT order_id FROM ticket.grab(7, 'G1', '$date', 'VNP', 'NKH', 'second',
	   ARRAY['11010519491231002X', '110105201501010017'])");
$primary->safe_psql('postgres', "SELECT ticket.confirm($named)");
my $ticket = $primary->safe_psql('postgres',
	"SELECT min(ticket_id) FROM ticket.tickets WHERE order_id = $named");
my $request = $primary->safe_psql('postgres',
	"SELECT request_id FROM ticket.enqueue(3, 'G1', '$date', 'VNP', 'AOH', 'second')");
is($primary->safe_psql('postgres', "SELECT status FROM ticket.queue_wait($request, '60 s')"),
	'done', 'the primary\'s queue worker served a queued request');
$primary->safe_psql('postgres',
	"SELECT ticket.confirm(order_id) FROM ticket.grab(4, 'G2', '$date', 'AOH', 'HGH')");
my $waitlist = $primary->safe_psql('postgres',
	"SELECT ticket.join_waitlist(5, 'G2', '$date', 'AOH', 'HGH')");

$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

# one more sale after the backup: the standby has it only by replay
$primary->safe_psql('postgres',
	"SELECT ticket.confirm(order_id) FROM ticket.grab(6, 'G1', '$date', 'VNP', 'AOH', 'first')");
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');

# reads: the same answers on the standby as on the primary -------------------------

my %reads = (
	remaining        => "SELECT * FROM ticket.remaining('G1', '$date', 'VNP', 'AOH') ORDER BY 1",
	remaining_matrix => "SELECT * FROM ticket.remaining_matrix('G1', '$date') ORDER BY 1, 2, 3",
	search           => "SELECT * FROM ticket.search('北京南', '上海虹桥', '$date')",
	search_transfers => "SELECT * FROM ticket.search_transfers('北京南', '杭州东', '$date')",
	queue_status     => "SELECT * FROM ticket.queue_status($request)",
	waitlist_status  => "SELECT * FROM ticket.waitlist_status($waitlist)",
	order_tickets    => "SELECT * FROM ticket.order_tickets($named) ORDER BY 1",
	fare             => "SELECT ticket.fare('G1', 'VNP', 'AOH', 'second', 'child')",
	refund_fee       => "SELECT ticket.refund_fee(553, '30 hours')",);
for my $f (sort keys %reads)
{
	my ($ret, $out, $err) = $standby->psql('postgres', $reads{$f});
	is($ret, 0, "$f runs on the standby") or diag $err;
	isnt($out, '', "$f answers on the standby");
	is($out, $primary->safe_psql('postgres', $reads{$f}), "$f: the standby answers as the primary");
}
is($standby->safe_psql('postgres', "SELECT string_agg(remaining::text, ',' ORDER BY seat_class)
	FROM ticket.remaining('G1', '$date', 'VNP', 'AOH')"), '6,16',
	'remaining on the standby counts the sale made after its backup');

# writes: TK063 at once, with a hint to connect to the primary ------------------------

my @writes = (
	"ticket.grab(9, 'G1', '$date', 'VNP', 'AOH')",
	"ticket.grab(7, 'G1', '$date', 'NKH', 'AOH', 'second', ARRAY['11010519491231002X'])",
	"ticket.confirm($held)",
	"ticket.cancel($held)",
	"ticket.refund($paid)",
	"ticket.refund_ticket($ticket)",
	"ticket.change_ticket($ticket, 'G1', '$date', 'VNP', 'AOH')",
	"ticket.enqueue(9, 'G1', '$date', 'VNP', 'AOH')",
	"ticket.serve_queue()",
	"ticket.join_waitlist(9, 'G2', '$date', 'AOH', 'HGH')",
	"ticket.leave_waitlist($waitlist)",
	"ticket.add_passenger(9, '11010519491231002X', '张三')",
	"ticket.remove_passenger(7, '110105201501010017')",
	"ticket.add_station('SHH', '上海')",
	"ticket.set_station_city('上海虹桥', '上海')",
	"ticket.add_train('G3', ARRAY['VNP', 'AOH'])",
	"ticket.add_carriage('G1', 3, 'second', 1, 'AB')",
	"ticket.add_default_layout('G1')",
	"ticket.open_sales('G1', '$date'::date + 1)",
	"ticket.open_sales('$date'::date + 1)",
	"ticket.close_sales('G1', '$date')",
	"ticket.set_setting('max_passengers', 20)",
	"ticket.set_fare('G1', 'VNP', 'AOH', 'second', 553)",
	"ticket.set_refund_rule('2 days', 0.05)",
	"ticket.expire_holds()",
	"ticket.schedule_jobs()",
	"ticket.unschedule_jobs()",);
for my $call (@writes)
{
	my ($name) = $call =~ /^ticket\.(\w+)/;
	my ($ret, $out, $err) = $standby->psql('postgres', "\\set VERBOSITY verbose\nSELECT * FROM $call");
	like($err, qr/ERROR:  TK063: this server is a standby: writes go to the primary/,
		"$call on the standby: TK063");
	like($err, qr/HINT:  .*target_session_attrs=read-write/, "$name on the standby: the hint names the primary");
}
is($standby->safe_psql('postgres', "SELECT status FROM ticket.orders WHERE order_id = $held"),
	'held', 'nothing changed on the standby');

# background processes: none of ticket's or pg_cron's on the standby, no error loop --------

sleep 3;
is($standby->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type IN ('ticket queue worker', 'pg_cron launcher')"),
	'0', 'no queue worker and no pg_cron launcher on the standby');
is($primary->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type IN ('ticket queue worker', 'pg_cron launcher')"),
	'2', 'the primary runs both');
my @errors = grep { /ERROR|FATAL/ && !/this server is a standby: writes go to the primary/ }
  split /\n/, slurp_file($standby->logfile);
is(scalar @errors, 0, 'the standby logged no error but the refused writes') or diag join "\n", @errors;

# promoted, the standby's queue worker serves the queue --------------------------------

$primary->stop('immediate');
$standby->promote;
my $worker = 0;
for (my $t = time; time - $t < 60; sleep 0.2)
{
	$worker = $standby->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'ticket queue worker'");
	last if $worker;
}
is($worker, '1', 'the queue worker starts on the promoted standby');
my $after = $standby->safe_psql('postgres',
	"SELECT request_id FROM ticket.enqueue(8, 'G1', '$date', 'VNP', 'AOH', 'second')");
cmp_ok($after, '>', $request, 'the promoted node issues a request id never issued before');
is($standby->safe_psql('postgres', "SELECT status FROM ticket.queue_wait($after, '60 s')"),
	'done', 'and serves it');
is($standby->safe_psql('postgres', "SELECT ticket.confirm($held)"), 'paid',
	'writes work on the promoted node');

done_testing();
