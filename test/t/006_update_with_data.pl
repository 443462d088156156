
# An update with data in it, as production does it: a server preloading
# pg_cron and ticket, the extension created at 1.6 and loaded through the
# 1.6 API (timetable, fares, settings, passengers, orders held, paid,
# cancelled, refunded, expired, a partial refund, a change, the queue, the
# waitlist, the sweeper's pg_cron job), then ALTER EXTENSION ticket UPDATE.
# Everything a user can see (every table of schema ticket row by row, the
# sequences, remaining seats of every run, search, the queue's and the
# waitlist's answers) must be the same after the update; the seat maps must
# still equal the tickets, no seat leg and no person may be taken twice, and
# sales must go on: to a sell-out, payments, cancels, refunds, a refund that
# hands its seat to the waitlist, the queue (requests left waiting in shared
# memory across the update included).  Last, the pg_regress files that do
# not recreate the extension run against another database created at 1.6 and
# updated.
#
# The queue worker is off (ticket.queue_database = ''): the test serves the
# queue itself with ticket.serve_queue(), so every answer is deterministic.
# The library is preloaded all the same, so queued requests wait in shared
# memory as in production.

use strict;
use warnings;

use Cwd qw(abs_path);
use FindBin;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $root = abs_path("$FindBin::Bin/../..");
my $db   = 'tickets';
my $D    = '2099-05-01';    # service date: far ahead, so no rule of time moves during the test
my $D1   = '2099-05-02';

my $node = PostgreSQL::Test::Cluster->new('update');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
my $socket = $node->host;
# production's preload (README); pg_cron's jobs connect through the socket;
# no queue worker
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'pg_cron,ticket'
cron.database_name = '$db'
cron.host = '$socket'
ticket.queue_database = ''
max_connections = 40
fsync = off
log_statement = none
log_min_messages = warning
});
$node->start;
$node->safe_psql('postgres', "CREATE DATABASE $db");

sub sql { return $node->safe_psql($db, @_); }

# the SQLSTATE a statement fails with, or 'ok'
sub sqlstate_of
{
	my ($statement) = @_;
	my ($rc, $out, $err) = $node->psql($db, "\\set VERBOSITY verbose\n$statement");
	return 'ok' if $rc == 0;
	return $err =~ /ERROR:\s+([0-9A-Z]{5}):/ ? $1 : "unexpected: $err";
}

# 1. The extension at 1.6, and a realistic load through its API -------------

sql(q{
SET client_min_messages = warning;
CREATE EXTENSION ticket VERSION '1.6' CASCADE;
CREATE EXTENSION pg_cron;
});
is(sql(q{SELECT extversion FROM pg_extension WHERE extname = 'ticket'}), '1.6', 'created at version 1.6');

# the timetable, fares, settings and the sweeper, as the administrator
sql(qq{
SET ROLE ticket_admin;
SELECT ticket.add_station('VNP', '北京南', 'beijingnan'), ticket.add_station('TJP', '天津', 'tianjin'),
       ticket.add_station('JGK', '济南西'), ticket.add_station('NKH', '南京南', 'nanjingnan'),
       ticket.add_station('KNH', '昆山南'), ticket.add_station('AOH', '上海虹桥', 'shanghaihongqiao'),
       ticket.add_station('SHH', '上海', 'shanghai');
SELECT ticket.set_station_city('AOH', '上海');
SELECT ticket.add_train('G1', ARRAY['VNP', 'JGK', 'NKH', 'AOH'],
	ARRAY[NULL, '10:22', '12:24', '13:28']::interval[], ARRAY['09:00', '10:24', '12:26', NULL]::interval[]);
SELECT ticket.add_carriage('G1', 1, 'first', 2, 'ACDF'), ticket.add_carriage('G1', 2, 'second', 3, 'ABCDF');
SELECT ticket.add_train('G3', ARRAY['北京南', '南京南', '上海虹桥'],
	ARRAY[NULL, '13:20', '14:30']::interval[], ARRAY['10:00', '13:22', NULL]::interval[]);
SELECT ticket.add_default_layout('G3');
SELECT ticket.add_train('D5', ARRAY['NKH', 'KNH', 'SHH'],
	ARRAY[NULL, '14:31', '14:55']::interval[], ARRAY['13:10', '14:33', NULL]::interval[]);
SELECT ticket.add_default_layout('D5');
SELECT ticket.add_train('K9', ARRAY['VNP', 'TJP', 'JGK', 'NKH'],
	ARRAY[NULL, '22:10', '25:30', '29:05']::interval[], ARRAY['21:00', '22:14', '25:36', NULL]::interval[]);
SELECT ticket.add_default_layout('K9');
SELECT ticket.add_train('T1', ARRAY['VNP', 'TJP']);
SELECT ticket.add_carriage('T1', 1, 'hard_seat', 2, 'ABCDF');
SELECT ticket.open_sales('G1', '$D'), ticket.open_sales('G1', '$D1'), ticket.open_sales('G3', '$D'),
       ticket.open_sales('G3', '$D1'), ticket.open_sales('D5', '$D'), ticket.open_sales('K9', '$D'),
       ticket.open_sales('T1', '$D');
SELECT ticket.close_sales('G3', '$D1');
SELECT ticket.set_setting('max_passengers', 10), ticket.set_setting('max_orders_per_day', 30);
SELECT ticket.set_fare('G1', 'VNP', 'AOH', 'second', 553), ticket.set_fare('G1', 'VNP', 'AOH', 'first', 933);
SELECT ticket.set_refund_rule('0 s', 0.2), ticket.set_refund_rule('8 days', 0.05);
RESET ROLE;
SELECT ticket.schedule_jobs();
});

