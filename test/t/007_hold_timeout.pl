
# How long a hold lasts is the operator's policy (issue 13, item 3).
# ticket.hold_timeout can be changed only by a superuser, or by a role a
# superuser granted SET on it: per cluster (ALTER SYSTEM, postgresql.conf),
# database or role.  An application role's SET, SET LOCAL, set_config() or
# connection option has no effect on any grab: refused once the library is
# loaded, and dropped with a WARNING when the library is loaded after the
# application set the placeholder.  So behind a pooler (pgbouncer in
# transaction mode hands one server session to many clients) no client's
# setting reaches another client's grab.
#
# Two servers: one preloading the library (as production does), one not
# (the library is loaded by the first call in each session).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);

my $date = '2030-04-01';
my $user = 0;

# a grab as $role (connection options in $opts), after the statements in
# $before; returns (how long its hold lasts, or undef; stderr)
sub grab_hold
{
	my ($node, $role, $before, $opts) = @_;
	$user++;
	my $connstr = $node->connstr('shop') . " user=$role" . ($opts ? " options='$opts'" : '');
	my ($ret, $out, $err) = $node->psql(
		'shop', qq{$before
SELECT hold_until - now() FROM ticket.grab($user, 'G1', '$date', 'VNP', 'AOH');},
		connstr => $connstr, on_error_stop => 0);
	my @lines = split /\n/, $out;
	return ($lines[-1], $err);
}

sub setup
{
	my ($node) = @_;
	# (the roles ticket_app and ticket_admin come with the extension)
	$node->safe_psql('postgres', 'CREATE DATABASE shop');
	$node->safe_psql('shop', qq{
SET client_min_messages = warning;
CREATE EXTENSION ticket CASCADE;
CREATE ROLE shop_app LOGIN IN ROLE ticket_app;
CREATE ROLE shop_admin LOGIN IN ROLE ticket_admin;
ALTER DATABASE shop OWNER TO shop_admin;
SELECT ticket.add_station('VNP', '北京南');
SELECT ticket.add_station('AOH', '上海虹桥');
SELECT ticket.add_train('G1', ARRAY['VNP', 'AOH']);
SELECT ticket.add_carriage('G1', 1, 'second', 20, 'ABCDF');
SELECT ticket.open_sales('G1', '$date');
});
	return;
}

