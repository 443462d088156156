-- pgTAP: who may mark runs hot and switch the overload breaker (issue 14,
-- items 4 and 5).  Only ticket_admin changes them (set_run_hot, set_breaker,
-- the hot_* and breaker_* settings); the application reads them (the
-- hot_runs view, degraded()) and is refused the rest; the functions that
-- move the breaker's state are nobody's but the extension's.
SET client_min_messages = warning;
DROP ROLE IF EXISTS tap_overload_admin;	-- left over by an interrupted run
DROP ROLE IF EXISTS tap_overload_app;
CREATE ROLE tap_overload_admin LOGIN IN ROLE ticket_admin;
CREATE ROLE tap_overload_app LOGIN IN ROLE ticket_app;
BEGIN;
SELECT plan(23);

SELECT ticket.add_station('OVA', 'Ova') > 0 AND ticket.add_station('OVB', 'Ovb') > 0;
SELECT ticket.add_train('G7901', ARRAY['OVA', 'OVB']) > 0;
SELECT ticket.add_carriage('G7901', 1, 'second', 1, 'ABCDF');
SELECT ticket.open_sales('G7901', DATE '2099-01-01') > 0;

-- what each role may call
SELECT function_privs_are('ticket', 'set_run_hot', ARRAY['text', 'date', 'boolean'], 'ticket_app', ARRAY[]::text[]);
SELECT function_privs_are('ticket', 'set_run_hot', ARRAY['text', 'date', 'boolean'], 'ticket_admin', ARRAY['EXECUTE']);
SELECT function_privs_are('ticket', 'set_breaker', ARRAY['text'], 'ticket_app', ARRAY[]::text[]);
SELECT function_privs_are('ticket', 'set_breaker', ARRAY['text'], 'ticket_admin', ARRAY['EXECUTE']);
SELECT function_privs_are('ticket', 'breaker_status', ARRAY[]::text[], 'ticket_app', ARRAY[]::text[]);
SELECT function_privs_are('ticket', 'breaker_status', ARRAY[]::text[], 'ticket_admin', ARRAY['EXECUTE']);
SELECT function_privs_are('ticket', 'degraded', ARRAY[]::text[], 'ticket_app', ARRAY['EXECUTE']);
SELECT ok(NOT has_function_privilege('ticket_app', 'ticket.breaker_check(integer, integer, integer)', 'EXECUTE')
	AND NOT has_function_privilege('ticket_admin', 'ticket.breaker_check(integer, integer, integer)', 'EXECUTE')
	AND NOT has_function_privilege('ticket_admin', 'ticket.breaker_state()', 'EXECUTE')
	AND NOT has_function_privilege('ticket_admin', 'ticket.queue_hot_rule(bigint, bigint, bigint)', 'EXECUTE'),
	'nobody calls the breaker''s and the rule''s internals');
SELECT ok(NOT has_table_privilege('ticket_app', 'ticket.hot_run', 'INSERT, UPDATE, DELETE, TRUNCATE')
	AND NOT has_table_privilege('ticket_admin', 'ticket.hot_run', 'INSERT, UPDATE, DELETE, TRUNCATE'),
	'hot_run is written only through set_run_hot and the queue');
SELECT ok(has_table_privilege('ticket_app', 'ticket.hot_runs', 'SELECT'), 'the application reads hot_runs');

-- the administrator, logged in as a member of ticket_admin
SET ROLE tap_overload_admin;
SELECT is(ticket.set_run_hot('G7901', '2099-01-01', true), true, 'admin: set_run_hot');
SELECT is(ticket.set_setting('hot_queue_length', 100), 100::numeric, 'admin: set hot_queue_length');
SELECT is(ticket.set_setting('breaker_trip_backends', 40), 40::numeric, 'admin: set breaker_trip_backends');
SELECT is(ticket.set_breaker('on'), 'on', 'admin: set_breaker');
SELECT is((SELECT degraded FROM ticket.breaker_status()), true, 'admin: breaker_status');
RESET ROLE;

-- the application, logged in as a member of ticket_app
SET ROLE tap_overload_app;
SELECT is((SELECT train FROM ticket.hot_runs), 'G7901', 'app: sees the hot run');
SELECT ok(ticket.degraded(), 'app: sees the breaker tripped');
SELECT throws_ok($$SELECT ticket.set_run_hot('G7901', '2099-01-01', false)$$, '42501', NULL, 'app: set_run_hot is refused');
SELECT throws_ok($$SELECT ticket.set_breaker('off')$$, '42501', NULL, 'app: set_breaker is refused');
SELECT throws_ok($$SELECT ticket.set_setting('breaker_mode', 0)$$, '42501', NULL, 'app: the breaker''s settings are refused');
SELECT throws_ok($$SELECT ticket.set_setting('hot_queue_length', 0)$$, '42501', NULL, 'app: the hot rule''s settings are refused');
SELECT throws_ok($$DELETE FROM ticket.hot_run$$, '42501', NULL, 'app: unmarking by hand is refused');
SELECT throws_ok($$SELECT ticket.breaker_check(0, 0, 0)$$, '42501', NULL, 'app: moving the breaker''s state is refused');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
DROP ROLE tap_overload_admin;
DROP ROLE tap_overload_app;
