
# A crash in the middle of a rush.  A node as production runs it (pg_cron and
# ticket preloaded, the queue worker serving this database, the hold sweeper
# scheduled with pg_cron, synchronous_commit on) takes 18 clients at once:
# 10 grab, confirm, cancel and refund seats on two small trains, 8 enqueue
# (mostly on a big train, which must not sell out before the end) and wait
# for their answers (and pay some of them).  Every client writes down each result the
# server ACKNOWLEDGED (the statement came back, committed) to a log file.
# Mid-rush the postmaster and all its children are killed with SIGKILL; the
# server is started again, and the clients go on for a few seconds.  Then,
# from the log and with queries that do not use the extension's own logic:
#
#   - every acknowledged grab, payment, cancel and refund is there;
#   - no leg of a seat is sold twice (int4range), every seat map equals the
#     map rebuilt from the tickets, and remaining() equals a recount;
#   - no request id was handed out twice: every id acknowledged to a client,
#     before or after the crash, names that client's request only;
#   - every request accepted before the crash and not served then is
#     forgotten, and says so: TK019 from queue_status() and queue_wait()
#     (waiting requests live in shared memory: doc/queue.md, "Durability");
#   - the worker serves again (every request accepted after the restart is
#     served) and the pg_cron sweeper runs again.
#
# So that requests do wait at the moment of the kill, the worker is stopped
# (it restarts by itself five seconds later) two seconds before it: the
# queue clients go on enqueueing meanwhile.  Before 1.7 the ids of those
# requests were handed out again after the restart.
#
# (fsync is off, as in every test node: a SIGKILL loses nothing the server
# handed to the kernel, and synchronous_commit = on is what makes it write
# the WAL before it answers.)

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $sales_clients = 10;
my $queue_clients = 8;
my $rush          = 6;      # seconds of rush before the worker is stopped
my $pause         = 2;      # seconds from then to the kill
my $after         = 5;      # seconds of rush after the restart
my $date          = '2030-03-01';

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
my $host = $node->host;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'pg_cron,ticket'
ticket.queue_database = 'postgres'
cron.database_name = 'postgres'
cron.host = '$host'
synchronous_commit = on
ticket.hold_timeout = '3s'
max_connections = 60
log_min_messages = warning
log_statement = none
deadlock_timeout = 100ms
});
$node->start;

