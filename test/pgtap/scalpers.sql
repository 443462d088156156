-- pgTAP: against scalpers (issue 14, items 1, 2 and 6).  Only ticket_admin
-- changes the settings of the rules (real_names_required,
-- max_tickets_per_person_day, max_orders_per_client_run); the application
-- names its end client in ticket.client but cannot lift a limit with it.
BEGIN;
SELECT plan(24);
SET LOCAL search_path = ticket, public;
SET LOCAL client_min_messages = warning;

SELECT is(setting(n), v, n || ' defaults to ' || v)
FROM (VALUES ('real_names_required', 0::numeric), ('max_tickets_per_person_day', 5), ('max_orders_per_client_run', 0)) x(n, v);
SELECT function_privs_are('ticket', 'set_setting', ARRAY['text', 'numeric'], 'ticket_app', ARRAY[]::text[]);
SELECT function_privs_are('ticket', 'set_setting', ARRAY['text', 'numeric'], 'ticket_admin', ARRAY['EXECUTE']);
SELECT ok(NOT has_function_privilege('public', 'ticket.' || f, 'EXECUTE'), 'PUBLIC cannot call ticket.' || f)
FROM unnest(ARRAY['check_real_names(text, text)', 'check_person_limits(text[], date)',
	'check_client_limit(text, bigint)', 'queue_passengers(bigint, text, date, text, text, text, text[], text)']) f;
SELECT function_privs_are('ticket', 'enqueue', ARRAY['bigint', 'text', 'date', 'text', 'text', 'text', 'text[]', 'text'],
	'ticket_app', ARRAY['EXECUTE']);
SELECT is_definer('ticket', 'enqueue', ARRAY['bigint', 'text', 'date', 'text', 'text', 'text', 'text[]', 'text'],
	'the passenger form of enqueue runs with the owner''s rights');

-- the application role: reads the settings, changes none of them
CREATE ROLE ticket_tap_scalper LOGIN IN ROLE ticket_app;
SET LOCAL ROLE ticket_tap_scalper;
SELECT is(setting('real_names_required'), 0::numeric, 'the application role reads a setting');
SELECT throws_ok(format($$SELECT set_setting(%L, 1)$$, n), '42501', NULL, 'the application role cannot change ' || n)
FROM unnest(ARRAY['real_names_required', 'max_tickets_per_person_day', 'max_orders_per_client_run']) n;
SELECT throws_ok($$INSERT INTO ticket.setting VALUES ('max_orders_per_client_run', 0)$$, '42501', NULL,
	'nor write the settings table');
SELECT throws_ok($$UPDATE ticket.setting SET value = 0$$, '42501', NULL, 'nor update it');
-- the client is the application's to name, per transaction
SELECT lives_ok($$SELECT set_config('ticket.client', '203.0.113.5', true)$$, 'the application role names its client');
SELECT is(client(), '203.0.113.5', 'ticket.client() reads it');
RESET ROLE;

-- the administrator role changes them
CREATE ROLE ticket_tap_admin LOGIN IN ROLE ticket_admin;
SET LOCAL ROLE ticket_tap_admin;
SELECT lives_ok(format($$SELECT set_setting(%L, %s)$$, n, v), 'ticket_admin changes ' || n)
FROM (VALUES ('real_names_required', 1), ('max_tickets_per_person_day', 2), ('max_orders_per_client_run', 3)) x(n, v);
SELECT throws_ok($$SELECT set_setting('real_names_required', 2)$$, 'TK055', NULL, 'a switch is 0 or 1: TK055');
RESET ROLE;
SELECT results_eq($$SELECT setting(n) FROM unnest(ARRAY['real_names_required', 'max_tickets_per_person_day', 'max_orders_per_client_run']) n$$,
	ARRAY[1, 2, 3]::numeric[], 'the changes stand');

SELECT * FROM finish();
ROLLBACK;