# passengers, orders with passengers, a partial refund, a change (the app)
sql(qq{
SET ROLE ticket_app;
SELECT ticket.add_passenger(1, '11010519491231002X', '张三'), ticket.add_passenger(1, '110101201003151233', '李四', 'child'),
       ticket.add_passenger(1, '440304199001011233', '王五', 'student'),
       ticket.add_passenger(1, 'E12345678', 'John Smith', 'adult', 'passport');
SELECT ticket.add_passenger(2, '310101198506152345', '赵六'), ticket.add_passenger(2, '510104200010103458', '钱七'),
       ticket.add_passenger(2, 'P1234567', 'Temp', 'adult', 'passport');
SELECT ticket.remove_passenger(2, 'P1234567', 'passport');
SELECT ticket.add_passenger(3, '420103199505057779', '孙八'), ticket.add_passenger(3, '320102199202026668', '周九');
SELECT ticket.add_passenger(4, '110101198001015559', '吴十'), ticket.add_passenger(4, 'E7654321', 'Jane Roe', 'adult', 'passport');
SELECT ticket.add_passenger(5, 'G12345678', 'Li Lei', 'adult', 'passport'),
       ticket.add_passenger(5, 'G87654321', 'Han Meimei', 'student', 'passport');
SELECT count(*) FROM ticket.grab(1, 'G3', '$D', 'VNP', 'AOH', 'second',
	ARRAY['11010519491231002X', '110101201003151233', '440304199001011233']);
SELECT ticket.confirm(order_id) FROM ticket.orders WHERE user_id = 1;
SELECT count(*) FROM ticket.refund_ticket((SELECT t.ticket_id FROM ticket.tickets t
	WHERE t.document_key = 'id_card:440304199001011233'));
SELECT count(*) FROM ticket.grab(3, 'G3', '$D', 'VNP', 'AOH', 'second', ARRAY['420103199505057779', '320102199202026668'], 'AF');
SELECT ticket.confirm(order_id) FROM ticket.orders WHERE user_id = 3;
SELECT count(*) FROM ticket.change_ticket((SELECT t.ticket_id FROM ticket.tickets t
	WHERE t.document_key = 'id_card:420103199505057779'), 'G1', '$D1', 'VNP', 'AOH', 'second');
SELECT count(*) FROM ticket.grab(4, 'G1', '$D', 'VNP', 'NKH', 'first', ARRAY['110101198001015559', 'E7654321']);
SELECT count(*) FROM ticket.grab(2, 'K9', '$D', 'VNP', 'NKH', 'hard_sleeper', ARRAY['310101198506152345']);
SELECT ticket.confirm(order_id) FROM ticket.orders WHERE user_id = 2;
SELECT ticket.refund(order_id) FROM ticket.orders WHERE user_id = 2;
SELECT count(*) FROM ticket.grab(2, 'D5', '$D', 'NKH', 'SHH', 'second', ARRAY['510104200010103458']);
SELECT ticket.cancel(order_id) FROM ticket.orders WHERE user_id = 2 AND status = 'held';
SELECT count(*) FROM ticket.grab(5, 'T1', '$D', 'VNP', 'TJP', 'hard_seat', ARRAY['G12345678']);
SELECT ticket.confirm(order_id) FROM ticket.orders WHERE user_id = 5;
});
is(sqlstate_of(qq{SELECT * FROM ticket.grab(5, 'G1', '$D', 'VNP', 'JGK', 'second', ARRAY['G12345678'])}),
	'TK043', '1.6: Li Lei, on the untimed T1 all day, cannot also take G1 (TK043)');

# single-seat grabs: G1 on D sold out from Beijing to Shanghai and paid; G3
# grabs paid, cancelled, refunded and held
my $g1_left = sql(qq{SELECT sum(remaining) FROM ticket.remaining('G1', '$D', 'VNP', 'AOH')});
is($g1_left, '21', 'G1 on D: 21 seats left for the whole route (2 first seats held by a group to NKH)');
sql(qq{
SET ROLE ticket_app;
SELECT count(*) FROM generate_series(101, 100 + $g1_left) u, LATERAL ticket.grab(u, 'G1', '$D', 'VNP', 'AOH', NULL, 'r-' || u) g;
SELECT count(ticket.confirm(order_id)) FROM ticket.orders WHERE user_id BETWEEN 101 AND 199;
SELECT count(*) FROM generate_series(301, 318) u,
LATERAL (SELECT (ARRAY['VNP', 'NKH'])[1 + u % 2] AS f, CASE WHEN u % 2 = 0 AND u % 3 = 0 THEN 'NKH' ELSE 'AOH' END AS t) j,
LATERAL ticket.grab(u, 'G3', '$D', j.f, j.t, CASE WHEN u % 5 = 0 THEN 'first' WHEN u % 7 = 0 THEN 'business' END, 'g3-' || u) g;
SELECT count(ticket.confirm(order_id)) FROM ticket.orders WHERE user_id BETWEEN 301 AND 399 AND user_id % 3 <> 0;
SELECT count(ticket.cancel(order_id)) FROM ticket.orders WHERE user_id BETWEEN 301 AND 399 AND status = 'held' AND user_id % 2 = 0;
SELECT count(ticket.refund(order_id)) FROM ticket.orders WHERE user_id BETWEEN 301 AND 399 AND status = 'paid' AND user_id % 4 = 1;
});
is(sqlstate_of(qq{SELECT * FROM ticket.grab(199, 'G1', '$D', 'VNP', 'AOH')}), 'TK001', '1.6: G1 on D is sold out (TK001)');

