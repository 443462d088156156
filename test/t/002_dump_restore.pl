
# Sales survive pg_dump and restore: the extension's tables are configuration
# tables (pg_extension_config_dump), so their rows are in the dump.  A
# database with grabs, payments, cancellations, refunds and expired holds is
# dumped in custom and in plain format, restored into new databases, and
# compared row for row; the exclusion constraint must still exist and work,
# and grab() must still sell seats there.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $date = '2030-03-01';

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->append_conf('postgresql.conf', "fsync = off\nlog_statement = none\n");
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE sales');
$node->safe_psql('sales', q{
SET client_min_messages = warning;
CREATE EXTENSION ticket CASCADE;
});

$node->safe_psql('sales', qq{
SELECT ticket.add_station('VNP', '北京南', 'beijingnan');
SELECT ticket.add_station('JGK', '济南西');
SELECT ticket.add_station('NKH', '南京南', 'nanjingnan');
SELECT ticket.add_station('AOH', '上海虹桥', 'shanghaihongqiao');
SELECT ticket.add_train('G1', ARRAY['VNP', 'JGK', 'NKH', 'AOH'],
	ARRAY[NULL, '10:22', '12:24', '13:28']::interval[],
	ARRAY['09:00', '10:24', '12:26', NULL]::interval[]);
SELECT ticket.add_carriage('G1', 1, 'first', 3, 'ACDF');
SELECT ticket.add_carriage('G1', 2, 'second', 4, 'ABCDF');
SELECT ticket.add_train('Z9', ARRAY['VNP', 'NKH'], ARRAY[NULL, '31:05']::interval[], ARRAY['21:00', NULL]::interval[]);
SELECT ticket.add_default_layout('Z9');
SELECT ticket.open_sales('G1', '$date');
SELECT ticket.open_sales('Z9', '$date');
SELECT ticket.open_sales('G1', '$date'::date + 1);
});

# sales: 40 grabs by 40 users on G1 and Z9; then pay, cancel, refund
$node->safe_psql('sales', qq{
SELECT count(*) FROM generate_series(1, 40) u,
LATERAL (SELECT u % 3 AS f, u % 3 + 1 + (u / 3) % (3 - u % 3) AS t) j,
LATERAL ticket.grab(u, CASE WHEN u % 4 = 0 THEN 'Z9' ELSE 'G1' END, '$date',
	CASE WHEN u % 4 = 0 THEN 'VNP' ELSE (ARRAY['VNP', 'JGK', 'NKH', 'AOH'])[j.f + 1] END,
	CASE WHEN u % 4 = 0 THEN 'NKH' ELSE (ARRAY['VNP', 'JGK', 'NKH', 'AOH'])[j.t + 1] END,
	CASE WHEN u % 5 = 0 AND u % 4 <> 0 THEN 'first' END, 'req-' || u) g;
SELECT ticket.confirm(order_id) FROM ticket.orders WHERE user_id % 3 <> 0 ORDER BY order_id;
SELECT ticket.cancel(order_id) FROM ticket.orders WHERE status = 'held' AND user_id % 2 = 0 ORDER BY order_id;
SELECT ticket.refund(order_id) FROM ticket.orders WHERE status = 'paid' AND user_id % 7 = 0 ORDER BY order_id;
});

# and two holds that expire, swept by expire_holds()
$node->safe_psql('sales', qq{
SET ticket.hold_timeout = '1s';
SELECT ticket.grab(101, 'G1', '$date'::date + 1, 'VNP', 'AOH', NULL, 'exp-1');
SELECT ticket.grab(102, 'G1', '$date'::date + 1, 'VNP', 'JGK', NULL, 'exp-2');
});
sleep 1.5;
is($node->safe_psql('sales', 'SELECT ticket.expire_holds()'), '2', 'two holds expired');

my $statuses = $node->safe_psql('sales',
	"SELECT string_agg(status || '=' || n, ' ' ORDER BY status) FROM (SELECT status, count(*) AS n FROM ticket.orders GROUP BY 1) s");
