
# remaining() on a hot standby (issue 15, item 1): the primary's commits
# reach a standby as WAL, without the triggers and transaction callbacks
# that tell remaining() a run's kept counts no longer hold
# (src/run_counts.c), so a standby keeps no counts and resolves journeys by
# query: after every replayed grab, cancel, refund and expiry it answers
# exactly as the primary does.  Promoted, it keeps counts again.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'ticket'
ticket.queue_database = ''
fsync = off
});
$primary->start;
$primary->safe_psql('postgres', q{
SET client_min_messages = warning;
CREATE EXTENSION ticket CASCADE;
SELECT ticket.add_station('SBA', 'standby a'), ticket.add_station('SBB', 'standby b'),
       ticket.add_station('SBC', 'standby c');
SELECT ticket.add_train('G61', ARRAY['SBA', 'SBB', 'SBC']);
SELECT ticket.add_carriage('G61', 1, 'first', 1, 'AC'), ticket.add_carriage('G61', 2, 'second', 1, 'ABC');
SELECT ticket.open_sales('G61', '2030-06-01');
});
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

my $read = q{
SELECT (SELECT string_agg(seat_class || ' ' || remaining, ', ' ORDER BY seat_class)
        FROM ticket.remaining('G61', '2030-06-01', 'SBA', 'SBC'))
       || ' | ' || (SELECT string_agg(seat_class || ' ' || remaining, ', ' ORDER BY seat_class)
                   FROM ticket.remaining('G61', '2030-06-01', 'SBB', 'SBC'))
       || ' | matrix ' || (SELECT sum(remaining) FROM ticket.remaining_matrix('G61', '2030-06-01'))};

# the standby reads (several times, as a rush would) before and after each
# change the primary commits
sub both_answer
{
	my ($what, $expected) = @_;
	$primary->wait_for_catchup($standby);
	$standby->safe_psql('postgres', $read) for 1 .. 3;
	is($standby->safe_psql('postgres', $read), $expected, "standby, $what");
	is($primary->safe_psql('postgres', $read), $expected, "primary, $what");
}

both_answer('nothing sold', 'first 2, second 3 | first 2, second 3 | matrix 15');
$primary->safe_psql('postgres', "SELECT ticket.grab(1, 'G61', '2030-06-01', 'SBA', 'SBC', 'second')");
both_answer('after a grab', 'first 2, second 2 | first 2, second 2 | matrix 12');
$primary->safe_psql('postgres', "SELECT ticket.confirm(order_id) FROM ticket.orders WHERE user_id = 1");
$primary->safe_psql('postgres', "SELECT ticket.grab(2, 'G61', '2030-06-01', 'SBB', 'SBC', 'first')");
both_answer('after a confirm and a grab', 'first 1, second 2 | first 1, second 2 | matrix 10');
$primary->safe_psql('postgres', "SELECT ticket.cancel(order_id) FROM ticket.orders WHERE user_id = 2");
both_answer('after a cancel', 'first 2, second 2 | first 2, second 2 | matrix 12');
$primary->safe_psql('postgres', "SELECT ticket.refund(order_id) FROM ticket.orders WHERE user_id = 1");
both_answer('after a refund', 'first 2, second 3 | first 2, second 3 | matrix 15');
$primary->safe_psql('postgres', "SELECT ticket.grab(3, 'G61', '2030-06-01', 'SBA', 'SBB', 'first')");
both_answer('after another grab', 'first 1, second 3 | first 2, second 3 | matrix 13');
# the hold runs out (moved into the past by hand), then the sweeper releases it
$primary->safe_psql('postgres', q{
UPDATE ticket.orders SET hold_until = now() - interval '1 minute' WHERE user_id = 3;
UPDATE ticket.tickets SET hold_until = now() - interval '1 minute'
WHERE order_id IN (SELECT order_id FROM ticket.orders WHERE user_id = 3)});
both_answer('after the hold ran out', 'first 2, second 3 | first 2, second 3 | matrix 15');
$primary->safe_psql('postgres', "SELECT ticket.grab(4, 'G61', '2030-06-01', 'SBA', 'SBC')");
$primary->safe_psql('postgres', 'SELECT ticket.expire_holds()');
both_answer('after a grab and the sweep', 'first 2, second 2 | first 2, second 2 | matrix 12');

# the standby read the seat maps for every call: it kept nothing
my $reads = $standby->safe_psql('postgres', qq{
SELECT pg_stat_get_xact_numscans('ticket.run_carriage_pkey'::regclass) AS before \\gset
SELECT md5(x::text) AS n FROM ($read) x \\gset
SELECT md5(x::text) AS n FROM ($read) x \\gset
SELECT pg_stat_get_xact_numscans('ticket.run_carriage_pkey'::regclass) - :before});
is($reads, '6', 'on the standby every call reads the seat maps');

# promoted, it keeps counts and sees its own sales
$primary->stop('immediate');
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die 'no promotion';
is($standby->safe_psql('postgres', $read), 'first 2, second 2 | first 2, second 2 | matrix 12',
	'promoted: the same answer');
$standby->safe_psql('postgres', "SELECT ticket.grab(5, 'G61', '2030-06-01', 'SBA', 'SBC', 'first')");
$standby->safe_psql('postgres', $read) for 1 .. 3;
is($standby->safe_psql('postgres', $read), 'first 1, second 2 | first 1, second 2 | matrix 9',
	'promoted: a sale on it shows at once');
$reads = $standby->safe_psql('postgres', qq{
SELECT pg_stat_get_xact_numscans('ticket.run_carriage_pkey'::regclass) AS before \\gset
SELECT md5(x::text) AS n FROM ($read) x \\gset
SELECT md5(x::text) AS n FROM ($read) x \\gset
SELECT pg_stat_get_xact_numscans('ticket.run_carriage_pkey'::regclass) - :before});
is($reads, '0', 'promoted: the counts are kept again');

done_testing();