# the waitlist of the sold-out journey: one seat, one class, with a
# passenger, with a deadline, one left; a refund hands a seat to the first
sql(qq{
SET ROLE ticket_app;
SELECT ticket.join_waitlist(201, 'G1', '$D', 'VNP', 'AOH');
SELECT ticket.join_waitlist(202, 'G1', '$D', 'JGK', 'AOH', ARRAY['second']);
SELECT ticket.join_waitlist(1, 'G1', '$D', 'VNP', 'AOH', ARRAY['second'], NULL, ARRAY['E12345678']);
SELECT ticket.join_waitlist(203, 'G1', '$D', 'NKH', 'AOH', ARRAY['second'], '2099-04-30 12:00+08');
SELECT ticket.join_waitlist(204, 'G1', '$D', 'VNP', 'NKH');
SELECT ticket.leave_waitlist(waitlist_id) FROM ticket.waitlist WHERE user_id = 204;
SELECT ticket.refund(order_id) FROM ticket.orders WHERE user_id = 101;
});
is(sql(q{SELECT string_agg(user_id || ':' || status, ' ' ORDER BY waitlist_id) FROM ticket.waitlist}),
	'201:fulfilled 202:waiting 1:waiting 203:waiting 204:cancelled',
	'1.6: the refunded seat went to the first of the waitlist');

# holds that expire, swept (so the pg_cron job finds nothing to do later)
sql(qq{
SET ticket.hold_timeout = '1s';
SELECT count(*) FROM ticket.grab(401, 'G3', '$D', 'VNP', 'NKH');
SELECT count(*) FROM ticket.grab(402, 'D5', '$D', 'NKH', 'SHH');
});
usleep(1_200_000);
is(sql('SELECT ticket.expire_holds()'), '2', '1.6: two holds expired');

# the queue: requests served (one fails: its user grabbed meanwhile), two
# left waiting in shared memory across the update
my @requests;
sub enqueue
{
	my ($user, $train, $from, $to, $class) = @_;
	$class = defined $class ? "'$class'" : 'NULL';
	my $id = sql(qq{SET ROLE ticket_app;
SELECT (ticket.enqueue($user, '$train', '$D', '$from', '$to', $class, 'q-$user')).request_id});
	push @requests, $id;
	return $id;
}
enqueue(500 + $_, 'G3', ($_ % 2 ? 'VNP' : 'NKH'), 'AOH', ($_ == 3 ? 'first' : undef)) for 1 .. 6;
enqueue(507, 'G3', 'VNP', 'NKH');
sql(qq{SET ROLE ticket_app; SELECT count(*) FROM ticket.grab(507, 'G3', '$D', 'VNP', 'AOH')});
enqueue(508, 'D5', 'NKH', 'KNH');
is(sql('SELECT ticket.serve_queue()'), '8', '1.6: the queue served 8 requests');
sql(q{SELECT count(ticket.confirm(order_id)) FROM ticket.queue_request WHERE status = 'done' AND user_id % 2 = 1});
my @left_waiting = (enqueue(509, 'G3', 'VNP', 'AOH', 'second'), enqueue(510, 'G3', 'NKH', 'AOH'));
is(sql(q{SELECT string_agg(user_id || ':' || status || coalesce(':' || error_sqlstate, ''), ' ' ORDER BY queue_position)
	FROM ticket.queue_request}),
	'501:done 502:done 503:done 504:done 505:done 506:done 507:failed:TK002 508:done',
	'1.6: served in order; the user who grabbed meanwhile failed with TK002');
is(sql(q{SELECT string_agg(waiting::text, ' ') FROM ticket.waiting_requests()}), '2',
	'1.6: two requests wait in shared memory');

# a pooled connection, open across the update
my $pooled = $node->background_psql($db);
$pooled->query_safe(qq{SELECT count(*) FROM ticket.grab(601, 'G3', '$D', 'NKH', 'AOH')});

# 2. What a user can see ----------------------------------------------------

