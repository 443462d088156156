-- pgTAP: who can do what (README, "Roles and security"), for real.  A plain
-- login role granted ticket_admin calls every administration function that
-- README and the doc pages list; one granted ticket_app calls every
-- application function; neither can call what is not theirs; a role given
-- only ticket.passenger_masked sees passengers without their document
-- numbers.
--
-- Not one transaction, as in queue.sql: a queued request is served only
-- once its enqueue has committed.  pg_cron is created here (test/temp.conf
-- names this database in cron.database_name) and dropped at the end; the
-- file leaves a fresh extension behind and drops the roles it made.
SET client_min_messages = warning;
DROP ROLE IF EXISTS tap_roles_admin;	-- left over by an interrupted run
DROP ROLE IF EXISTS tap_roles_app;
DROP ROLE IF EXISTS tap_roles_viewer;
CREATE ROLE tap_roles_admin LOGIN IN ROLE ticket_admin;
CREATE ROLE tap_roles_app LOGIN IN ROLE ticket_app;
CREATE ROLE tap_roles_viewer LOGIN;
GRANT USAGE ON SCHEMA ticket TO tap_roles_viewer;
GRANT SELECT ON ticket.passenger_masked TO tap_roles_viewer;
CREATE EXTENSION IF NOT EXISTS pg_cron;
-- a service day a month ahead in Beijing (so refunds and changes are as for
-- trains far ahead), readable by every role below
SELECT set_config('tap.day', (ticket.beijing_now()::date + 30)::text, false);

SELECT plan(95);

-- what README and the doc pages list, by role ----------------------------------

CREATE TEMP TABLE admin_function (sig text);
INSERT INTO admin_function VALUES
	('ticket.add_station(text, text, text)'), ('ticket.add_train(text, text[], interval[], interval[])'),
	('ticket.add_carriage(text, integer, text, integer, text)'), ('ticket.add_default_layout(text)'),
	('ticket.open_sales(text, date)'), ('ticket.open_sales(date)'), ('ticket.close_sales(text, date)'),
	('ticket.expire_holds()'), ('ticket.schedule_jobs(text)'), ('ticket.unschedule_jobs()'),
	('ticket.serve_queue(bigint, integer)'), ('ticket.waiting_requests()'), ('ticket.queued_runs()'),
	('ticket.set_station_city(text, text)'), ('ticket.set_fare(text, text, text, text, numeric)'),
	('ticket.set_setting(text, numeric)'), ('ticket.set_refund_rule(interval, numeric)');
GRANT SELECT ON admin_function TO PUBLIC;
CREATE TEMP TABLE app_function (sig text);
INSERT INTO app_function VALUES
	('ticket.remaining(text, date, text, text)'), ('ticket.remaining_matrix(text, date)'),
	('ticket.grab(bigint, text, date, text, text, text, text)'), ('ticket.grab(bigint, text, date, text, text, text, text[], text)'),
	('ticket.confirm(bigint)'), ('ticket.cancel(bigint)'), ('ticket.refund(bigint)'),
	('ticket.confirm(bigint, bigint)'), ('ticket.cancel(bigint, bigint)'), ('ticket.refund(bigint, bigint)'),
	('ticket.enqueue(bigint, text, date, text, text, text, text)'), ('ticket.queue_status(bigint)'),
	('ticket.queue_wait(bigint, interval)'),
	('ticket.join_waitlist(bigint, text, date, text, text, text[], timestamptz, text[])'), ('ticket.waitlist_status(bigint)'),
	('ticket.leave_waitlist(bigint)'), ('ticket.leave_waitlist(bigint, bigint)'),
	('ticket.search(text, text, date)'), ('ticket.search_transfers(text, text, date, interval, interval, integer, interval)'),
	('ticket.add_passenger(bigint, text, text, text, text)'), ('ticket.remove_passenger(bigint, text, text)'),
	('ticket.order_tickets(bigint)'), ('ticket.refund_ticket(bigint)'), ('ticket.refund_ticket(bigint, bigint)'),
	('ticket.change_ticket(bigint, text, date, text, text, text)'), ('ticket.change_ticket(bigint, text, date, text, text, text, bigint)'),
	('ticket.fare(text, text, text, text, text)'), ('ticket.refund_fee(numeric, interval)'),
	('ticket.valid_resident_id(text)'), ('ticket.setting(text)');