$node->safe_psql('postgres', q{
SET client_min_messages = warning;
CREATE EXTENSION pg_cron;
CREATE EXTENSION ticket CASCADE;
});
$node->safe_psql('postgres', qq{
SELECT ticket.add_station(c, 'crash ' || c) FROM unnest(ARRAY['CRA', 'CRB', 'CRC', 'CRD', 'CRE', 'CRF']) c;
SELECT ticket.add_train('G1', ARRAY['CRA', 'CRB', 'CRC', 'CRD', 'CRE', 'CRF']);
SELECT ticket.add_carriage('G1', 1, 'first', 2, 'ACDF');     --  8
SELECT ticket.add_carriage('G1', 2, 'second', 6, 'ABCDF');   -- 30
SELECT ticket.add_train('D2', ARRAY['CRB', 'CRC', 'CRD', 'CRE']);
SELECT ticket.add_carriage('D2', 1, 'second', 5, 'ABCDF');   -- 25
-- mostly for the queue, which must not sell out before the end
SELECT ticket.add_train('G3', ARRAY['CRA', 'CRB', 'CRC', 'CRD', 'CRE', 'CRF']);
SELECT ticket.add_default_layout('G3');                       -- 1,193
SELECT ticket.open_sales('$date'::date);
SELECT ticket.schedule_jobs();

-- test scaffolding: one API call, its result or its SQLSTATE as text
CREATE SCHEMA crash;
CREATE FUNCTION crash.try(q text) RETURNS text LANGUAGE plpgsql AS \$\$
DECLARE
	r text;
BEGIN
	EXECUTE q INTO r;
	RETURN 'ok|' || coalesce(r, '');
EXCEPTION WHEN OTHERS THEN
	RETURN 'err|' || SQLSTATE;
END
\$\$;
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM ticket.run'), '3', 'three runs on sale');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'ticket queue worker'"),
	'the queue worker runs');

my %stops = (G1 => [qw(CRA CRB CRC CRD CRE CRF)], D2 => [qw(CRB CRC CRD CRE)], G3 => [qw(CRA CRB CRC CRD CRE CRF)]);

# The acknowledged results, one line each: phase|client|what|key|details
my $ack_file = $node->basedir . '/acknowledged.log';
open my $acks, '>', $ack_file or die "cannot write $ack_file: $!";
$acks->autoflush(1);

# Clients --------------------------------------------------------------------
#
# Each client is a psql process fed one statement at a time: the statement,
# then an \echo marker.  A result counts as acknowledged only once psql has
# printed both: the marker comes after psql has read the server's answer to
# the end, that is after the commit.  A psql whose server died exits; the
# statement it was running is not acknowledged.

my $phase = 'before';
my $next_user = 1;
my @clients;
# orders whose refund or cancel was sent but never acknowledged (it may or may not have committed)
my %unsettled;

sub new_client
{
	my ($n, $kind) = @_;
	my $c = { n => $n, kind => $kind, in => '', out => '', err => '', busy => undef, seq => 0 };
	$c->{h} = IPC::Run::start([ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=0', '-d', $node->connstr('postgres') ],
		'<', \$c->{in}, '>', \$c->{out}, '2>', \$c->{err});
	$c->{state} = $kind eq 'sales' ? 'grab' : 'enqueue';
	return $c;
}

sub send_op
{
	my ($c, $what, $key, $details, $sql) = @_;
	my $tag = "$c->{n}.$c->{seq}";
	$c->{seq}++;
	$c->{busy} = { tag => $tag, what => $what, key => $key, details => $details };
	$sql =~ s/'/''/g;
	$c->{in} .= "SELECT '$tag|' || crash.try('$sql');\n\\echo $tag|end\n";
	return;
}

# sales on the two small trains; the queue mostly on the big one, and on those
sub random_journey
{
	my ($kind) = @_;
	my $train = $kind eq 'queue' && rand() < 0.8 ? 'G3' : rand() < 0.6 ? 'G1' : 'D2';
	my @s = @{ $stops{$train} };
	my $a = int(rand(@s - 1));
	my $b = $a + 1 + int(rand(@s - 1 - $a));
	return ($train, $s[$a], $s[$b]);
}

# the next statement of a client, from what it heard last
sub next_op
{
	my ($c) = @_;
	my $st = $c->{state};
	if ($st eq 'grab' || $st eq 'enqueue')
	{
		my ($train, $from, $to) = random_journey($c->{kind});
		my $u = $next_user++;
		my $call = $st eq 'grab' ? 'SELECT order_id::text FROM ticket.grab' : 'SELECT request_id::text FROM ticket.enqueue';
		send_op($c, $st, $u, "$train $from $to", "$call($u, '$train', '$date', '$from', '$to')");
	}
	elsif ($st eq 'wait')
	{
		send_op($c, 'wait', $c->{request}, '',
			"SELECT s.status || ' ' || coalesce(s.order_id::text, s.error_sqlstate, '-') "
			  . "FROM ticket.queue_wait($c->{request}, '300 ms') s");
	}
	else
	{
		# confirm, cancel or refund an order
		send_op($c, $st, $c->{order}, '', "SELECT ticket.$st($c->{order})");
		$unsettled{ $c->{order} } = $st if $st eq 'cancel' || $st eq 'refund';
	}
	return;
}

# what the client does after an acknowledged result
sub heard
{
	my ($c, $op, $ok, $value) = @_;
	my $what = $op->{what};
	print $acks join('|', $phase, $c->{n}, $what, $op->{key}, $op->{details}, $ok ? "ok $value" : "err $value"), "\n";
	delete $unsettled{ $op->{key} } if ($what eq 'cancel' || $what eq 'refund') && $ok;
	if ($what eq 'grab')
	{
		my $r = rand();
		$c->{order} = $value;
		$c->{state} = !$ok ? 'grab' : $r < 0.6 ? 'confirm' : $r < 0.9 ? 'cancel' : 'grab';
	}
	elsif ($what eq 'confirm')
	{
		$c->{state} = $ok && rand() < 0.4 ? 'refund' : $c->{kind} eq 'sales' ? 'grab' : 'enqueue';
	}
	elsif ($what eq 'enqueue')
	{
		$c->{request} = $value;
		$c->{state} = $ok ? 'wait' : 'enqueue';
	}
	elsif ($what eq 'wait')
	{
		my ($status, $order) = split / /, $value;
		$c->{order} = $order;
		$c->{state} = $ok && $status eq 'done' && rand() < 0.5 ? 'confirm' : 'enqueue';
	}
	else
	{
		$c->{state} = $c->{kind} eq 'sales' ? 'grab' : 'enqueue';
	}
	return;
}

sub start_clients
{
	@clients = ();
	push @clients, new_client($_, 'sales') for 1 .. $sales_clients;
	push @clients, new_client($sales_clients + $_, 'queue') for 1 .. $queue_clients;
	return;
}

# drive every client until $until (or until its psql is gone)
sub drive
{
	my ($until) = @_;
	while (time < $until)
	{
		my $alive = 0;
		for my $c (@clients)
		{
			next if $c->{dead};
			$alive++;
			next_op($c) unless $c->{busy};
			my $pumped = eval { $c->{h}->pump_nb; 1 };
			while ($c->{busy} && $c->{out} =~ s/^([^\n]*)\n//)
			{
				my $line = $1;
				my $tag  = $c->{busy}{tag};
				if ($line =~ /^\Q$tag\E\|(ok|err)\|(.*)$/)
				{
					$c->{busy}{result} = [ $1 eq 'ok', $2 ];
				}
				elsif ($line eq "$tag|end" && $c->{busy}{result})
				{
					my $op = $c->{busy};
					$c->{busy} = undef;
					heard($c, $op, @{ $op->{result} });
				}
			}
			$c->{dead} = 1 unless $pumped && $c->{h}->pumpable;
		}
		last unless $alive;
		sleep 0.002;
	}
	return;
}

sub stop_clients
{
	for my $c (@clients)
	{
		$c->{in} .= "\\q\n";
		eval { $c->{h}->finish; 1 } or eval { $c->{h}->kill_kill; 1 };
	}
	return;
}

# The rush, the worker stopped, the kill -------------------------------------

start_clients();
drive(time + $rush);
is( $node->safe_psql('postgres',
		"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE backend_type = 'ticket queue worker'"),
	'1', 'the worker is stopped for a moment (it comes back five seconds later)');
drive(time + $pause);

# Freeze the postmaster so that it starts no one new, then kill it and every
# process it started, at once.
my $postmaster = $node->{_pid};
kill 'STOP', $postmaster;
sub parent_of
{
	my ($pid) = @_;
	open(my $f, '<', "/proc/$pid/stat") or return 0;
	my $stat = <$f> // '';
	return $stat =~ /\) \S+ (\d+) / ? $1 : 0;
}
my @children = grep { parent_of($_) == $postmaster } map { m{/proc/(\d+)$} ? $1 : () } glob('/proc/[0-9]*');
note 'killing the postmaster and ' . scalar(@children) . ' processes it started';
kill 'KILL', $postmaster, @children;
$node->{_pid} = undef;
my $in_flight = grep { $_->{busy} } @clients;
# the clients see their server gone (what they read meanwhile was answered before the kill)
drive(time + 2);
is(scalar(grep { !$_->{dead} } @clients), 0, "every client lost its server ($in_flight statements were in flight)");
stop_clients();
$phase = 'after';

# Start again, once the killed processes are gone (zombies have let go of
# the shared memory too).
sub gone
{
	my ($pid) = @_;
	open(my $f, '<', "/proc/$pid/stat") or return 1;
	return (<$f> // '') =~ /\) Z /;
}
for (1 .. 100)
{
	last unless grep { !gone($_) } $postmaster, @children;
	sleep 0.1;
}
my $restarted;
for (1 .. 10)
{
	$restarted = $node->start(fail_ok => 1) and last;
	$node->{_pid} = undef;    # (a failed start read the dead postmaster's pid file)
	sleep 1;
}
ok($restarted, 'the server starts again after the crash');
my $restart_time = $node->safe_psql('postgres', 'SELECT now()');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'ticket queue worker'"),
	'the queue worker runs again');

start_clients();
drive(time + $after);
stop_clients();
close $acks;

# What was acknowledged --------------------------------------------------------

# (%status_of: what the last acknowledged confirm, cancel or refund of an order said it is now)
my (%grabbed, %status_of, %enqueued, %served_then);
my %acked = (before => 0, after => 0);
open my $log, '<', $ack_file or die;
while (my $line = <$log>)
{
	chomp $line;
	my ($when, $client, $what, $key, $details, $result) = split /\|/, $line, 6;
	$acked{$when}++;
	my ($ok, $value) = split / /, $result, 2;
	next unless $ok eq 'ok';
	if ($what eq 'grab') { $grabbed{$value} = $key }
	elsif ($what eq 'confirm' || $what eq 'cancel' || $what eq 'refund') { $status_of{$key} = $value }
	elsif ($what eq 'enqueue')
	{
		push @{ $enqueued{$value} }, { when => $when, user => $key, journey => $details };
	}
	elsif ($what eq 'wait')
	{
		my ($status, $order) = split / /, $value;
		$served_then{$key} = "$status $order" if $status ne 'waiting';
	}
}
close $log;
note "acknowledged: $acked{before} results before the crash, $acked{after} after";
cmp_ok($acked{before}, '>', 200, 'the rush before the crash was acknowledged hundreds of results');
my %count;
$count{$_}++ for values %status_of;
note join(', ', map { "$count{$_} $_" } sort keys %count) . ' orders acknowledged (as last heard)';
cmp_ok($count{paid} // 0, '>', 20, 'payments were acknowledged');
cmp_ok(($count{refunded} // 0) + ($count{cancelled} // 0), '>', 10, 'refunds and cancels were acknowledged');

sub sql { return $node->safe_psql('postgres', $_[0]) }

# a table of the acknowledged orders and what they must be now
sub values_list
{
	my ($h) = @_;
	return join(',', map { "($_)" } sort { $a <=> $b } keys %$h) || '(NULL)';
}
my @wrong;
for my $row (split /\n/, sql(
		'SELECT o.order_id, o.status, (SELECT string_agg(DISTINCT t.status, \',\') FROM ticket.tickets t '
		  . 'WHERE t.order_id = o.order_id) FROM ticket.orders o WHERE o.order_id IN (SELECT * FROM (VALUES '
		  . values_list(\%status_of) . ') v)'))
{
	my ($order, $status, $tickets) = split /\|/, $row;
	my $want = $status_of{$order};
	# a refund or cancel in flight at the kill may or may not have committed
	my $also = $unsettled{$order} ? { cancel => 'cancelled', refund => 'refunded' }->{ $unsettled{$order} } : '';
	push @wrong, "$order: $status/$tickets, acknowledged $want"
	  unless ($status eq $want || $status eq $also) && $tickets eq $status;
	delete $status_of{$order};
}
push @wrong, map { "$_: missing" } keys %status_of;
is(join('; ', @wrong), '', 'every acknowledged payment, refund and cancel is intact (orders and tickets)');
is( sql('SELECT count(*) FROM (VALUES ' . values_list(\%grabbed) . ') v(order_id) '
		  . 'WHERE NOT EXISTS (SELECT 1 FROM ticket.orders o WHERE o.order_id = v.order_id)'),
	'0', scalar(keys %grabbed) . ' acknowledged grabs, every order there');

# The seats, by the test's own queries -------------------------------------------

is( sql(q{
SELECT count(*) FROM ticket.tickets a JOIN ticket.tickets b
  ON a.run_id = b.run_id AND a.seat_id = b.seat_id AND a.ticket_id < b.ticket_id
 AND int4range(ticket.lower(a.legs), ticket.upper(a.legs)) && int4range(ticket.lower(b.legs), ticket.upper(b.legs))
WHERE a.status IN ('held', 'paid') AND b.status IN ('held', 'paid')}),
	'0', 'no two live tickets share a leg of a seat (int4range)');
# (the carriages locked first: the sweeper cannot change a map between the copy and the rebuild)
is( sql(q{
BEGIN;
SELECT count(*) FROM (SELECT 1 FROM ticket.run_carriage ORDER BY run_id, carriage_no FOR UPDATE) x \\g /dev/null
CREATE TEMP TABLE maps_now AS SELECT rc.run_id, rc.carriage_no, rc.map FROM ticket.run_carriage rc;
SELECT count(ticket.rebuild_seat_map(run_id, carriage_no)) FROM maps_now \\g /dev/null
SELECT count(*) FILTER (WHERE rc.map <> m.map) || '|' || count(*)
FROM ticket.run_carriage rc JOIN maps_now m USING (run_id, carriage_no);
ROLLBACK}),
	'0|19', 'every seat map equals the one rebuilt from the live tickets');
is( sql(q{
WITH pairs AS (
	SELECT r.run_id, t.code, r.service_date, a.stop_no AS a, b.stop_no AS b, sa.code AS f, sb.code AS t
	FROM ticket.run r JOIN ticket.train t USING (train_id)
	JOIN ticket.stop a ON a.train_id = t.train_id JOIN ticket.stop b ON b.train_id = t.train_id AND b.stop_no > a.stop_no
	JOIN ticket.station sa ON sa.station_id = a.station_id JOIN ticket.station sb ON sb.station_id = b.station_id),
api AS (
	SELECT p.run_id, p.a, p.b, x.seat_class, x.remaining
	FROM pairs p, LATERAL ticket.remaining(p.code, p.service_date, p.f, p.t) x),
recount AS (
	SELECT p.run_id, p.a, p.b, s.seat_class::text AS seat_class, count(*) FILTER (WHERE NOT EXISTS (
		SELECT 1 FROM ticket.tickets k WHERE k.run_id = p.run_id AND k.seat_id = s.seat_id
		  AND int4range(ticket.lower(k.legs), ticket.upper(k.legs)) && int4range(p.a, p.b)
		  AND (k.status = 'paid' OR (k.status = 'held' AND k.hold_until > now()))))::int AS remaining
	FROM pairs p JOIN ticket.run r USING (run_id) JOIN ticket.seat s ON s.train_id = r.train_id
	GROUP BY 1, 2, 3, 4)
SELECT count(*) || ' journeys, ' || count(*) FILTER (WHERE api.remaining IS DISTINCT FROM recount.remaining) || ' differ'
FROM recount FULL JOIN api USING (run_id, a, b, seat_class)}),
	'81 journeys, 0 differ', 'remaining() equals a recount from the tickets, for every journey and class');

# Request ids ---------------------------------------------------------------------

# every id acknowledged to a client names that client's request only
my @twice = grep { @{ $enqueued{$_} } > 1 } keys %enqueued;
is(join(', ', map { "$_: " . join(' / ', map { "$_->{when} user $_->{user}" } @{ $enqueued{$_} }) } sort @twice),
	'', 'no request id was acknowledged to two requests');
my @before = grep { $enqueued{$_}[0]{when} eq 'before' } keys %enqueued;
my @after  = grep { $enqueued{$_}[0]{when} eq 'after' } keys %enqueued;
cmp_ok(scalar(@after), '>', 50, scalar(@after) . ' requests accepted after the restart');

# what the tables say of each acknowledged request
my %row;
for (split /\n/, sql('SELECT q.request_id, q.user_id, q.status, q.served_at < ' . "'$restart_time'"
	  . ' FROM ticket.queue_request q WHERE q.request_id IN (SELECT * FROM (VALUES '
	  . values_list(\%enqueued) . ') v)'))
{
	my ($id, $user, $status, $before_crash) = split /\|/;
	$row{$id} = { user => $user, status => $status, before_crash => $before_crash };
}
my @not_theirs = grep { $row{$_} && $row{$_}{user} != $enqueued{$_}[0]{user} } keys %enqueued;
is(join(', ', sort @not_theirs), '', "every acknowledged request id's row is the request of the user it was acknowledged to");
my @served_late = grep { $row{$_} && $row{$_}{before_crash} ne 't' } @before;
is(join(', ', sort @served_late), '', 'no request accepted before the crash was served after it');

# accepted before the crash and not served then: forgotten, and it says so
my @lost = grep { !$row{$_} } @before;
note scalar(@before) . ' requests accepted before the crash, ' . scalar(@lost) . ' of them not served then';
cmp_ok(scalar(@lost), '>', 0, 'requests were waiting at the kill');
is( sql(q{
SELECT string_agg(format('%s: %s, %s', id, s, w), '; ' ORDER BY id) FROM (
	SELECT id, crash.try(format('SELECT status FROM ticket.queue_status(%s)', id)) AS s,
	           crash.try(format('SELECT status FROM ticket.queue_wait(%s, ''100 ms'')', id)) AS w
	FROM (VALUES } . values_list({ map { ($_ => 1) } @lost }) . q{) v(id)) x
WHERE s <> 'err|TK019' OR w <> 'err|TK019'}),
	'', 'every request lost in the crash answers TK019, from queue_status() and queue_wait()');

# The worker and the sweeper are back ----------------------------------------------

ok($node->poll_query_until('postgres', 'SELECT coalesce(sum(waiting), 0) = 0 FROM ticket.waiting_requests()'),
	'the worker served every request accepted after the restart');
my @unserved_after = grep { !$row{$_} } @after;
# (served after the look above: look again)
%row = ();
for (split /\n/, sql('SELECT q.request_id, q.user_id FROM ticket.queue_request q WHERE q.request_id IN (SELECT * FROM (VALUES '
	  . values_list({ map { ($_ => 1) } @after }) . ') v)'))
{
	my ($id, $user) = split /\|/;
	$row{$id} = $user;
}
is(join(', ', grep { !defined $row{$_} || $row{$_} != $enqueued{$_}[0]{user} } sort @after),
	'', 'every request accepted after the restart was served, as its own user\'s');
cmp_ok(scalar(grep { $enqueued{$_}[0]{when} eq 'after' } keys %served_then), '>', 0,
	'clients heard answers from the worker after the restart');

# pg_cron 1.4 runs a job at most once a minute
ok( $node->poll_query_until('postgres', qq{
SELECT count(*) > 0 FROM cron.job_run_details d JOIN cron.job j USING (jobid)
WHERE j.jobname = 'ticket-expire-holds' AND d.status = 'succeeded' AND d.start_time > '$restart_time'}),
	'the pg_cron hold sweeper ran again after the restart');

$node->stop;
done_testing();