note "orders before the dump: $statuses";
like($statuses, qr/paid=\d+/,      'some orders are paid');
like($statuses, qr/cancelled=\d+/, 'some orders are cancelled');
like($statuses, qr/refunded=\d+/,  'some orders are refunded');
like($statuses, qr/expired=\d+/,   'some orders expired');
like($statuses, qr/held=\d+/,      'some orders are held');
is($node->safe_psql('sales', "SELECT count(*) FROM ticket.orders WHERE status = 'held' AND hold_until > now()"),
	'7', 'seven holds are live');

# fingerprints of every table of the extension, and of the sequences -----------

# every configuration table of the extension: its rows are what pg_dump keeps
my @tables = split /\n/, $node->safe_psql('sales', q{
SELECT c::regclass FROM pg_extension e, unnest(e.extconfig) c
WHERE e.extname = 'ticket' AND (SELECT relkind FROM pg_class WHERE oid = c) = 'r' ORDER BY 1});
note "configuration tables: @tables";
for my $t (qw(station train stop carriage seat run orders tickets))
{
	ok((grep { $_ eq "ticket.$t" } @tables), "ticket.$t is dumped with the data");
}

sub fingerprint
{
	my ($db) = @_;
	my %fp;
	for my $table (@tables)
	{
		$fp{$table} = $node->safe_psql($db,
			"SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '-') FROM $table t");
	}
	$fp{sequences} = $node->safe_psql($db, q{
SELECT string_agg(sequencename || '=' || coalesce(last_value::text, 'unused'), ' ' ORDER BY sequencename)
FROM pg_sequences WHERE schemaname = 'ticket'});
	$fp{remaining} = $node->safe_psql($db, qq{
SELECT string_agg(format('%s %s-%s %s %s', t.code, t.f, t.tt, r.seat_class, r.remaining), '; '
                  ORDER BY t.code, t.f, t.tt, r.seat_class)
FROM (VALUES ('G1', 'VNP', 'AOH'), ('G1', 'JGK', 'NKH'), ('G1', 'VNP', 'JGK'), ('Z9', 'VNP', 'NKH')) t(code, f, tt),
LATERAL ticket.remaining(t.code, '$date', t.f, t.tt) r});
	return \%fp;
}

my $before = fingerprint('sales');
my $exclusion_sql = q{
SELECT c.conname || ': ' || pg_get_constraintdef(c.oid, true) FROM pg_constraint c
WHERE c.conrelid = 'ticket.tickets'::regclass AND c.contype = 'x'};
my $exclusion = $node->safe_psql('sales', $exclusion_sql);
like($exclusion, qr/^tickets_no_double_booking: EXCLUDE USING gist \(run_id WITH =, seat_id WITH =, legs WITH .*&&\)/,
	'the exclusion constraint before the dump');
note "sequences: $before->{sequences}";
like($before->{'ticket.orders'},  qr/^4[0-9] /, 'about 40 orders before the dump');
like($before->{'ticket.tickets'}, qr/^4[0-9] /, 'about 40 tickets before the dump');

# dump in custom format, restore with pg_restore --------------------------------

my $tmp = PostgreSQL::Test::Utils::tempdir;
$node->command_ok([ 'pg_dump', '--format=custom', '--file', "$tmp/sales.dump", 'sales' ],
	'pg_dump in custom format');
$node->command_ok([ 'createdb', 'restored' ], 'createdb restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '--dbname', 'restored', "$tmp/sales.dump" ],
	'pg_restore into a new database');

# and in plain format, restored with psql
$node->command_ok([ 'pg_dump', '--format=plain', '--file', "$tmp/sales.sql", 'sales' ],
	'pg_dump in plain format');
$node->command_ok([ 'createdb', 'restored_plain' ], 'createdb restored_plain');
$node->command_ok(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', "$tmp/sales.sql", '--dbname', 'restored_plain' ],
	'plain dump restored with psql');