SELECT is((SELECT count(*) FROM app_function WHERE has_function_privilege('tap_roles_app', sig, 'EXECUTE')
	AND has_function_privilege('tap_roles_admin', sig, 'EXECUTE')),
	30::bigint, 'the application and the administrator may call all 30 application functions');
SELECT is((SELECT count(*) FROM admin_function WHERE has_function_privilege('tap_roles_admin', sig, 'EXECUTE')),
	17::bigint, 'the administrator may call all 17 administration functions');
SELECT is((SELECT string_agg(sig, ', ') FROM admin_function WHERE has_function_privilege('tap_roles_app', sig, 'EXECUTE')),
	NULL, 'the application may call none of them');
SELECT is((SELECT string_agg(sig, ', ') FROM (TABLE admin_function UNION ALL TABLE app_function) f
	WHERE has_function_privilege('tap_roles_viewer', sig, 'EXECUTE') AND has_schema_privilege('tap_roles_viewer', 'ticket', 'USAGE')
	  AND NOT has_function_privilege('public', sig, 'EXECUTE')),
	NULL, 'a role with neither may call none of them (but remaining and remaining_matrix, which read tables it cannot)');

-- the administrator, for real ------------------------------------------------------

SET ROLE tap_roles_admin;
SELECT ok(ticket.add_station('RQA', '甲站', 'jiazhan') > 0, 'admin: add_station');
SELECT ok(ticket.add_station('RQB', '乙站') > 0 AND ticket.add_station('RQC', '丙站') > 0, 'admin: add_station, twice more');
SELECT ok(ticket.add_train('G7801', ARRAY['RQA', 'RQB', 'RQC'], ARRAY[NULL, '10:00', '11:00']::interval[],
	ARRAY['09:00', '10:02', NULL]::interval[]) > 0, 'admin: add_train');
SELECT ok(ticket.add_train('G7803', ARRAY['RQA', 'RQC'], ARRAY[NULL, '15:00']::interval[],
	ARRAY['13:00', NULL]::interval[]) > 0, 'admin: add_train (the train a ticket is changed to)');
SELECT ok(ticket.add_train('G7805', ARRAY['RQA', 'RQC'], ARRAY[NULL, '18:00']::interval[],
	ARRAY['16:00', NULL]::interval[]) > 0, 'admin: add_train (one seat, for the waitlist)');
