# ticket_proxy: a person is never in two places at once, even when the two
# runs live on different partitions (doc/scale-out.md, the person ledger).
#
# Two servers, two partitions each, a proxy database.  Eight trains run at
# the same hours on the same day, spread over the partitions; 24 people are
# each on the passenger lists of three accounts.  Many clients grab seats for
# random people on random trains through the proxy, pay, cancel and refund;
# afterwards nobody has two live tickets (all the trains overlap, so one at
# most), no seat leg is sold twice, every paid ticket has its trip in the
# ledger and the ledger has nothing left half-way.  Then the failures:
#  - a proxy that died after reserving a trip (before the grab): the
#    reservation lapses by itself after the hold;
#  - the run's server down between the reservation and the grab: the grab
#    fails and the reservation is given back at once;
#  - the ledger's server down between the grab and the payment: the payment
#    is refused while it is down (never a paid ticket outside the ledger),
#    and goes through once it is back;
#  - the run's server down after a trip was marked paying: expire_holds()
#    settles it once the server is back and the order is over.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $date     = '2030-04-01';
my $clients  = 10;
my $duration = 12;

# synchronous_commit stays on: servers are stopped (immediate) right after
# acknowledged calls, which must then be there (fsync off only trusts the
# kernel, which an immediate stop does not lose)
my $conf = q{
shared_preload_libraries = 'ticket'
ticket.queue_database = ''
max_connections = 150
fsync = off
log_min_messages = warning
};

