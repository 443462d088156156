-- pgTAP: the ticketing schema, its privileges and its documentation.
BEGIN;
SELECT plan(44);

SELECT tables_are('ticket', ARRAY['station', 'train', 'stop', 'carriage', 'seat', 'run', 'orders', 'tickets', 'run_carriage', 'queue_head', 'queue_request', 'waitlist', 'setting', 'passenger', 'user_day', 'fare', 'refund_rule', 'hot_run', 'partition_state', 'person_trip']);
SELECT has_pk('ticket', t, 'table ticket.' || t || ' has a primary key')
FROM unnest(ARRAY['station', 'train', 'stop', 'carriage', 'seat', 'run', 'orders', 'tickets']) t;
SELECT col_type_is('ticket', 'tickets', 'legs', 'ticket.segrange', 'tickets.legs is a segrange');
SELECT ok(EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'tickets_no_double_booking' AND contype = 'x'),
	'tickets carry the exclusion constraint');
SELECT ok((SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'tickets_no_double_booking')
	LIKE '%WHERE ((status = ANY (ARRAY[''held''::text, ''paid''::text])))', 'the constraint covers live tickets only');

SELECT has_function('ticket', f, 'API function ticket.' || f || ' exists')
FROM unnest(ARRAY['add_station', 'add_train', 'add_carriage', 'open_sales', 'remaining', 'grab',
	'confirm', 'cancel', 'refund', 'expire_holds', 'schedule_jobs', 'unschedule_jobs']) f;
SELECT is_definer('ticket', 'grab', ARRAY['bigint', 'text', 'date', 'text', 'text', 'text', 'text'],
	'grab runs with the owner''s rights');
SELECT ok(NOT EXISTS (
	SELECT 1 FROM pg_proc p
	WHERE p.pronamespace = 'ticket'::regnamespace AND p.prosecdef
	  AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')),
	'every SECURITY DEFINER function pins search_path');

SELECT has_role('ticket_admin');
SELECT has_role('ticket_app');

-- the application role calls the API and reads, but never writes a table
SELECT function_privs_are('ticket', 'grab', ARRAY['bigint', 'text', 'date', 'text', 'text', 'text', 'text'],
	'ticket_app', ARRAY['EXECUTE']);
SELECT function_privs_are('ticket', 'open_sales', ARRAY['text', 'date'], 'ticket_app', ARRAY[]::text[]);
SELECT ok(NOT has_table_privilege('ticket_app', 'ticket.' || t, 'INSERT, UPDATE, DELETE, TRUNCATE'),
	'ticket_app cannot write ticket.' || t)
FROM unnest(ARRAY['orders', 'tickets', 'run', 'seat', 'station']) t;
SELECT ok(has_table_privilege('ticket_app', 'ticket.tickets', 'SELECT'), 'ticket_app can read tickets');
SELECT ok(NOT has_table_privilege('ticket_admin', 'ticket.tickets', 'INSERT'), 'ticket_admin cannot write tickets directly');
SELECT ok(has_function_privilege('ticket_admin', 'ticket.open_sales(text, date)', 'EXECUTE'), 'ticket_admin opens sales');
SELECT ok(NOT has_function_privilege('public', 'ticket.expire_holds()', 'EXECUTE'), 'PUBLIC cannot sweep holds');

-- the same, for real: act as the application role
CREATE ROLE ticket_tap_app LOGIN IN ROLE ticket_app;
SET LOCAL ROLE ticket_tap_app;
SELECT throws_ok($$INSERT INTO ticket.station (code, name) VALUES ('ZZZ', 'x')$$, '42501', NULL,
	'the application role cannot insert into ticket tables');
SELECT throws_ok($$UPDATE ticket.orders SET status = 'paid'$$, '42501', NULL,
	'the application role cannot update orders');
SELECT throws_ok($$SELECT ticket.add_station('ZZZ', 'x')$$, '42501', NULL,
	'the application role cannot administer the timetable');
SELECT throws_ok($$SELECT * FROM ticket.grab(1, 'NOPE', '2026-01-01', 'A', 'B')$$, 'TK007', NULL,
	'the application role can call grab (and gets its errors)');
RESET ROLE;

-- every object users see is documented
SELECT is_empty($$
	SELECT pg_describe_object(d.classid, d.objid, d.objsubid)
	FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
	WHERE e.extname = 'ticket' AND d.deptype = 'e'
	  AND d.classid NOT IN ('pg_amop'::regclass, 'pg_amproc'::regclass, 'pg_opfamily'::regclass)
	  AND NOT (d.classid = 'pg_class'::regclass AND (SELECT relkind FROM pg_class WHERE oid = d.objid) = 'S')
	  AND obj_description(d.objid, d.classid::regclass::name) IS NULL$$,
	'every object of the extension has a COMMENT');

SELECT * FROM finish();
ROLLBACK;