for my $db ('restored', 'restored_plain')
{
	my $after = fingerprint($db);
	for my $k (sort keys %$before)
	{
		is($after->{$k}, $before->{$k}, "$db: $k identical");
	}

	# the exclusion constraint is there, and it works
	is($node->safe_psql($db, $exclusion_sql), $exclusion, "$db: exclusion constraint present");
	my ($ret, $out, $err) = $node->psql($db, q{
\set VERBOSITY verbose
INSERT INTO ticket.tickets (order_id, run_id, seat_id, legs, status, hold_until)
SELECT order_id, run_id, seat_id, legs, 'held', now() + interval '1 hour'
FROM ticket.tickets WHERE status = 'paid' ORDER BY ticket_id LIMIT 1;
});
	isnt($ret, 0, "$db: an overlapping ticket is refused");
	like($err, qr/ERROR:\s+23P01: conflicting key value violates exclusion constraint "tickets_no_double_booking"/,
		"$db: ... with SQLSTATE 23P01");
	($ret, $out, $err) = $node->psql($db, q{
\set VERBOSITY verbose
INSERT INTO ticket.tickets (order_id, run_id, seat_id, legs, status, hold_until)
SELECT order_id, run_id, seat_id, ticket.segrange(ticket.lower(legs), ticket.upper(legs) + 1), 'paid', now()
FROM ticket.tickets WHERE status = 'paid' AND ticket.upper(legs) < 3 ORDER BY ticket_id LIMIT 1;
});
	like($err, qr/ERROR:\s+23P01/, "$db: a partly overlapping paid ticket is refused too");

	# grab still sells, with order numbers after the restored ones
	my $max = $node->safe_psql($db, 'SELECT max(order_id) FROM ticket.orders');
	my $g = $node->safe_psql($db,
		"SELECT order_id, status FROM ticket.grab(500, 'G1', '$date', 'VNP', 'JGK', NULL, 'after-restore')");
	like($g, qr/^\d+\|held$/, "$db: grab works after the restore");
	my ($oid) = split /\|/, $g;
	cmp_ok($oid, '>', $max, "$db: new order number continues the restored sequence");
	is($node->safe_psql($db, "SELECT ticket.confirm($oid)"), 'paid', "$db: confirm works after the restore");
	is( $node->safe_psql($db, q{
SELECT count(*) FROM ticket.tickets t1 JOIN ticket.tickets t2
  ON t1.run_id = t2.run_id AND t1.seat_id = t2.seat_id AND t1.ticket_id < t2.ticket_id
 AND t1.legs::int4range && t2.legs::int4range
WHERE t1.status IN ('held', 'paid') AND t2.status IN ('held', 'paid')}),
		'0', "$db: no overlapping live tickets after new sales");
	# a retry of a request made before the dump returns the same order
	is( $node->safe_psql($db,
			"SELECT order_id FROM ticket.grab(1, 'G1', '$date', 'JGK', 'NKH', NULL, 'req-1')"),
		$node->safe_psql($db, "SELECT order_id FROM ticket.orders WHERE request_id = 'req-1'"),
		"$db: a request id from before the dump still returns its order");
	# the user with a held, unexpired order still cannot grab again on that run
	my $held_user = $node->safe_psql($db,
		"SELECT user_id FROM ticket.orders WHERE status = 'held' AND hold_until > now() ORDER BY order_id LIMIT 1");
	if ($held_user ne '')
	{
		($ret, $out, $err) = $node->psql($db, qq{
\\set VERBOSITY verbose
SELECT * FROM ticket.grab($held_user, 'G1', '$date', 'VNP', 'JGK')});
		like($err, qr/ERROR:\s+TK002/, "$db: an unpaid order from before the dump still blocks (TK002)");
	}
	# sell the rest of G1 VNP-AOH: sold out must come exactly when remaining says
	my $left = $node->safe_psql($db,
		"SELECT sum(remaining) FROM ticket.remaining('G1', '$date', 'VNP', 'AOH')");
	$node->safe_psql($db, qq{
SELECT count(*) FROM generate_series(1, $left) i,
LATERAL ticket.grab(1000 + i, 'G1', '$date', 'VNP', 'AOH') g});
	($ret, $out, $err) = $node->psql($db, qq{
\\set VERBOSITY verbose
SELECT * FROM ticket.grab(2000, 'G1', '$date', 'VNP', 'AOH')});
	like($err, qr/ERROR:\s+TK001/, "$db: sold out after the $left seats remaining() promised");
}

# the original is untouched by all this
is_deeply(fingerprint('sales'), $before, 'the dumped database is unchanged');

$node->stop;
done_testing();