my @node;
for my $i (0, 1)
{
	$node[$i] = PostgreSQL::Test::Cluster->new("people$i");
	$node[$i]->init;
	$node[$i]->append_conf('postgresql.conf', $conf);
	$node[$i]->start;
}
# partitions 0, 1 on the first server, 2, 3 on the second
my @where = ([ $node[0], 'p0' ], [ $node[0], 'p1' ], [ $node[1], 'p2' ], [ $node[1], 'p3' ]);
my @connstr;
for my $w (@where)
{
	my ($n, $db) = @$w;
	$n->safe_psql('postgres', "CREATE DATABASE $db");
	$n->safe_psql($db, 'SET client_min_messages = warning; CREATE EXTENSION ticket CASCADE');
	$n->safe_psql('postgres', "ALTER DATABASE $db SET ticket.hold_timeout = '3s'");
	push @connstr, $n->connstr($db);
}
my $proxy = $node[0];
my $opts = join(', ', map { (my $c = $connstr[$_]) =~ s/'/''/g; "p$_ '$c'" } 0 .. 3);
$proxy->safe_psql('postgres', 'CREATE DATABASE proxy');
$proxy->safe_psql('proxy', qq{
SET client_min_messages = warning;
CREATE EXTENSION ticket_proxy CASCADE;
CREATE SERVER ticket FOREIGN DATA WRAPPER plproxy OPTIONS ($opts);
CREATE USER MAPPING FOR PUBLIC SERVER ticket;
SELECT ticket.init_partitions();
SELECT ticket.add_station('VNP', '北京南'), ticket.add_station('TIP', '天津南'), ticket.add_station('AOH', '上海虹桥');
SELECT ticket.add_train(c, ARRAY['VNP', 'TIP', 'AOH'], ARRAY['8h', '9h', '12h']::interval[],
	ARRAY['8h', '9h5m', '12h']::interval[])
FROM unnest(ARRAY['G1', 'G2', 'G3', 'G4', 'G5', 'G6', 'G7', 'G8']) c;
SELECT ticket.add_carriage(c, 1, 'second', 3, 'ABC') FROM unnest(ARRAY['G1', 'G2', 'G3', 'G4', 'G5', 'G6', 'G7', 'G8']) c;
SELECT ticket.open_sales('$date'::date);
SELECT ticket.set_setting('max_orders_per_day', 10000), ticket.set_setting('max_cancels_per_day', 10000);

-- 24 people with valid ID card numbers, each on three accounts (user 10 i + a)
CREATE FUNCTION id_card(n integer) RETURNS text LANGUAGE sql IMMUTABLE AS \$\$
	SELECT b || substr('10X98765432', (s % 11)::integer + 1, 1)
	FROM (SELECT '11010519900101' || lpad(n::text, 3, '0') AS b) x,
	LATERAL (SELECT sum(substr(x.b, i::integer, 1)::integer * w) AS s
	         FROM unnest(ARRAY[7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]) WITH ORDINALITY AS t(w, i)) c
\$\$;
SELECT count(ticket.add_passenger(10 * i + a, id_card(i), '乘客' || i)) FROM generate_series(1, 24) i, generate_series(1, 3) a;
});
my $spread = $proxy->safe_psql('proxy',
	"SELECT count(DISTINCT ticket.run_partition(c, '$date')) FROM unnest(ARRAY['G1', 'G2', 'G3', 'G4', 'G5', 'G6', 'G7', 'G8']) c");
cmp_ok($spread, '>=', 3, "the eight runs are on $spread partitions");
is($proxy->safe_psql('proxy', 'SELECT count(DISTINCT hashtext(\'id_card:\' || id_card(i)) & 3) FROM generate_series(1, 24) i'),
	'4', 'the people are owned by all four partitions');

# the rush ------------------------------------------------------------------------------

$proxy->safe_psql('proxy', qq{
CREATE UNLOGGED TABLE outcome (client integer, action text, outcome text);
CREATE TABLE mine (order_id bigint PRIMARY KEY, status text);
CREATE FUNCTION step(cid integer) RETURNS text LANGUAGE plpgsql AS \$\$
DECLARE
	i integer := 1 + floor(random() * 24)::integer;
	u bigint := 10 * i + 1 + floor(random() * 3)::integer;
	t text := 'G' || (1 + floor(random() * 8)::integer);
	p double precision := random();
	act text;
	res text;
	id bigint;
	state text;
BEGIN
	IF p < 0.55 THEN act := 'grab';
	ELSIF p < 0.8 THEN act := 'confirm';
	ELSIF p < 0.9 THEN act := 'cancel';
	ELSE act := 'refund';
	END IF;
	BEGIN
		IF act = 'grab' THEN
			SELECT g.order_id INTO id FROM ticket.grab(u, t, '$date', 'VNP', 'AOH', 'second', ARRAY[id_card(i)]) g;
			INSERT INTO mine VALUES (id, 'held');
			res := 'ok';
		ELSE
			SELECT m.order_id INTO id FROM mine m WHERE m.status = CASE act WHEN 'refund' THEN 'paid' ELSE 'held' END
			ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED;
			IF id IS NULL THEN
				res := 'none';
			ELSE
				res := CASE act WHEN 'confirm' THEN ticket.confirm(id) WHEN 'cancel' THEN ticket.cancel(id)
				                ELSE ticket.refund(id) END;
				UPDATE mine SET status = res WHERE order_id = id;
			END IF;
		END IF;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
		IF state NOT IN ('TK001', 'TK002', 'TK003', 'TK004', 'TK005', 'TK015', 'TK043') THEN
			RAISE;
		END IF;
		res := state;
		IF id IS NOT NULL AND state IN ('TK003', 'TK015', 'TK043') THEN
			UPDATE mine SET status = 'gone' WHERE order_id = id;
		END IF;
	END;
	INSERT INTO outcome VALUES (cid, act, res);
	RETURN res;
END
\$\$;
});

$proxy->pgbench(
	"--no-vacuum --client=$clients --jobs=2 --time=$duration",
	0,
	[ qr{number of transactions actually processed: \d+}, qr{number of failed transactions: 0 } ],
	[qr{^(?!.*(aborted|ERROR))}s],
	"$clients clients grab for the same people on trains of different partitions",
	{ '014_people' => "\\if :client_id = 0\nSELECT ticket.expire_holds();\n\\sleep 300 ms\n\\else\nSELECT step(:client_id);\n\\endif\n" },
	'proxy');

my %count;
for my $line (split /\n/, $proxy->safe_psql('proxy', 'SELECT action, outcome, count(*) FROM outcome GROUP BY 1, 2 ORDER BY 1, 2'))
{
	my ($a, $o, $c) = split /\|/, $line;
	$count{"$a $o"} = $c;
	note sprintf('%-8s %-10s %6d', $a, $o, $c);
}
cmp_ok($count{'grab ok'} // 0, '>=', 30, 'many grabs for the people');
cmp_ok($count{'grab TK043'} // 0, '>=', 20, 'many grabs refused: the person travels then (TK043)');
cmp_ok($count{'confirm paid'} // 0, '>=', 10, 'payments');

# let every hold expire, sweep, and look at what is left
sleep 4;
$proxy->safe_psql('proxy', 'SELECT ticket.expire_holds()');

sub all_partitions
{
	my ($sql) = @_;
	my @rows;
	for my $p (0 .. 3)
	{
		my ($n, $db) = @{ $where[$p] };
		push @rows, map { "$p|$_" } grep { length } split /\n/, $n->safe_psql($db, $sql);
	}
	return @rows;
}

my @paid = all_partitions("SELECT document_key, travel, order_id FROM ticket.tickets WHERE status = 'paid'");
my %per_person;
my %paid_on;
for (@paid)
{
	my ($p, $key) = split /\|/;
	$per_person{$key}++;
	$paid_on{$p}++;
}
note scalar(@paid) . ' paid tickets, on partitions ' . join(' ', map { "$_:" . ($paid_on{$_} // 0) } 0 .. 3);
cmp_ok(scalar(keys %paid_on), '>=', 2, 'the paid tickets are on several partitions');
is(join(' ', grep { $per_person{$_} > 1 } sort keys %per_person), '',
	'nobody has two paid tickets at the same time, whatever partitions their runs are on');
is( scalar(all_partitions("SELECT 1 FROM ticket.tickets WHERE status = 'held' AND hold_until > now()")),
	0, 'no hold left');
is( join(' ', all_partitions(q{
SELECT t1.ticket_id FROM ticket.tickets t1 JOIN ticket.tickets t2
  ON t1.run_id = t2.run_id AND t1.seat_id = t2.seat_id AND t1.ticket_id < t2.ticket_id
 AND t1.legs::int4range && t2.legs::int4range
WHERE t1.status IN ('held', 'paid') AND t2.status IN ('held', 'paid')})),
	'', 'no seat leg sold twice on any partition');

# the ledger: each paid ticket's trip is there, on its person's partition, paid
my @ledger = all_partitions(
	"SELECT document_key, order_id, state, (hashtext(document_key) & 3) FROM ticket.person_trip
	 WHERE state <> 'released' AND NOT (state = 'held' AND live_until <= now())");
my %trip;
my $misplaced = 0;
for (@ledger)
{
	my ($p, $key, $order, $state, $owner) = split /\|/;
	$misplaced++ if $p != $owner;
	$trip{"$key $order"} = $state;
}
is($misplaced, 0, 'every trip is on the partition of its person');
is(join(' ', grep { ($trip{$_} // '') ne 'paid' } map { my @f = split /\|/; "$f[1] $f[3]" } @paid), '',
	'every paid ticket has its paid trip in the ledger');
is(join(' ', grep { $trip{$_} ne 'paid' } sort keys %trip), '',
	'the ledger has nothing held, paying or releasing left once holds are over');

# failures ------------------------------------------------------------------------------

# people owned by each server (their document key's partition), and a run on each
my %person_on;
for my $i (1 .. 24)
{
	my $p = $proxy->safe_psql('proxy', "SELECT hashtext('id_card:' || id_card($i)) & 3");
	push @{ $person_on{ $p < 2 ? 0 : 1 } }, $i;
}
my %run_on;
for my $c (map { "G$_" } 1 .. 8)
{
	my $p = $proxy->safe_psql('proxy', "SELECT ticket.run_partition('$c', '$date')");
	push @{ $run_on{ $p < 2 ? 0 : 1 } }, $c;
}
SKIP:
{
	skip 'the runs are all on one server', 13 unless $run_on{0} && $run_on{1};

	# clean slate: every paid ticket refunded; holds long enough that the
	# servers' restarts below do not outlast them (new sessions take it)
	$proxy->safe_psql('proxy', "SELECT count(ticket.refund(order_id)) FROM mine WHERE status = 'paid'");
	$_->[0]->safe_psql('postgres', "ALTER DATABASE $_->[1] SET ticket.hold_timeout = '60s'") for @where;
	my ($run_a, $run_b) = ($run_on{0}[0], $run_on{1}[0]);

	# (1) a proxy that died after the reservation: it lapses by itself
	my $i = $person_on{1}[0];
	$proxy->safe_psql('proxy', qq{
SELECT ticket_proxy.reserve_trips(ARRAY['id_card:' || id_card($i)],
	tsrange('$date 08:00', '$date 12:00'), 'a proxy that died', now() + interval '3 s')});
	my ($ret, $out, $err) = $proxy->psql('proxy',
		"SELECT order_id FROM ticket.grab(10 * $i + 1, '$run_a', '$date', 'VNP', 'AOH', 'second', ARRAY[id_card($i)])",
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	like($err, qr/TK043/, 'a reservation left by a proxy that died blocks its person');
	sleep 4;
	my $o1 = $proxy->safe_psql('proxy',
		"SELECT order_id FROM ticket.grab(10 * $i + 1, '$run_a', '$date', 'VNP', 'AOH', 'second', ARRAY[id_card($i)])");
	ok($o1 > 0, 'and lapses by itself after the hold: the person travels');
	$proxy->safe_psql('proxy', "SELECT ticket.cancel($o1)");

	# (2) the run's server down between the reservation and the grab
	my $j = $person_on{0}[0];
	$node[1]->stop('immediate');
	($ret, $out, $err) = $proxy->psql('proxy',
		"SELECT order_id FROM ticket.grab(10 * $j + 1, '$run_b', '$date', 'VNP', 'AOH', 'second', ARRAY[id_card($j)])");
	isnt($ret, 0, 'a grab on a run whose server is down fails');
	is($proxy->safe_psql('p' . ($proxy->safe_psql('proxy', "SELECT hashtext('id_card:' || id_card($j)) & 3")),
			"SELECT count(*) FROM ticket.person_trip WHERE state <> 'released' AND order_id IS NULL"),
		'0', 'and its reservation was given back at once (compensation)');
	my $o2 = $proxy->safe_psql('proxy',
		"SELECT order_id FROM ticket.grab(10 * $j + 1, '$run_a', '$date', 'VNP', 'AOH', 'second', ARRAY[id_card($j)])");
	ok($o2 > 0, 'the person can take another train at once');
	$node[1]->start;
	$proxy->psql('proxy', 'SELECT 1 FROM ticket.check_partitions()');    # drop the stale connections
	$proxy->safe_psql('proxy', "SELECT ticket.cancel($o2)");

	# (3) the ledger's server down between the grab and the payment
	my $k = $person_on{1}[1];
	my $o3 = $proxy->safe_psql('proxy',
		"SELECT order_id FROM ticket.grab(10 * $k + 1, '$run_a', '$date', 'VNP', 'AOH', 'second', ARRAY[id_card($k)])");
	$node[1]->stop('immediate');
	($ret, $out, $err) = $proxy->psql('proxy', "SELECT ticket.confirm($o3)");
	isnt($ret, 0, 'no payment while the ledger of the person is down');
	is($proxy->safe_psql('p' . ($proxy->safe_psql('proxy', "SELECT ticket.id_partition($o3)")),
			"SELECT status FROM ticket.orders WHERE order_id = $o3"),
		'held', 'the order is still held, not paid');
	$node[1]->start;
	$proxy->psql('proxy', "SELECT ticket.confirm($o3)");
	is($proxy->safe_psql('proxy', "SELECT ticket.confirm($o3)"), 'paid', 'once it is back the payment goes through');
	my $kp = $proxy->safe_psql('proxy', "SELECT hashtext('id_card:' || id_card($k)) & 3");
	is($node[1]->safe_psql("p$kp", "SELECT state FROM ticket.person_trip WHERE order_id = $o3"), 'paid',
		'and the trip is paid in the ledger');
	($ret, $out, $err) = $proxy->psql('proxy',
		"SELECT order_id FROM ticket.grab(10 * $k + 2, '$run_b', '$date', 'VNP', 'AOH', 'second', ARRAY[id_card($k)])",
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	like($err, qr/TK043/, 'the person cannot take a train on the other server then');

	# (4) the run's server down after the trip was marked paying
	my $m = $person_on{0}[1];
	my $o4 = $proxy->safe_psql('proxy',
		"SELECT order_id FROM ticket.grab(10 * $m + 1, '$run_b', '$date', 'VNP', 'AOH', 'second', ARRAY[id_card($m)])");
	$proxy->safe_psql('proxy', "SELECT ticket_proxy.move_trips($o4, NULL, 'paying')");
	$node[1]->stop('immediate');
	my $mp = $proxy->safe_psql('proxy', "SELECT hashtext('id_card:' || id_card($m)) & 3");
	is($node[0]->safe_psql("p$mp", "SELECT state FROM ticket.person_trip WHERE order_id = $o4"), 'paying',
		'a trip left paying when the server of the run went down');
	$node[1]->start;
	$proxy->psql('proxy', 'SELECT 1 FROM ticket.check_partitions()');
	# the order ends on its partition without the proxy (as a hold that
	# expires there does)
	$node[1]->safe_psql('p' . $proxy->safe_psql('proxy', "SELECT ticket.id_partition($o4)"), "SELECT ticket.cancel($o4)");
	is($node[0]->safe_psql("p$mp", "SELECT state FROM ticket.person_trip WHERE order_id = $o4"), 'paying',
		'the trip stays paying while nobody settles it');
	$proxy->safe_psql('proxy', 'SELECT ticket.expire_holds()');
	is($node[0]->safe_psql("p$mp", "SELECT state FROM ticket.person_trip WHERE order_id = $o4"), 'released',
		'is settled by expire_holds once the server is back and the order is over');
}

$_->stop for @node;
done_testing();
