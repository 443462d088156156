
# Against scalpers (issue 14, item 6): 20 people at 20 keyboards (one
# account and one passenger each, 0.3 to 0.8 s of thought before each try)
# against 2 scalper programs (10 accounts with 10 valid identity documents
# each, retrying at once and paying at once to free the account for the
# next document), every grab real-name, each program naming its own client
# (ticket.client) and each person theirs.  With the per-client limit
# (max_orders_per_client_run = 1) the programs end with no more than their
# share of the clients (2 of 22: at most 2 seats, 10% of 20) and every
# seat that is not theirs goes to a person; when seats suffice (24), every
# person who tried has one.  With the limit off the same rush is measured
# and reported (the programs take most of the seats).

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $duration = 4;

my $node = PostgreSQL::Test::Cluster->new('scalpers');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
max_connections = 80
fsync = off
synchronous_commit = off
log_min_messages = warning
});
$node->start;

$node->safe_psql('postgres', q{
SET client_min_messages = warning;
CREATE EXTENSION ticket CASCADE;
SELECT ticket.add_station('VNP', '北京南'), ticket.add_station('AOH', '上海虹桥');
-- one train a scenario, each on its own day: 20, 24 and 20 seats
SELECT ticket.add_train(t, ARRAY['VNP', 'AOH'], ARRAY[NULL, '13:28']::interval[], ARRAY['09:00', NULL]::interval[])
FROM unnest(ARRAY['G1', 'G2', 'G3']) t;
SELECT ticket.add_carriage('G1', 1, 'second', 10, 'AB'), ticket.add_carriage('G2', 1, 'second', 12, 'AB'),
       ticket.add_carriage('G3', 1, 'second', 10, 'AB');
SELECT ticket.open_sales('G1', '2030-01-01'), ticket.open_sales('G2', '2030-01-02'),
       ticket.open_sales('G3', '2030-01-03');
SELECT ticket.set_setting('real_names_required', 1);

-- test scaffolding: a valid resident ID number per n
CREATE FUNCTION public.id_no(n integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT d || substr('10X98765432', (SELECT sum(substr(d, i, 1)::integer * w[i]) FROM generate_series(1, 17) i)::integer % 11 + 1, 1)
	FROM (SELECT '110105198001' || lpad((n / 1000 + 1)::text, 2, '0') || lpad((n % 1000)::text, 3, '0') AS d,
	             '{7,9,10,5,8,4,2,1,6,3,7,9,10,5,8,4,2}'::integer[] AS w) x
$$;
-- people 1..20, one passenger each; program A's accounts 101..110 and
-- program B's 201..210, ten documents each
SELECT ticket.add_passenger(u, public.id_no(u), 'person ' || u) FROM generate_series(1, 20) u;
SELECT ticket.add_passenger(a, public.id_no(1000 + a * 10 + j), 'bought ' || a || '/' || j)
FROM (SELECT generate_series(101, 110) UNION ALL SELECT generate_series(201, 210)) x(a), generate_series(0, 9) j;

-- a person's try: a seat for themself, unless they have one already
-- (train n is Gn on 2030-01-0n)
CREATE FUNCTION public.person_try(u bigint, n integer) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	train text := 'G' || n;
	day date := date '2029-12-31' + n;
BEGIN
	IF EXISTS (SELECT 1 FROM ticket.orders o JOIN ticket.run r USING (run_id) JOIN ticket.train t USING (train_id)
	           WHERE o.user_id = u AND t.code = train AND o.status IN ('held', 'paid')) THEN
		RETURN 'has one';
	END IF;
	PERFORM set_config('ticket.client', 'person-' || u, true);
	PERFORM ticket.grab(u, train, day, 'VNP', 'AOH', 'second', ARRAY[public.id_no(u::integer)]);
	RETURN 'got one';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
$$;
-- a program's try: the account's next document without a ticket, paid at once
CREATE FUNCTION public.scalper_try(a bigint, program integer, n integer) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	train text := 'G' || n;
	day date := date '2029-12-31' + n;
	doc text;
	o bigint;
BEGIN
	PERFORM set_config('ticket.client', 'program-' || program, true);
	SELECT p.document_no INTO doc FROM ticket.passenger p
	WHERE p.user_id = a AND NOT EXISTS (
		SELECT 1 FROM ticket.tickets t JOIN ticket.run r USING (run_id) JOIN ticket.train tr USING (train_id)
		WHERE t.passenger_id = p.passenger_id AND tr.code = train AND t.status IN ('held', 'paid'))
	ORDER BY p.passenger_id LIMIT 1;
	IF doc IS NULL THEN
		RETURN 'no document left';
	END IF;
	SELECT min(g.order_id) INTO o FROM ticket.grab(a, train, day, 'VNP', 'AOH', 'second', ARRAY[doc]) g;
	PERFORM ticket.confirm(o);
	RETURN 'got one';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
$$;
});

my $person_script = PostgreSQL::Test::Utils::tempdir() . '/person.sql';
PostgreSQL::Test::Utils::append_to_file($person_script,
	"\\set think random(300, 800)\n\\sleep :think ms\nSELECT public.person_try(:client_id + 1, :train);\n");
my $scalper_script = PostgreSQL::Test::Utils::tempdir() . '/scalper.sql';
PostgreSQL::Test::Utils::append_to_file($scalper_script,
	"SELECT public.scalper_try(:base + :client_id, :program, :train);\n");

# The rush on one train: the 20 people and the 2 programs start together.
# Returns (seats of people, seats of programs, people with a seat, seats).
sub rush
{
	my ($train) = @_;
	my @conn = ('-h', $node->host, '-p', $node->port, 'postgres');
	my @common = ('pgbench', '--no-vacuum', '--time', $duration, '-D', "train=$train");
	my @runs;
	for my $run (
		[ '--client', 20, '--jobs', 2, '-f', $person_script ],
		[ '--client', 10, '-D', 'base=101', '-D', 'program=1', '-f', $scalper_script ],
		[ '--client', 10, '-D', 'base=201', '-D', 'program=2', '-f', $scalper_script ])
	{
		my ($out, $err) = ('', '');
		push @runs, [ IPC::Run::start([ @common, @$run, @conn ], '>', \$out, '2>', \$err), \$out, \$err ];
	}
	for my $r (@runs)
	{
		$r->[0]->finish;
		ok(${ $r->[1] } =~ qr{processed: [1-9]} && ${ $r->[1] } =~ qr{number of failed transactions: 0 }
			  && ${ $r->[2] } !~ /abort/,
			"G$train: a pgbench run that tried, with no failed try")
		  or diag(${ $r->[1] } . ${ $r->[2] });
	}
	return split /\|/, $node->safe_psql('postgres', qq{
SELECT count(*) FILTER (WHERE o.user_id <= 20), count(*) FILTER (WHERE o.user_id > 100),
       count(DISTINCT o.user_id) FILTER (WHERE o.user_id <= 20),
       (SELECT sum(rc.seats) FROM ticket.run_carriage rc JOIN ticket.run r USING (run_id)
        JOIN ticket.train t USING (train_id) WHERE t.code = 'G$train')
FROM ticket.tickets k JOIN ticket.orders o USING (order_id) JOIN ticket.run r ON r.run_id = k.run_id
JOIN ticket.train t ON t.train_id = r.train_id
WHERE t.code = 'G$train' AND k.status IN ('held', 'paid')});
}

# the per-client limit on: one live order per client and run
$node->safe_psql('postgres', "SELECT ticket.set_setting('max_orders_per_client_run', 1)");

my ($people, $programs, $persons, $seats) = rush(1);
diag("limit on, $seats seats: people $people, programs $programs ($persons of 20 people have a seat)");
cmp_ok($programs, '<=', 2, "the programs end with at most their share of the clients: $programs of $seats seats (<= 10%)");
is($people + $programs, $seats, 'the train is sold out');
is($persons, $people, 'one seat per person');
is($people, $seats - $programs, "every seat not the programs' went to a person ($people)");

($people, $programs, $persons, $seats) = rush(2);
diag("limit on, $seats seats: people $people, programs $programs ($persons of 20 people have a seat)");
cmp_ok($programs, '<=', 2, "with seats to spare the programs still get at most 2 ($programs)");
is($persons, 20, 'seats suffice: every person who tried has one');

# the same rush with the limit off, measured and reported
$node->safe_psql('postgres', "SELECT ticket.set_setting('max_orders_per_client_run', 0)");
($people, $programs, $persons, $seats) = rush(3);
diag("limit off, $seats seats: people $people, programs $programs ($persons of 20 people have a seat)");
is($people + $programs, $seats, 'limit off: sold out too');

$node->stop;
done_testing();
