
# Queue request ids are never handed out twice: not after a clean restart,
# not on a standby promoted after the primary is lost.  (A crash in a rush:
# 010_crash.pl.)  With the library preloaded a waiting request lives in
# shared memory only, and a client keeps its id; the ids are reserved in
# blocks on disk before any is handed out (src/queue_enqueue.c), so numbering
# goes on past every id handed out before, and a request that was still
# waiting answers TK019, never with another user's request.
#
# No worker: the test serves the queue itself, ten requests of forty, so that
# thirty wait when the server goes away.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $date = '2030-05-01';

my $primary = PostgreSQL::Test::Cluster->new('ids_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'ticket'
ticket.queue_database = ''
log_min_messages = warning
log_statement = none
});
$primary->start;
$primary->safe_psql('postgres', qq{
SET client_min_messages = warning;
CREATE EXTENSION ticket CASCADE;
SELECT ticket.add_station('QIA', 'ids A');
SELECT ticket.add_station('QIB', 'ids B');
SELECT ticket.add_train('G5', ARRAY['QIA', 'QIB']);
SELECT ticket.add_default_layout('G5');
SELECT ticket.open_sales('G5', '$date');
-- test scaffolding: one API call, its result or its SQLSTATE as text
CREATE FUNCTION public.try(q text) RETURNS text LANGUAGE plpgsql AS \$\$
DECLARE
	r text;
BEGIN
	EXECUTE q INTO r;
	RETURN coalesce(r, '');
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
\$\$;
});

# forty users enqueue, each in a transaction of its own; their ids, in order
sub enqueue_forty
{
	my ($node, $first_user) = @_;
	return [ split /\n/, $node->safe_psql('postgres', join("\n",
		map { "SELECT request_id FROM ticket.enqueue($_, 'G5', '$date', 'QIA', 'QIB');" }
		  $first_user .. $first_user + 39)) ];
}

sub serve_ten
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT ticket.serve_queue(run_id, 10) FROM ticket.run JOIN ticket.train USING (train_id) WHERE code = 'G5'");
}

# what a node says of the given requests: id, then the user of its row or
# the SQLSTATEs of queue_status() and queue_wait()
sub told
{
	my ($node, $ids) = @_;
	return $node->safe_psql('postgres', 'SELECT string_agg(x, \' \' ORDER BY id) FROM (SELECT id, id || \':\' || '
		  . 'coalesce((SELECT q.user_id::text FROM ticket.queue_request q WHERE q.request_id = id), '
		  . 'try(format(\'SELECT status FROM ticket.queue_status(%s)\', id)) || \'/\' || '
		  . 'try(format(\'SELECT status FROM ticket.queue_wait(%s, \'\'10 ms\'\')\', id))) AS x '
		  . 'FROM unnest(ARRAY[' . join(',', @$ids) . ']::bigint[]) id) s');
}

# the first $served of the ids served (their users' rows), the others what $rest says
sub expected
{
	my ($ids, $first_user, $served, $rest) = @_;
	return join(' ', map { "$ids->[$_]:" . ($_ < $served ? $first_user + $_ : $rest // 'TK019/TK019') } 0 .. $#$ids);
}

sub overlap
{
	my ($old, $new) = @_;
	my %seen = map { ($_ => 1) } @$old;
	return join(', ', grep { $seen{$_} } @$new);
}

# A clean restart -------------------------------------------------------------------

my $a = enqueue_forty($primary, 1);
is(serve_ten($primary), '10', 'forty requests accepted, ten served');
$primary->restart;
my $b = enqueue_forty($primary, 101);
is(overlap($a, $b), '', 'after a restart, no request id is handed out again');
is(told($primary, $a), expected($a, 1, 10),
	'the ten served are their users\' requests; the thirty forgotten in the restart answer TK019');
is(serve_ten($primary), '10', 'and the queue goes on');

# A standby promoted -----------------------------------------------------------------

$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('ids_standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;
my $c = enqueue_forty($primary, 201);
is(serve_ten($primary), '10', 'on the primary: forty more requests accepted, ten of the queue served');
$primary->wait_for_catchup($standby);
$primary->stop('immediate');
$standby->promote;
ok($standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'the standby is promoted');
my $d = enqueue_forty($standby, 301);
is(overlap([ @$a, @$b, @$c ], $d), '', 'on the promoted standby, no request id of the primary is handed out again');
is(told($standby, $d), expected($d, 301, 0, 'waiting/waiting'), 'its new requests wait');
is(told($standby, $b), expected($b, 101, 20), 'requests served on the primary are there; those waiting there answer TK019');
is(told($standby, $c), expected($c, 201, 0), '... all of them');
is(told($standby, $a), expected($a, 1, 10), '... and those of before the restart, as before');

$standby->stop;
done_testing();
