-- pgTAP: the queue and the waitlist (1.2): objects, privileges, settings,
-- and the application role using them for real.
--
-- The server of these tests has the library preloaded, as production does
-- (test/temp.conf, no queue worker): a queued request waits in shared memory
-- and no server takes it before the enqueuing transaction has committed, its
-- own transaction included.  So unlike the other files this one does not run
-- in one transaction rolled back at the end: the requests it serves are
-- committed first, and the file leaves a fresh extension behind (end of file).
SELECT plan(30);

SELECT has_table('ticket', t, 'table ticket.' || t || ' exists')
FROM unnest(ARRAY['queue_request', 'queue_head', 'waitlist']) t;
SELECT has_pk('ticket', t, 'table ticket.' || t || ' has a primary key')
FROM unnest(ARRAY['queue_request', 'queue_head', 'waitlist']) t;
SELECT has_sequence('ticket', 'queue_position_seq', 'acceptance order comes from one sequence');
SELECT has_type('ticket', 'queue_entry', 'enqueue returns a queue_entry');

SELECT ok(has_function_privilege('ticket_app', 'ticket.' || f, 'EXECUTE'), 'ticket_app may call ' || f)
FROM unnest(ARRAY['enqueue(bigint, text, date, text, text, text, text)', 'queue_status(bigint)',
	'join_waitlist(bigint, text, date, text, text, text[], timestamptz, text[])', 'waitlist_status(bigint)',
	'leave_waitlist(bigint)']) f;
SELECT ok(NOT has_function_privilege('ticket_app', 'ticket.serve_queue(bigint, integer)', 'EXECUTE'),
	'ticket_app may not serve the queue');
SELECT ok(has_function_privilege('ticket_admin', 'ticket.serve_queue(bigint, integer)', 'EXECUTE'),
	'ticket_admin may serve the queue');
SELECT ok(NOT has_function_privilege('public', 'ticket.seats_returned(bigint)', 'EXECUTE'),
	'PUBLIC may not run the waitlist hook');
SELECT ok(NOT has_table_privilege('ticket_app', 'ticket.' || t, 'INSERT, UPDATE, DELETE, TRUNCATE'),
	'ticket_app cannot write ticket.' || t)
FROM unnest(ARRAY['queue_request', 'queue_head', 'waitlist']) t;

-- the admission cap is a superuser setting, so an application cannot lift it for itself
-- (calling a C function of the extension loads the library, which defines it)
SELECT cmp_ok(ticket.queue_max_waiting(), '>', 0, 'the admission cap is set');
SELECT is((SELECT context FROM pg_settings WHERE name = 'ticket.queue_max_waiting'), 'superuser',
	'ticket.queue_max_waiting can only be changed by a superuser');

-- for real, as the application role, on the path production runs
SELECT ok(ticket.queue_batch_count(1) IS NOT NULL, 'the library is preloaded (queue wake-ups exist)');
DO $$
BEGIN
	PERFORM ticket.add_station('PQA', 'P0');
	PERFORM ticket.add_station('PQB', 'P1');
	PERFORM ticket.add_train('G7701', ARRAY['PQA', 'PQB']);
	PERFORM ticket.add_carriage('G7701', 1, 'second', 1, 'A');
	PERFORM ticket.open_sales('G7701', '2099-01-01');
END
$$;
SET ROLE ticket_app;
CREATE TEMP TABLE my_request AS SELECT * FROM ticket.enqueue(1, 'G7701', '2099-01-01', 'PQA', 'PQB');
SELECT is((SELECT status FROM my_request), 'waiting', 'the application queues a request');
SELECT is((SELECT count(*) FROM ticket.queue_request), 0::bigint,
	'it waits in shared memory: enqueue wrote no row');
SELECT is((SELECT s.ahead FROM my_request r, ticket.queue_status(r.request_id) s), 0::bigint,
	'the application follows its waiting request');
SELECT throws_ok($$INSERT INTO ticket.queue_request (run_id, user_id, legs) SELECT run_id, 2, '[0,1)' FROM ticket.run$$,
	'42501', NULL, 'the application cannot queue behind the API''s back');
SELECT throws_ok($$SELECT ticket.serve_queue()$$, '42501', NULL, 'the application cannot serve the queue');
RESET ROLE;
SELECT is(ticket.serve_queue(), 1, 'an administrator (here the superuser) serves it');
SET ROLE ticket_app;
SELECT is((SELECT s.status FROM my_request r, ticket.queue_status(r.request_id) s), 'done',
	'the application reads its answer');
SELECT throws_ok($$SELECT ticket.join_waitlist(2, 'G7701', '2099-01-01', 'PQA', 'PQB', NULL, now() - interval '1 day')$$,
	'TK022', NULL, 'a deadline in the past is refused');
RESET ROLE;

SELECT * FROM finish();

-- leave the database as this file found it: a fresh extension, no data
SET client_min_messages = warning;
DROP EXTENSION ticket CASCADE;
CREATE EXTENSION ticket CASCADE;