SELECT ok(ticket.add_train('K7807', ARRAY['RQA', 'RQC']) > 0, 'admin: add_train (a train that is closed again)');
SELECT is(ticket.add_carriage('G7801', 1, 'second', 1, 'AF'), 2, 'admin: add_carriage, 2 second-class seats');
SELECT is(ticket.add_carriage('G7801', 2, 'first', 1, 'AC'), 2, 'admin: add_carriage, 2 first-class seats');
SELECT is(ticket.add_carriage('G7803', 1, 'second', 2, 'ABCDF'), 10, 'admin: add_carriage, 10 seats');
SELECT is(ticket.add_carriage('G7805', 1, 'second', 1, 'A'), 1, 'admin: add_carriage, 1 seat');
SELECT cmp_ok(ticket.add_default_layout('K7807'), '>', 0, 'admin: add_default_layout');
SELECT is(ticket.set_station_city('RQB', '乙城'), '乙城', 'admin: set_station_city');
SELECT ok(ticket.open_sales('G7801', current_setting('tap.day')::date) > 0, 'admin: open_sales(train, date)');
SELECT is(ticket.open_sales(current_setting('tap.day')::date), 4, 'admin: open_sales(date), every train of the day');
SELECT ok(ticket.close_sales('K7807', current_setting('tap.day')::date) > 0, 'admin: close_sales');
SELECT is(ticket.set_fare('G7801', 'RQA', 'RQC', 'second', 100), 100::numeric, 'admin: set_fare');
SELECT is(ticket.set_setting('max_passengers', 15), 15::numeric, 'admin: set_setting');
SELECT is(ticket.set_refund_rule('0 seconds', 0.05), 0.05, 'admin: set_refund_rule');
SELECT is(ticket.expire_holds(), 0, 'admin: expire_holds');
-- pg_cron: the administrator has no rights on its schema; the job is the
-- owner's, and only this one job can be made this way
SELECT ok(NOT has_schema_privilege('tap_roles_admin', 'cron', 'USAGE'), 'the administrator has no rights on schema cron');
SELECT set_config('tap.job', ticket.schedule_jobs()::text, false);
SELECT ok(current_setting('tap.job')::bigint > 0, 'admin: schedule_jobs');
SELECT is(ticket.schedule_jobs('*/5 * * * *'), current_setting('tap.job')::bigint, 'admin: schedule_jobs again, the same job');
RESET ROLE;
SELECT is((SELECT string_agg(concat_ws(' | ', jobname, schedule, command, database, username), E'\n') FROM cron.job),
	concat_ws(' | ', 'ticket-expire-holds', '*/5 * * * *', 'SELECT ticket.expire_holds()', current_database(), current_user),
	'one job, the sweeper, in this database, owned by the extension''s owner');
SET ROLE tap_roles_admin;
SELECT throws_ok($$SELECT cron.schedule('x', '* * * * *', 'SELECT 1')$$, '42501', NULL,
	'the administrator still cannot schedule anything else');
SELECT is(ticket.unschedule_jobs(), true, 'admin: unschedule_jobs');
SELECT is(ticket.unschedule_jobs(), false, 'admin: unschedule_jobs again, nothing left');
RESET ROLE;
SELECT is((SELECT count(*) FROM cron.job), 0::bigint, 'the job is gone');

-- the application, for real ---------------------------------------------------------

SET ROLE tap_roles_app;
SELECT results_eq($$SELECT seat_class, remaining FROM ticket.remaining('G7801', current_setting('tap.day')::date, '甲站', 'RQC') ORDER BY 1$$,
	$$VALUES ('first', 2), ('second', 2)$$, 'app: remaining');
SELECT is((SELECT count(*) FROM ticket.remaining_matrix('G7801', current_setting('tap.day')::date)), 6::bigint,
	'app: remaining_matrix, 3 journeys x 2 classes');
SELECT ok(ticket.valid_resident_id('11010519491231002X'), 'app: valid_resident_id');
SELECT is(ticket.setting('max_passengers'), 15::numeric, 'app: setting');
SELECT is(ticket.fare('G7801', 'RQA', 'RQC', 'second'), 100::numeric, 'app: fare');
SELECT is(ticket.refund_fee(100, '3 days'), 5.0, 'app: refund_fee');
SELECT ok(ticket.add_passenger(11, '11010519491231002X', '张三') > 0, 'app: add_passenger (ID card)');
SELECT ok(ticket.add_passenger(11, 'E12345678', 'Jane Roe', 'adult', 'passport') > 0, 'app: add_passenger (passport)');
SELECT ok(ticket.add_passenger(11, 'G87654321', 'John Roe', 'adult', 'passport') > 0, 'app: add_passenger (another)');
SELECT ok(ticket.remove_passenger(11, 'G87654321', 'passport'), 'app: remove_passenger');