my @tables = split /\n/, sql(q{
SELECT c.oid::regclass FROM pg_class c
WHERE c.relnamespace = 'ticket'::regnamespace AND c.relkind IN ('r', 'p') ORDER BY c.relname});
cmp_ok(scalar(@tables), '>=', 17, 'schema ticket has its tables (' . scalar(@tables) . ')');
# The columns each table has before the update: the snapshot shows those.
# Columns an update adds (1.7: the client of an order, a queued request's
# passengers) are checked apart: empty on every row written before it.
sub columns_of
{
	my ($t) = @_;
	return sql(qq{
SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) FROM pg_attribute a
WHERE a.attrelid = '$t'::regclass AND a.attnum > 0 AND NOT a.attisdropped});
}
my %columns = map { $_ => columns_of($_) } @tables;

# Tables a later version adds, checked empty after the update below (a
# new table shows nothing until an administrator uses what it is for):
# 1.7's hot_run, the runs marked hot.
my @added_tables = ('hot_run');

# (one psql for all of it: each value follows a line "@@name")
# What 1.7 adds for partitions behind ticket_proxy (src/sql/09_partition.sql)
# is new and empty after the update: checked apart, below.
my $new_in_17 = q{('partition_state', 'person_trip', 'partition_timetable_version_seq', 'person_trip_trip_id_seq')};

sub snapshot
{
	my @q;
	push @q, ['table list', qq{
SELECT string_agg(c.relname, ' ' ORDER BY c.relname) FROM pg_class c
WHERE c.relnamespace = 'ticket'::regnamespace AND c.relkind IN ('r', 'p')
  AND c.relname <> ALL (ARRAY['} . join(q{', '}, @added_tables) . qq{'])
  AND c.relname NOT IN $new_in_17}];
	for my $t (@tables)
	{
		push @q, [ $t, "SELECT count(*) || E' rows\\n' || coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') "
			  . "FROM (SELECT $columns{$t} FROM $t) t" ];
	}
	push @q, ['read by ticket_app', 'SET ROLE ticket_app; SELECT '
		  . join(" || ' ' || ", map { "(SELECT count(*) FROM $_)" } @tables)];
	push @q, ['sequences', qq{
SELECT string_agg(sequencename || '=' || coalesce(last_value::text, 'unused'), E'\\n' ORDER BY sequencename)
FROM pg_sequences WHERE schemaname = 'ticket' AND sequencename NOT IN $new_in_17}];
	push @q, ['remaining_matrix of every run', q{
SELECT string_agg(concat_ws(' ', t.code, r.service_date, m.from_station, m.to_station, m.seat_class, m.remaining),
                  E'\n' ORDER BY t.code, r.service_date, m.n)
FROM ticket.run r JOIN ticket.train t USING (train_id),
LATERAL ticket.remaining_matrix(t.code, r.service_date) WITH ORDINALITY m(from_station, to_station, seat_class, remaining, n)}];
	push @q, ['remaining of whole routes', q{
SELECT string_agg(concat_ws(' ', t.code, r.service_date, x.seat_class, x.remaining), E'\n' ORDER BY t.code, r.service_date, x.seat_class)
FROM ticket.run r JOIN ticket.train t USING (train_id)
JOIN ticket.stop a ON a.train_id = t.train_id AND a.stop_no = 0
JOIN ticket.stop b ON b.train_id = t.train_id AND b.stop_no = t.n_stops - 1
JOIN ticket.station fa ON fa.station_id = a.station_id JOIN ticket.station fb ON fb.station_id = b.station_id,
LATERAL ticket.remaining(t.code, r.service_date, fa.name, fb.code) x}];
	push @q, ['search', qq{
SELECT string_agg(s::text, E'\\n' ORDER BY q.n, s.departure, s.train)
FROM (VALUES (1, '北京南', '上海虹桥'), (2, 'VNP', 'NKH'), (3, '南京南', '上海'), (4, 'VNP', 'TJP')) q(n, f, t),
LATERAL ticket.search(q.f, q.t, '$D') s}];
	push @q, ['search_transfers', qq{
SELECT string_agg(s::text, E'\\n' ORDER BY q.n, s.ordinality)
FROM (VALUES (1, '北京南', '上海'), (2, '天津', '昆山南'), (3, 'JGK', 'SHH')) q(n, f, t),
LATERAL ticket.search_transfers(q.f, q.t, '$D') WITH ORDINALITY s}];
	push @q, ['queue_status',
		'SELECT string_agg(r || \': \' || s::text, E\'\\n\' ORDER BY r) FROM unnest(ARRAY['
		  . join(',', @requests) . ']) r, LATERAL ticket.queue_status(r) s'];
	push @q, ['waiting_requests', 'SELECT string_agg(w::text, E\'\\n\' ORDER BY w::text) FROM ticket.waiting_requests() w'];
	push @q, ['waitlist_status', q{
SELECT string_agg(w.waitlist_id || ': ' || s::text, E'\n' ORDER BY w.waitlist_id)
FROM ticket.waitlist w, LATERAL ticket.waitlist_status(w.waitlist_id) s}];
	push @q, ['order_tickets', q{
SELECT string_agg(o.order_id || ': ' || x::text, E'\n' ORDER BY o.order_id, x.ticket_id)
FROM ticket.orders o, LATERAL ticket.order_tickets(o.order_id) x
WHERE EXISTS (SELECT 1 FROM ticket.tickets t WHERE t.order_id = o.order_id AND t.passenger_id IS NOT NULL)}];
	push @q, ['fares, settings, refund fees', q{
SELECT concat_ws(' ', ticket.fare('G1', 'VNP', 'AOH', 'second'), ticket.fare('G1', 'VNP', 'AOH', 'first', 'child'),
       ticket.fare('G3', 'VNP', 'AOH', 'second', 'student'), ticket.fare('K9', 'TJP', 'NKH', 'hard_sleeper'),
       ticket.fare('T1', 'VNP', 'TJP', 'hard_seat', 'disabled_soldier'),
       ticket.setting('max_passengers'), ticket.setting('max_orders_per_day'), ticket.setting('max_cancels_per_day'),
       ticket.setting('refund_min_fee'), ticket.refund_fee(553, '1 hour'), ticket.refund_fee(553, '9 days'),
       ticket.refund_fee(553, '-1 hour'))}];
	push @q, ['the sweeper in pg_cron', q{
SELECT string_agg(concat_ws(' ', jobname, schedule, command, database, active), E'\n' ORDER BY jobname) FROM cron.job}];
	my $out = sql(join "\n", map { "SELECT '\@\@$_->[0]';\n$_->[1];\nRESET ROLE;" } @q);
	my (undef, %s) = split /^\@\@(.*)\n/m, "$out\n";
	chomp for values %s;
	return \%s;
}