for my $preload (1, 0)
{
	my $what = $preload ? 'preloaded' : 'loaded on first use';
	my $node = PostgreSQL::Test::Cluster->new($preload ? 'preloaded' : 'lazy');
	$node->init;
	$node->append_conf('postgresql.conf', "fsync = off\n");
	$node->append_conf('postgresql.conf', "shared_preload_libraries = 'ticket'\nticket.queue_database = ''\n")
	  if $preload;
	$node->start;
	setup($node);

	my ($hold, $err);

	# the application cannot lengthen (or shorten) its holds ------------------

	($hold, $err) = grab_hold($node, 'shop_app', '');
	is($hold, '00:15:00', "$what: a hold lasts 15 minutes by default");

	($hold, $err) = grab_hold($node, 'shop_app', 'SET ticket.hold_timeout = 604800;');
	is($hold, '00:15:00', "$what: after the application's SET ticket.hold_timeout = 604800, still 15 minutes");
	if ($preload)
	{
		like($err, qr/permission denied to set parameter "ticket.hold_timeout"/, "$what: the SET is refused");
	}
	else
	{
		# the SET went to a placeholder; the grab loaded the library, which
		# checked the placeholder's value against the role that set it
		like($err, qr/WARNING:  permission denied to set parameter "ticket.hold_timeout"/,
			"$what: the value set on the placeholder is dropped with a WARNING when the library loads");
	}

	# (ON_ERROR_ROLLBACK: a refused SET LOCAL does not end the transaction)
	($hold, $err) = grab_hold($node, 'shop_app', q{\set ON_ERROR_ROLLBACK on
BEGIN;
SET LOCAL ticket.hold_timeout = '7d';});
	is($hold, '00:15:00', "$what: SET LOCAL in the grab's transaction: 15 minutes");

	($hold, $err) = grab_hold($node, 'shop_app', q{SELECT set_config('ticket.hold_timeout', '604800', false);});
	is($hold, '00:15:00', "$what: set_config(): 15 minutes");

	($hold, $err) = grab_hold($node, 'shop_app', '', '-c ticket.hold_timeout=604800');
	ok(!defined $hold || $hold eq '00:15:00',
		"$what: a connection option (PGOPTIONS) from the application: refused or 15 minutes");

	# it cannot store a setting for itself either
	my ($ret, $out);
	($ret, $out, $err) = $node->psql('shop', q{ALTER ROLE CURRENT_USER SET ticket.hold_timeout = 604800},
		connstr => $node->connstr('shop') . ' user=shop_app');
	like($err, qr/permission denied to set parameter "ticket.hold_timeout"/,
		"$what: ALTER ROLE ... SET by the application is refused");

	# a pooled server session: one client tries, the next one grabs
	my $pooled = $node->background_psql('shop', on_error_stop => 0, extra_params => [ '-U', 'shop_app' ]);
	for my $try (1, 2)	# (the second time, the library is loaded in any case)
	{
		$pooled->query(q{SET ticket.hold_timeout = 604800});
		$user++;
		is($pooled->query(qq{SELECT hold_until - now() FROM ticket.grab($user, 'G1', '$date', 'VNP', 'AOH')}),
			'00:15:00', "$what: on a pooled session, after a client's SET, the next client's grab holds for 15 minutes ($try)");
	}
	is($pooled->query(q{SHOW ticket.hold_timeout}), '15min', "$what: and the session's setting is the operator's");

	# the operator's policy -------------------------------------------------

	# per database, by a superuser: the database's new sessions
	$node->safe_psql('postgres', q{ALTER DATABASE shop SET ticket.hold_timeout = '20min'});
	($hold, $err) = grab_hold($node, 'shop_app', '');
	is($hold, '00:20:00', "$what: ALTER DATABASE shop SET ticket.hold_timeout = '20min' by a superuser: 20 minutes");
	($hold, $err) = grab_hold($node, 'shop_app', 'SET ticket.hold_timeout = 604800;');
	is($hold, '00:20:00', "$what: and the application cannot override it");
	is($node->safe_psql('shop', 'SELECT ticket.hold_timeout()'), '00:20:00', "$what: ticket.hold_timeout() says so");

	# per cluster: ALTER SYSTEM and a reload reach sessions already open
	$node->safe_psql('postgres', q{ALTER DATABASE shop RESET ticket.hold_timeout});
	# (ALTER SYSTEM takes only settings it knows: load the library first)
	$node->safe_psql('postgres', q{LOAD 'ticket';
ALTER SYSTEM SET ticket.hold_timeout = '25min';});
	$node->reload;
	my $seen = '';
	for (1 .. 100)
	{
		$seen = $pooled->query(q{SHOW ticket.hold_timeout});
		last if $seen eq '25min';
		sleep 0.1;
	}
	is($seen, '25min', "$what: ALTER SYSTEM and a reload reach the pooled session");
	$user++;
	is($pooled->query(qq{SELECT hold_until - now() FROM ticket.grab($user, 'G1', '$date', 'VNP', 'AOH')}),
		'00:25:00', "$what: whose next grab holds for 25 minutes");
	($hold, $err) = grab_hold($node, 'shop_app', '');
	is($hold, '00:25:00', "$what: as do new sessions'");
	$pooled->quit;

	# an administrator who is not a superuser: a member of ticket_admin that
	# owns the database, once a superuser granted SET on the parameter
	my $as_admin = $node->connstr('shop') . ' user=shop_admin';
	($ret, $out, $err) = $node->psql('shop', q{ALTER DATABASE shop SET ticket.hold_timeout = '10min'},
		connstr => $as_admin);
	like($err, qr/permission denied to set parameter "ticket.hold_timeout"/,
		"$what: ticket_admin alone cannot change the policy");
	$node->safe_psql('postgres', q{GRANT SET ON PARAMETER ticket.hold_timeout TO ticket_admin});
	($ret, $out, $err) = $node->psql('shop', q{ALTER DATABASE shop SET ticket.hold_timeout = '10min'},
		connstr => $as_admin);
	is($ret, 0, "$what: after GRANT SET ON PARAMETER ticket.hold_timeout TO ticket_admin, it can, per database");
	($hold, $err) = grab_hold($node, 'shop_app', 'SET ticket.hold_timeout = 604800;');
	is($hold, '00:10:00', "$what: the database's grabs then hold for 10 minutes, whatever the application sets");

	$node->stop;
}

done_testing();