-- one seat: grab, confirm, refund; grab, cancel
CREATE TEMP TABLE app_order AS SELECT * FROM ticket.grab(21, 'G7801', current_setting('tap.day')::date, 'RQA', 'RQC', 'first');
SELECT is((SELECT status FROM app_order), 'held', 'app: grab');
SELECT is(ticket.confirm((SELECT order_id FROM app_order)), 'paid', 'app: confirm');
SELECT is(ticket.refund((SELECT order_id FROM app_order)), 'refunded', 'app: refund');
SELECT is(ticket.cancel((SELECT order_id FROM ticket.grab(22, 'G7801', current_setting('tap.day')::date, 'RQA', 'RQC', 'first'))),
	'cancelled', 'app: cancel');
DROP TABLE app_order;

-- named passengers: grab, order_tickets, change_ticket, refund_ticket
CREATE TEMP TABLE app_group AS
SELECT * FROM ticket.grab(11, 'G7801', current_setting('tap.day')::date, 'RQA', 'RQC', 'second',
	ARRAY['11010519491231002X', 'E12345678']);
SELECT is((SELECT count(*) FROM app_group), 2::bigint, 'app: grab with passengers');
SELECT is((SELECT count(*) FROM ticket.order_tickets((SELECT min(order_id) FROM app_group))), 2::bigint, 'app: order_tickets');
SELECT is(ticket.confirm((SELECT min(order_id) FROM app_group)), 'paid', 'app: confirm the group');
CREATE TEMP TABLE app_change AS
SELECT * FROM ticket.change_ticket((SELECT min(ticket_id) FROM app_group), 'G7803', current_setting('tap.day')::date, 'RQA', 'RQC');
SELECT is((SELECT old_ticket_id FROM app_change), (SELECT min(ticket_id) FROM app_group), 'app: change_ticket');
SELECT is((SELECT status FROM ticket.tickets WHERE ticket_id = (SELECT min(ticket_id) FROM app_group)), 'changed',
	'the old ticket is changed');
SELECT is((SELECT price - fee FROM ticket.refund_ticket((SELECT max(ticket_id) FROM app_group))), 95::numeric,
	'app: refund_ticket (100 less the 5% of the rule the administrator set)');
DROP TABLE app_group, app_change;

-- the waitlist, on a sold-out one-seat train
SELECT is((SELECT status FROM ticket.grab(31, 'G7805', current_setting('tap.day')::date, 'RQA', 'RQC')), 'held',
	'app: grab the last seat');
SELECT set_config('tap.waitlist', ticket.join_waitlist(32, 'G7805', current_setting('tap.day')::date, 'RQA', 'RQC')::text, false);
SELECT ok(current_setting('tap.waitlist')::bigint > 0, 'app: join_waitlist');
SELECT is((SELECT status FROM ticket.waitlist_status(current_setting('tap.waitlist')::bigint)), 'waiting', 'app: waitlist_status');
SELECT is(ticket.leave_waitlist(current_setting('tap.waitlist')::bigint), 'cancelled', 'app: leave_waitlist');

-- search
SELECT is((SELECT string_agg(train, ' ' ORDER BY departure) FROM ticket.search('甲站', '丙站', current_setting('tap.day')::date)),
	'G7801 G7803 G7805 K7807', 'app: search');
SELECT lives_ok($$SELECT * FROM ticket.search_transfers('RQA', 'RQC', current_setting('tap.day')::date)$$, 'app: search_transfers');

-- the queue: the application queues and follows its request; the internal
-- look into shared memory is not the application's
SELECT set_config('tap.request', (ticket.enqueue(41, 'G7801', current_setting('tap.day')::date, 'RQA', 'RQC', 'first')).request_id::text, false);
SELECT ok(current_setting('tap.request')::bigint > 0, 'app: enqueue');
SELECT is((SELECT status FROM ticket.queue_status(current_setting('tap.request')::bigint)), 'waiting', 'app: queue_status');
SELECT ok(NOT has_function_privilege('ticket_app', 'ticket.queue_ring_request(bigint)', 'EXECUTE'),
	'ticket_app may not call the internal queue_ring_request');
SELECT throws_ok($$SELECT * FROM ticket.queue_ring_request(current_setting('tap.request')::bigint)$$, '42501', NULL,
	'app: reading a request in shared memory directly is refused');

