-- pgTAP: risk signals (issue 14).  Only ticket_admin changes the risk
-- settings and reads the view of flagged accounts; the application reads a
-- level and reports a passed captcha; the counters' own functions are
-- internal.
BEGIN;
SELECT plan(27);
SET LOCAL search_path = ticket, public;
SET LOCAL client_min_messages = warning;

SELECT has_function('ticket', f, 'API function ticket.' || f || ' exists')
FROM unnest(ARRAY['risk', 'captcha_passed']) f;
SELECT has_view('ticket', 'risk_flagged', 'view ticket.risk_flagged exists');
SELECT function_privs_are('ticket', f, ARRAY['bigint'], 'ticket_app', ARRAY['EXECUTE'])
FROM unnest(ARRAY['risk', 'captcha_passed']) f;
SELECT function_privs_are('ticket', 'set_setting', ARRAY['text', 'numeric'], 'ticket_app', ARRAY[]::text[]);
SELECT function_privs_are('ticket', 'set_setting', ARRAY['text', 'numeric'], 'ticket_admin', ARRAY['EXECUTE']);
SELECT table_privs_are('ticket', 'risk_flagged', 'ticket_app', ARRAY[]::text[], 'ticket_app cannot read the flagged accounts');
SELECT table_privs_are('ticket', 'risk_flagged', 'ticket_admin', ARRAY['SELECT'], 'ticket_admin reads the flagged accounts');
SELECT ok(NOT has_function_privilege(r, f, 'EXECUTE'), r || ' cannot call the internal ' || f)
FROM unnest(ARRAY['ticket_app', 'public']) r,
	unnest(ARRAY['ticket.risk_attempt(bigint, text, text[], integer)', 'ticket.risk_note(text, bigint, text, text[])',
	             'ticket.risk_captcha_passed(bigint)', 'ticket.risk_settings_changed()']) f;

-- the application: reads levels, cannot change a threshold nor turn risk off
SET LOCAL ROLE ticket_app;
SELECT is(ticket.risk(1), 'none', 'ticket_app reads a level');
SELECT is(ticket.captcha_passed(1), 'none', 'ticket_app reports a passed captcha');
SELECT throws_ok($$SELECT ticket.set_setting('risk_checks', 0)$$, '42501', NULL,
	'ticket_app cannot turn risk checks off');
SELECT throws_ok($$SELECT ticket.set_setting('risk_block_grabs_per_minute', 10000)$$, '42501', NULL,
	'ticket_app cannot raise a blocking threshold');
SELECT throws_ok($$INSERT INTO ticket.setting VALUES ('risk_checks', 0)$$, '42501', NULL,
	'ticket_app cannot write the settings table');
SELECT throws_ok($$SELECT * FROM ticket.risk_flagged$$, '42501', NULL, 'ticket_app cannot read the flagged accounts');
RESET ROLE;

-- the administrator changes them and reads the view
SET LOCAL ROLE ticket_admin;
SELECT lives_ok($$SELECT ticket.set_setting('risk_checks', 1)$$, 'ticket_admin turns risk checks on');
SELECT lives_ok($$SELECT ticket.set_setting('risk_block_grabs_per_minute', 500)$$, 'ticket_admin sets a threshold');
SELECT is(ticket.setting('risk_block_grabs_per_minute'), 500::numeric, 'the threshold is set');
SELECT lives_ok($$SELECT count(*) FROM ticket.risk_flagged$$, 'ticket_admin reads the flagged accounts');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