# one check per key; on a difference, the lines only before and only after
sub same_snapshot
{
	my ($got, $want, $label) = @_;
	for my $k (sort keys %$want)
	{
		my $g = $got->{$k} // '(missing)';
		next if ok($g eq $want->{$k}, "$label: $k");
		my %b = map { $_ => 1 } split /\n/, $want->{$k};
		my %a = map { $_ => 1 } split /\n/, $g;
		my @gone = grep { !$a{$_} } split /\n/, $want->{$k};
		my @new  = grep { !$b{$_} } split /\n/, $g;
		diag("before only: $_") for @gone[ 0 .. ($#gone < 9 ? $#gone : 9) ];
		diag("after only:  $_") for @new[ 0 .. ($#new < 9 ? $#new : 9) ];
	}
	is(join(' ', sort keys %$got), join(' ', sort keys %$want), "$label: the same things to see");
}

my $before = snapshot();
like($before->{'ticket.orders'},  qr/^\d{2,} rows/, 'orders to compare');
like($before->{'ticket.tickets'}, qr/^\d{2,} rows/, 'tickets to compare');
like($before->{queue_status}, qr/waiting/, 'queued requests still waiting to compare');
like($before->{'the sweeper in pg_cron'}, qr/^ticket-expire-holds \* \* \* \* \* SELECT ticket.expire_holds\(\) $db t$/,
	'the sweeper is scheduled in pg_cron');
note 'orders: ' . sql(q{SELECT string_agg(status || '=' || n, ' ' ORDER BY status) FROM
	(SELECT status, count(*) n FROM ticket.orders GROUP BY 1) s});
note 'tickets: ' . sql(q{SELECT string_agg(status || '=' || n, ' ' ORDER BY status) FROM
	(SELECT status, count(*) n FROM ticket.tickets GROUP BY 1) s});

# 3. The update ---------------------------------------------------------------

sql('ALTER EXTENSION ticket UPDATE');
my $default_version = sql(q{SELECT default_version FROM pg_available_extensions WHERE name = 'ticket'});
isnt($default_version, '1.6', "the control file's default version is a later one ($default_version)");
is(sql(q{SELECT extversion FROM pg_extension WHERE extname = 'ticket'}), $default_version,
	"updated to the default version $default_version");

same_snapshot(snapshot(), $before, 'unchanged by the update');
is(sql("SELECT count(*) FROM ticket.$_"), '0', "the table the update adds, ticket.$_, is there, empty") for @added_tables;
for my $t (@tables)
{
	my %old = map { $_ => 1 } split /, /, $columns{$t};
	my @added = grep { !$old{$_} } split /, /, columns_of($t);
	next unless @added;
	is(sql("SELECT count(*) FROM $t WHERE num_nonnulls(" . join(', ', @added) . ") > 0"), '0',
		"columns the update added to $t (@added) are empty on the rows it kept");
}
is(sql(q{SELECT (SELECT count(*) FROM ticket.partition_state) + (SELECT count(*) FROM ticket.person_trip)
	|| ' ' || (SELECT count(*) FROM pg_sequences WHERE schemaname = 'ticket' AND last_value IS NULL
	           AND sequencename IN ('partition_timetable_version_seq', 'person_trip_trip_id_seq'))}),
	'0 2', 'the update adds the partition tables and sequences of 1.7, empty');

# 4. The checks, on the updated database --------------------------------------

# the data checked by the test's own queries (and the maps against the
# extension's repair function)
sub invariants
{
	my ($when) = @_;
	my $carriages = sql('SELECT count(*) FROM ticket.run r JOIN ticket.carriage c USING (train_id)');
	is($carriages, '52', "$when: 52 carriages on sale in 7 runs");
	# (the temp table and the rebuilt maps go with the rollback)
	is( sql(q{
BEGIN;
CREATE TEMP TABLE maps_now AS SELECT rc.run_id, rc.carriage_no, rc.map FROM ticket.run_carriage rc;
SELECT count(ticket.rebuild_seat_map(run_id, carriage_no)) FROM maps_now \\g /dev/null
SELECT count(*) FILTER (WHERE rc.map <> m.map) || '|' || count(*)
FROM ticket.run_carriage rc JOIN maps_now m USING (run_id, carriage_no);
ROLLBACK}),
		"0|$carriages", "$when: every seat map equals the one rebuilt from the live tickets");
	is( sql(q{
WITH taken AS (
	SELECT k.run_id, s.carriage_no, leg, count(*) AS n
	FROM ticket.tickets k JOIN ticket.seat s USING (seat_id)
	CROSS JOIN generate_series(ticket.lower(k.legs), ticket.upper(k.legs) - 1) leg
	WHERE k.status IN ('held', 'paid') GROUP BY 1, 2, 3),
seats AS (SELECT s.train_id, s.carriage_no, count(*) AS n FROM ticket.seat s GROUP BY 1, 2)
SELECT count(*) FROM ticket.run r JOIN ticket.run_carriage rc USING (run_id)
JOIN seats s ON s.train_id = r.train_id AND s.carriage_no = rc.carriage_no
CROSS JOIN generate_series(0, r.n_legs - 1) g(leg)
LEFT JOIN taken x ON x.run_id = r.run_id AND x.carriage_no = rc.carriage_no AND x.leg = g.leg
WHERE ticket.seatmap_free(rc.map, ticket.segrange(g.leg, g.leg + 1)) <> s.n - coalesce(x.n, 0)}),
		'0', "$when: free seats per leg in the maps = seats - live tickets on that leg");
	my ($live, $overlaps) = split /\|/, sql(q{
SELECT (SELECT count(*) FROM ticket.tickets WHERE status IN ('held', 'paid')) || '|' || count(*)
FROM ticket.tickets a JOIN ticket.tickets b
  ON a.run_id = b.run_id AND a.seat_id = b.seat_id AND a.ticket_id < b.ticket_id
 AND int4range(ticket.lower(a.legs), ticket.upper(a.legs)) && int4range(ticket.lower(b.legs), ticket.upper(b.legs))
WHERE a.status IN ('held', 'paid') AND b.status IN ('held', 'paid')});
	cmp_ok($live, '>', 40, "$when: $live live tickets");
	is($overlaps, '0', "$when: no two live tickets share a leg of a seat (int4range)");
	# a person's journey, from the timetable: a train without times takes the whole day
	my $journeys = q{
SELECT k.ticket_id, k.status, k.travel, k.document_key,
       CASE WHEN a.depart IS NULL OR coalesce(b.arrive, b.depart) IS NULL
            THEN tsrange(r.service_date, r.service_date + 1)
            ELSE tsrange(r.service_date + a.depart, r.service_date + coalesce(b.arrive, b.depart)) END AS span
FROM ticket.tickets k JOIN ticket.run r USING (run_id)
JOIN ticket.stop a ON a.train_id = r.train_id AND a.stop_no = ticket.lower(k.legs)
JOIN ticket.stop b ON b.train_id = r.train_id AND b.stop_no = ticket.upper(k.legs)
WHERE k.passenger_id IS NOT NULL};
	my ($named, $wrong_travel, $two_places) = split /\|/, sql(qq{
WITH j AS ($journeys)
SELECT count(*) || '|' || count(*) FILTER (WHERE travel IS DISTINCT FROM span) || '|' ||
       (SELECT count(*) FROM j x JOIN j y ON x.document_key = y.document_key AND x.ticket_id < y.ticket_id
                                          AND x.span && y.span
        WHERE x.status IN ('held', 'paid') AND y.status IN ('held', 'paid'))
FROM j});
	cmp_ok($named, '>=', 10, "$when: $named tickets with passengers");
	is($wrong_travel, '0', "$when: every named ticket's travel time is its timetable's");
	is($two_places, '0', "$when: no person in two places at once (tsrange from the timetable)");
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
		'67 journeys, 0 differ', "$when: remaining() equals a recount from the tickets, for the 67 journeys and classes of the 7 runs");
	is( sql(q{
SELECT count(*) FROM ticket.orders o
WHERE o.total IS DISTINCT FROM (SELECT sum(k.price) FROM ticket.tickets k WHERE k.order_id = o.order_id)}),
		'0', "$when: every order's total is the sum of its ticket prices");
	is( sql(q{
SELECT count(*) FROM (
	SELECT q.service_no, lag(q.service_no) OVER (PARTITION BY q.run_id ORDER BY q.queue_position) AS before
	FROM ticket.queue_request q WHERE q.status <> 'waiting') x
WHERE x.service_no < x.before}),
		'0', "$when: the queue served every run's requests in order");
}

invariants('updated');

# ... and sales go on, partly on the pooled connection opened under 1.6
like($pooled->query_safe(qq{SELECT order_id || ':' || status FROM ticket.grab(602, 'G3', '$D', 'VNP', 'NKH', 'first')}),
	qr/^\d+:held$/, 'a connection opened before the update grabs after it');
is($pooled->query_safe(q{SELECT ticket.confirm(order_id) FROM ticket.orders WHERE user_id = 601}), 'paid',
	'... and pays the order it held before the update');
$pooled->quit;

# the requests left waiting in shared memory, then new ones
is(sql("SELECT ticket.serve_queue()"), '2', 'the two requests waiting across the update are served');
is( sql(q{SELECT string_agg(s.status || ':' || (s.order_id IS NOT NULL), ' ' ORDER BY r)
	FROM unnest(ARRAY[} . join(',', @left_waiting) . q{]) r, LATERAL ticket.queue_status(r) s}),
	'done:true done:true', '... each with an order');
my $q1 = enqueue(511, 'G3', 'VNP', 'AOH', 'business');
my $q2 = enqueue(512, 'D5', 'KNH', 'SHH');
my $q3 = enqueue(601, 'G3', 'VNP', 'NKH');
is(sql('SELECT ticket.serve_queue()'), '3', 'new requests are served');
is( sql(qq{SELECT string_agg(s.status || coalesce(':' || s.error_sqlstate, ''), ' ' ORDER BY r)
	FROM unnest(ARRAY[$q1, $q2, $q3]) r, LATERAL ticket.queue_status(r) s}),
	'done done done', '... all done');

# payments, cancels, refunds of 1.6 orders
is(sql(q{SELECT ticket.confirm(order_id) FROM ticket.orders WHERE user_id = 4}), 'paid',
	'a group held under 1.6 is paid');
is(sql(q{SELECT string_agg(ticket.cancel(order_id), ' ' ORDER BY order_id) FROM ticket.orders
	WHERE user_id BETWEEN 301 AND 399 AND status = 'held'}), 'cancelled cancelled cancelled',
	'holds of 1.6 are cancelled');
is(sql(q{SELECT ticket.refund(order_id) FROM ticket.orders WHERE user_id = 302}), 'refunded',
	'an order paid under 1.6 is refunded');
my ($price, $fee) = split /\|/, sql(q{SELECT price || '|' || fee FROM ticket.refund_ticket(
	(SELECT ticket_id FROM ticket.tickets WHERE document_key = 'id_card:110101201003151233'))});
is($fee, sql("SELECT ticket.refund_fee($price, '1000 days')"), "a ticket of 1.6 is refunded alone, with its fee ($fee of $price)");
like(sql(qq{SELECT ticket_id || ' ' || seat_class || ' ' || (to_pay > 0) FROM ticket.change_ticket(
	(SELECT ticket_id FROM ticket.tickets WHERE document_key = 'id_card:11010519491231002X'), 'G3', '$D', 'VNP', 'AOH', 'first')}),
	qr/^\d+ first true$/, 'a ticket of 1.6 is changed to first class, paying the difference');
is(sqlstate_of(qq{SELECT * FROM ticket.change_ticket(
	(SELECT ticket_id FROM ticket.tickets WHERE document_key = 'id_card:11010519491231002X' AND status = 'paid'),
	'G3', '$D', 'VNP', 'AOH', 'second')}), 'TK049', '... and not changed twice (TK049)');

# a refund hands its seat to the waitlist: the first waiting request its
# journey and class fit (202: JGK-AOH, second) takes it
my $seat = sql(q{
SELECT k.seat_id FROM ticket.tickets k JOIN ticket.orders o USING (order_id) JOIN ticket.seat s USING (seat_id)
WHERE o.user_id BETWEEN 102 AND 199 AND o.status = 'paid' AND s.seat_class = 'second' ORDER BY o.order_id LIMIT 1});
is(sql(qq{SELECT ticket.refund(k.order_id) FROM ticket.tickets k JOIN ticket.run r USING (run_id)
	WHERE k.seat_id = $seat AND r.service_date = '$D' AND k.status = 'paid'}), 'refunded', 'a G1 ticket of 1.6 is refunded');
is( sql(q{SELECT s.status || ' ' || (t.seat_id = } . $seat . q{) || ' ' || t.legs
	FROM ticket.waitlist w, LATERAL ticket.waitlist_status(w.waitlist_id) s JOIN ticket.tickets t ON t.order_id = s.order_id
	WHERE w.user_id = 202}),
	'fulfilled true [1,3)', '... its seat went to the waitlist request of 1.6 that fits it, JGK-AOH');
is(sql(qq{SELECT sum(remaining) FROM ticket.remaining('G1', '$D', 'VNP', 'JGK')}), '1',
	'... and the leg before JGK is back on sale');
is(sqlstate_of(qq{SELECT * FROM ticket.grab(699, 'G1', '$D', 'VNP', 'AOH')}), 'TK001',
	'the whole route is still sold out (TK001)');
is(sql(q{SELECT string_agg(user_id || ':' || status, ' ' ORDER BY waitlist_id) FROM ticket.waitlist}),
	'201:fulfilled 202:fulfilled 1:waiting 203:waiting 204:cancelled', 'the rest of the waitlist waits');

# sell G1 on D+1 out, through the app role; join its waitlist; a cancel
# hands a seat over; the person rule still holds
my $left = sql(qq{SELECT sum(remaining) FROM ticket.remaining('G1', '$D1', 'VNP', 'AOH')});
is($left, '22', 'G1 on D+1: 22 seats left (one taken by the change of 1.6)');
is( sql(qq{SET ROLE ticket_app;
SELECT count(*) FROM generate_series(701, 700 + $left) u, LATERAL ticket.grab(u, 'G1', '$D1', 'VNP', 'AOH', NULL, 'd1-' || u) g}),
	$left, "$left grabs sold them");
is(sqlstate_of(qq{SET ROLE ticket_app; SELECT * FROM ticket.grab(799, 'G1', '$D1', 'NKH', 'AOH')}), 'TK001',
	'then G1 on D+1 is sold out (TK001)');
my $wl = sql(qq{SET ROLE ticket_app; SELECT ticket.join_waitlist(799, 'G1', '$D1', 'NKH', 'AOH')});
like($wl, qr/^\d+$/, 'a waitlist request on the updated database');
is( sql(q{SET ROLE ticket_app;
SELECT count(ticket.confirm(order_id)) FROM ticket.orders WHERE user_id BETWEEN 701 AND 799 AND user_id % 2 = 1}),
	'11', 'half of them pay');
is( sql(q{SET ROLE ticket_app;
SELECT string_agg(DISTINCT ticket.cancel(order_id), ' ') FROM ticket.orders WHERE user_id BETWEEN 701 AND 710 AND status = 'held'}),
	'cancelled', 'some cancel');
is( sql(qq{SELECT s.status || ' ' || (s.order_id = o.order_id) FROM ticket.waitlist_status($wl) s, ticket.orders o
	WHERE o.user_id = 799}), 'fulfilled true',
	'the first cancelled seat went to the waitlist request of the updated database');
is(sql(q{SET ROLE ticket_app; SELECT ticket.confirm(order_id) FROM ticket.orders WHERE user_id = 799}), 'paid',
	'... which pays');
is( sql(q{SET ROLE ticket_app;
SELECT string_agg(DISTINCT ticket.refund(order_id), ' ') FROM ticket.orders WHERE user_id BETWEEN 711 AND 722 AND status = 'paid'}),
	'refunded', 'some refund');
is(sqlstate_of(qq{SELECT * FROM ticket.grab(5, 'D5', '$D', 'NKH', 'SHH', 'second', ARRAY['G12345678'])}),
	'TK043', 'Li Lei, on the untimed T1 all day, still cannot take D5 (TK043)');
like(sql(qq{SET ROLE ticket_app; SELECT string_agg(seat_no || ' ' || seats_as_asked, ',')
	FROM ticket.grab(5, 'G3', '$D', 'NKH', 'AOH', 'first', ARRAY['G87654321'], 'A')}),
	qr/^\d\dA true$/, 'a group with seat letters on the updated database');
is(sqlstate_of(qq{SELECT * FROM ticket.grab(800, 'G3', '$D1', 'VNP', 'AOH')}), 'TK012',
	'a closed run is still closed (TK012)');

invariants('after more sales');

# 5. The pg_regress files that do not recreate the extension, on a database
# created at 1.6 and updated, set up as pg_regress sets up its own.  Its name
# matters: pg_cron's install script accepts cron.database_name ($db here)
# or contrib_regression, and ticket_api creates pg_cron.
$node->safe_psql('postgres', q{CREATE DATABASE contrib_regression TEMPLATE template0});
$node->safe_psql('postgres', join('', map { "ALTER DATABASE contrib_regression SET $_;" }
	"lc_messages TO 'C'", "lc_monetary TO 'C'", "lc_numeric TO 'C'", "lc_time TO 'C'",
	"bytea_output TO 'hex'", "timezone_abbreviations TO 'Default'"));
$node->safe_psql('contrib_regression', q{
SET client_min_messages = warning;
CREATE EXTENSION ticket VERSION '1.6' CASCADE;
ALTER EXTENSION ticket UPDATE;});
is($node->safe_psql('contrib_regression', q{SELECT extversion FROM pg_extension WHERE extname = 'ticket'}),
	$default_version, "contrib_regression: created at 1.6, updated to $default_version");
my $outdir = PostgreSQL::Test::Utils::tempdir;
my @schedule = qw(segrange_input segrange_ops segrange_index segrange_exclusion ticket_api);
my ($stdout, $stderr) = ('', '');
my $passed = IPC::Run::run(
	[   $ENV{PG_REGRESS}, '--use-existing', '--dbname=contrib_regression',
		'--host=' . $node->host, '--port=' . $node->port,
		'--bindir=' . $node->config_data('--bindir'),
		"--inputdir=$root", "--outputdir=$outdir", @schedule ],
	'>', \$stdout, '2>', \$stderr,
	init => sub { chdir $root or die "chdir $root: $!" });    # psql's \i paths are relative to the tree
note $stdout;
ok($passed, "pg_regress (@schedule) passes on a database updated from 1.6")
  or diag($stderr . (-e "$outdir/regression.diffs" ? slurp_file("$outdir/regression.diffs") : ''));
like($stdout, qr/All 5 tests passed/, 'all five of them');

$node->stop;
done_testing();