-- the administrator's side of the queue
SET ROLE tap_roles_admin;
SELECT results_eq($$SELECT waiting FROM ticket.waiting_requests()$$, ARRAY[1::bigint], 'admin: waiting_requests');
SELECT results_eq($$SELECT run_id FROM ticket.queued_runs()$$,
	$$SELECT run_id FROM ticket.run JOIN ticket.train USING (train_id) WHERE code = 'G7801'$$, 'admin: queued_runs');
SELECT is(ticket.serve_queue(), 1, 'admin: serve_queue');
SET ROLE tap_roles_app;
SELECT is((SELECT status FROM ticket.queue_wait(current_setting('tap.request')::bigint, '1 second')), 'done', 'app: queue_wait');

-- and what the application may not do
SELECT throws_ok($$SELECT ticket.add_station('RQX', 'x')$$, '42501', NULL, 'app: add_station is refused');
SELECT throws_ok($$SELECT ticket.open_sales(current_setting('tap.day')::date)$$, '42501', NULL, 'app: open_sales is refused');
SELECT throws_ok($$SELECT ticket.serve_queue()$$, '42501', NULL, 'app: serve_queue is refused');
SELECT throws_ok($$SELECT ticket.queued_runs()$$, '42501', NULL, 'app: queued_runs is refused');
SELECT throws_ok($$SELECT ticket.schedule_jobs()$$, '42501', NULL, 'app: schedule_jobs is refused');
SELECT throws_ok($$SELECT ticket.expire_holds()$$, '42501', NULL, 'app: expire_holds is refused');
SELECT throws_ok($$SELECT ticket.set_setting('max_passengers', 99)$$, '42501', NULL, 'app: set_setting is refused');
SELECT throws_ok($$UPDATE ticket.passenger SET name = 'x'$$, '42501', NULL, 'app: writing a table is refused');
RESET ROLE;

-- document numbers ------------------------------------------------------------------

-- the application keeps the whole table: it names passengers by document
-- number (grab, join_waitlist, remove_passenger)
SELECT ok(has_column_privilege('ticket_app', 'ticket.passenger', 'document_no', 'SELECT'),
	'ticket_app reads full document numbers');
SELECT ok(has_table_privilege('ticket_app', 'ticket.passenger_masked', 'SELECT'), 'ticket_app reads the masked view');
SELECT ok(has_table_privilege('ticket_admin', 'ticket.passenger_masked', 'SELECT'), 'ticket_admin reads the masked view');
SELECT has_view('ticket', 'passenger_masked', 'the masked view exists');
SELECT columns_are('ticket', 'passenger_masked', ARRAY['passenger_id', 'user_id', 'document_type', 'document_no', 'name',
	'passenger_type', 'created_at', 'removed_at'], 'the masked view has the columns of ticket.passenger');
-- a role given only the view
SET ROLE tap_roles_viewer;
SELECT results_eq($$SELECT document_type, document_no, name FROM ticket.passenger_masked WHERE user_id = 11 ORDER BY passenger_id$$,
	$$VALUES ('id_card', '110105********002X', '张三'), ('passport', 'E*******8', 'Jane Roe'), ('passport', 'G*******1', 'John Roe')$$,
	'the viewer sees passengers with masked numbers: an ID card keeps its first 6 and last 4, a passport its first and last');
SELECT is((SELECT count(*) FROM ticket.passenger_masked WHERE document_no LIKE '%12345%' OR document_no LIKE '%19491231%'),
	0::bigint, 'no full number shows through the view');
SELECT throws_ok($$SELECT document_no FROM ticket.passenger$$, '42501', NULL, 'the viewer cannot read ticket.passenger');
SELECT throws_ok($$SELECT document_key FROM ticket.tickets$$, '42501', NULL, 'nor the document keys of tickets');
SELECT throws_ok($$SELECT * FROM ticket.remaining('G7801', current_setting('tap.day')::date, 'RQA', 'RQC')$$, '42501', NULL,
	'nor call the application''s functions');
