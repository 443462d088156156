# ticket_proxy: reads on a hot standby (doc/scale-out.md).  Two partitions on
# a primary, a streaming standby of it, and a proxy whose second cluster
# ticket_ro points at the standby's partitions: remaining, remaining_matrix,
# search and fare are read there, writes still go to the primaries.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $date = '2030-05-01';
my $conf = q{
shared_preload_libraries = 'ticket'
ticket.queue_database = ''
fsync = off
log_min_messages = warning
};

my $primary = PostgreSQL::Test::Cluster->new('ro_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', $conf);
$primary->start;
for my $p (0, 1)
{
	$primary->safe_psql('postgres', "CREATE DATABASE p$p");
	$primary->safe_psql("p$p", 'SET client_min_messages = warning; CREATE EXTENSION ticket CASCADE');
}
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('ro_standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->append_conf('postgresql.conf', 'log_connections = on');
$standby->start;
$primary->append_conf('postgresql.conf', 'log_connections = on');
$primary->reload;

sub servers
{
	my ($name, $node) = @_;
	my $opts = join(', ', map { (my $c = $node->connstr("p$_") . " application_name=$name") =~ s/'/''/g; "p$_ '$c'" } 0, 1);
	return "CREATE SERVER $name FOREIGN DATA WRAPPER plproxy OPTIONS ($opts);
CREATE USER MAPPING FOR PUBLIC SERVER $name;";
}
$primary->safe_psql('postgres', 'CREATE DATABASE proxy');
$primary->safe_psql('proxy', "SET client_min_messages = warning; CREATE EXTENSION ticket_proxy CASCADE;\n"
	  . servers('ticket', $primary) . qq{
SELECT ticket.init_partitions();
SELECT ticket.add_station('VNP', '北京南'), ticket.add_station('TIP', '天津南'), ticket.add_station('AOH', '上海虹桥');
SELECT ticket.add_train(c, ARRAY['VNP', 'TIP', 'AOH']) FROM unnest(ARRAY['G1', 'G2', 'G3', 'G4']) c;
SELECT ticket.add_carriage(c, 1, 'second', 2, 'ABC') FROM unnest(ARRAY['G1', 'G2', 'G3', 'G4']) c;
SELECT ticket.open_sales('$date'::date);
SELECT count(*) FROM ticket.grab(1, 'G1', '$date', 'VNP', 'AOH') a, ticket.grab(2, 'G2', '$date', 'VNP', 'TIP') b;
});
$primary->wait_for_catchup($standby);

my $reads = qq{
SELECT string_agg(x::text, ' ') FROM (
	SELECT r::text FROM unnest(ARRAY['G1', 'G2', 'G3', 'G4']) c, LATERAL ticket.remaining(c, '$date', 'VNP', 'AOH') r
	UNION ALL SELECT s::text FROM ticket.search('VNP', 'AOH', '$date') s
	UNION ALL SELECT count(*)::text FROM ticket.remaining_matrix('G2', '$date')
	UNION ALL SELECT ticket.fare('G1', 'VNP', 'AOH', 'second')::text) x};
my $on_primary = $primary->safe_psql('proxy', $reads);
like($on_primary, qr/\(second,5\)/, 'sold seats show in the answers');

$primary->safe_psql('proxy', servers('ticket_ro', $standby));
is($primary->safe_psql('proxy', $reads), $on_primary, 'the reads through the standby answer as the primaries do');
my $standby_log = slurp_file($standby->logfile);
ok($standby_log =~ /database=p0 application_name=ticket_ro/ && $standby_log =~ /database=p1 application_name=ticket_ro/,
	'the proxy reads on both partitions of the standby');
unlike(slurp_file($primary->logfile), qr/connection authorized: [^\n]*application_name=ticket_ro/, 'and not on the primary');

# writes still go to the primaries, and the standby follows
my $o = $primary->safe_psql('proxy', "SELECT order_id FROM ticket.grab(3, 'G1', '$date', 'VNP', 'AOH')");
is($primary->safe_psql('proxy', "SELECT ticket.confirm($o)"), 'paid', 'grab and confirm go to the primaries');
$primary->wait_for_catchup($standby);
is($primary->safe_psql('proxy', "SELECT remaining FROM ticket.remaining('G1', '$date', 'VNP', 'AOH')"),
	'4', 'the standby has the new sale once it caught up');

# proof that the reads are the standby's: without it, they fail; writes do not
$standby->stop;
my ($ret) = $primary->psql('proxy', "SELECT * FROM ticket.remaining('G1', '$date', 'VNP', 'AOH')");
isnt($ret, 0, 'with the standby down, reads through ticket_ro fail');
is($primary->safe_psql('proxy', "SELECT status FROM ticket.grab(4, 'G3', '$date', 'VNP', 'AOH')"), 'held',
	'while writes go on');
$primary->safe_psql('proxy', 'DROP USER MAPPING FOR PUBLIC SERVER ticket_ro; DROP SERVER ticket_ro');
is($primary->safe_psql('proxy', "SELECT remaining FROM ticket.remaining('G1', '$date', 'VNP', 'AOH')"),
	'4', 'without ticket_ro, reads go to the primaries again');

$primary->stop;
done_testing();