RESET ROLE;
SELECT is((SELECT document_no FROM ticket.passenger_masked m WHERE m.document_no = '110105********002X'),
	'110105********002X', 'the same masked number for everyone');
SELECT is((SELECT count(*) FROM ticket.passenger_masked), (SELECT count(*) FROM ticket.passenger),
	'one row per passenger');

-- roles: exactly what README says --------------------------------------------------

SELECT ok(NOT pg_has_role('ticket_app', 'ticket_admin', 'MEMBER') AND NOT pg_has_role('ticket_admin', 'ticket_app', 'MEMBER'),
	'neither role is a member of the other');
SELECT is((SELECT string_agg(c.relname, ', ' ORDER BY c.relname) FROM pg_class c
	WHERE c.relnamespace = 'ticket'::regnamespace AND c.relkind IN ('r', 'v')
	  AND has_table_privilege('ticket_app', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')),
	NULL, 'ticket_app writes no table or view');
SELECT is((SELECT string_agg(c.relname, ', ' ORDER BY c.relname) FROM pg_class c
	WHERE c.relnamespace = 'ticket'::regnamespace AND c.relkind IN ('r', 'v')
	  AND has_table_privilege('ticket_admin', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')),
	NULL, 'ticket_admin writes no table or view directly');
SELECT is((SELECT string_agg(c.relname, ', ' ORDER BY c.relname) FROM pg_class c
	WHERE c.relnamespace = 'ticket'::regnamespace AND c.relkind IN ('r', 'v')
	  AND NOT has_table_privilege('ticket_app', c.oid, 'SELECT')
	  -- 1.7: the flagged accounts of risk control are the administrator's
	  -- (test/pgtap/risk.sql checks that ticket_app cannot read them)
	  AND c.relname <> 'risk_flagged'),
	NULL, 'ticket_app reads every table and view but risk_flagged');
SELECT ok(NOT EXISTS (
	SELECT 1 FROM pg_proc p
	WHERE p.pronamespace = 'ticket'::regnamespace AND p.prosecdef
	  AND has_function_privilege('public', p.oid, 'EXECUTE')),
	'no SECURITY DEFINER function is executable by PUBLIC');
SELECT ok((SELECT bool_and(p.prosecdef) FROM pg_proc p WHERE p.oid IN
	('ticket.schedule_jobs(text)'::regprocedure, 'ticket.unschedule_jobs()'::regprocedure, 'ticket.queue_status(bigint)'::regprocedure)),
	'schedule_jobs, unschedule_jobs and queue_status run as the owner');

-- ticket.hold_timeout is the operator's (the Perl TAP test 007 covers it end to end)
SELECT is((SELECT context FROM pg_settings WHERE name = 'ticket.hold_timeout'), 'superuser',
	'ticket.hold_timeout can only be changed by a superuser (or a role granted SET on it)');
SET ROLE tap_roles_app;
SELECT throws_ok($$SET ticket.hold_timeout = 604800$$, '42501', NULL, 'app: SET ticket.hold_timeout is refused');
SELECT throws_ok($$SELECT set_config('ticket.hold_timeout', '604800', true)$$, '42501', NULL,
	'app: set_config(ticket.hold_timeout, ..., local) is refused');
SET ROLE tap_roles_admin;
SELECT throws_ok($$SET ticket.hold_timeout = 604800$$, '42501', NULL,
	'admin: so is the administrator''s session SET (the setting is per cluster, database or role)');
RESET ROLE;

SELECT * FROM finish();

-- leave the database as this file found it: a fresh extension, no data, no pg_cron
SET client_min_messages = warning;
DROP TABLE admin_function, app_function;
DROP EXTENSION pg_cron;
DROP EXTENSION ticket CASCADE;
CREATE EXTENSION ticket CASCADE;
DROP ROLE tap_roles_admin;
DROP ROLE tap_roles_app;
DROP ROLE tap_roles_viewer;
