-- pgTAP: real-name tickets (1.4).  Each rule of the feature and each of its
-- SQLSTATEs, the constraints that enforce them, and the privileges.
BEGIN;
SELECT plan(75);
SET LOCAL search_path = ticket, public;
SET LOCAL client_min_messages = warning;

-- schema: the constraints that hold the rules
SELECT has_table('ticket', t, 'table ticket.' || t || ' exists')
FROM unnest(ARRAY['passenger', 'fare', 'setting', 'user_day', 'refund_rule']) t;
SELECT ok(EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'tickets_one_place_at_a_time' AND contype = 'x'),
	'tickets carry the one-place-at-a-time exclusion constraint');
SELECT matches((SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'tickets_one_place_at_a_time'),
	'EXCLUDE USING gist \(document_key WITH =, travel WITH &&\) WHERE \(\(\(status = ANY .*held.*paid.*document_key IS NOT NULL',
	'it compares the person and the travel time of live tickets');
SELECT col_type_is('ticket', 'tickets', 'travel', 'tsrange', 'tickets.travel is a tsrange');
SELECT ok(EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'passenger_document_valid' AND contype = 'c'),
	'passengers carry the ID number check');
SELECT index_is_unique('ticket', 'tickets', 'tickets_changed_from_key', 'a ticket is replaced by at most one change');

-- API and privileges
SELECT has_function('ticket', f, 'API function ticket.' || f || ' exists')
FROM unnest(ARRAY['add_passenger', 'remove_passenger', 'order_tickets', 'refund_ticket', 'change_ticket',
	'fare', 'set_fare', 'refund_fee', 'set_refund_rule', 'setting', 'set_setting']) f;
SELECT has_function('ticket', 'grab', ARRAY['bigint', 'text', 'date', 'text', 'text', 'text', 'text[]', 'text'],
	'grab has the passenger form');
SELECT is_definer('ticket', 'grab', ARRAY['bigint', 'text', 'date', 'text', 'text', 'text', 'text[]', 'text'],
	'the passenger form runs with the owner''s rights');
SELECT function_privs_are('ticket', 'grab', ARRAY['bigint', 'text', 'date', 'text', 'text', 'text', 'text[]', 'text'],
	'ticket_app', ARRAY['EXECUTE']);
SELECT function_privs_are('ticket', 'change_ticket', ARRAY['bigint', 'text', 'date', 'text', 'text', 'text'],
	'ticket_app', ARRAY['EXECUTE']);
SELECT function_privs_are('ticket', 'set_fare', ARRAY['text', 'text', 'text', 'text', 'numeric'], 'ticket_app', ARRAY[]::text[]);
SELECT function_privs_are('ticket', 'set_setting', ARRAY['text', 'numeric'], 'ticket_app', ARRAY[]::text[]);
SELECT ok(NOT has_function_privilege('public', 'ticket.place_group(bigint, integer, ticket.segrange, ticket.seat_class, integer, text)', 'EXECUTE'),
	'PUBLIC cannot call the internal group search');
SELECT ok(NOT has_table_privilege('ticket_app', 'ticket.' || t, 'INSERT, UPDATE, DELETE'), 'ticket_app cannot write ticket.' || t)
FROM unnest(ARRAY['passenger', 'fare', 'setting', 'user_day', 'refund_rule']) t;

-- a timetable
SELECT add_station('VNP', '北京南'), add_station('AOH', '上海虹桥');
SELECT add_train('G1', ARRAY['VNP', 'AOH'], ARRAY[NULL, '13:28']::interval[], ARRAY['09:00', NULL]::interval[]);
SELECT add_train('G3', ARRAY['VNP', 'AOH'], ARRAY[NULL, '14:30']::interval[], ARRAY['10:00', NULL]::interval[]);
SELECT add_train('K9', ARRAY['VNP', 'AOH'], ARRAY[NULL, '13:00']::interval[], ARRAY['08:00', NULL]::interval[]);
SELECT add_carriage('G1', 1, 'second', 2, 'ABCDF'), add_carriage('G3', 1, 'second', 1, 'A'),
       add_carriage('K9', 1, 'hard_sleeper', 2, 'ABCDEF');
-- Service days a month after Beijing's today (beijing_now() + 30 .. 32):
-- whenever this runs, refunds and changes on them are as for trains far
-- ahead (free 8 days or more ahead, far from the 48-hour rule and from
-- departure).  The file is one transaction, so beijing_now() is one instant
-- throughout: the days, and the daily limits below, cannot move with Beijing
-- midnight.
SELECT open_sales(beijing_now()::date + 30), open_sales(beijing_now()::date + 31), open_sales(beijing_now()::date + 32);

-- passengers and ID numbers (as the application role)
CREATE ROLE ticket_tap_pax LOGIN IN ROLE ticket_app;
SET LOCAL ROLE ticket_tap_pax;
SELECT lives_ok($$SELECT add_passenger(1, '11010519491231002x', '张三')$$, 'a valid ID number is accepted (lower-case x too)');
SELECT throws_ok($$SELECT add_passenger(1, '110105194912310021', 'x')$$, 'TK040', NULL, 'a wrong check digit: TK040');
SELECT throws_ok($$SELECT add_passenger(1, '110105194913310025', 'x')$$, 'TK040', NULL, 'a birth month 13: TK040');
SELECT lives_ok($$SELECT add_passenger(1, 'E12345678', 'Jane Roe', 'student', 'passport')$$, 'a passport is taken without the ID check');
SELECT throws_ok($$SELECT add_passenger(1, '11010519491231002X', '张三')$$, 'TK052', NULL, 'the same passenger twice: TK052');
SELECT throws_ok($$SELECT add_passenger(1, '310101198506152345', 'x', 'baby')$$, 'TK054', NULL, 'an unknown passenger type: TK054');
SELECT lives_ok($$SELECT add_passenger(1, '110101201003151233', '李四', 'child')$$, 'a child');
SELECT throws_ok($$SELECT remove_passenger(1, '420103199505057779')$$, 'TK042', NULL, 'removing an unknown passenger: TK042');
SELECT throws_ok($$INSERT INTO ticket.passenger (user_id, document_type, document_no, name, passenger_type)
	VALUES (1, 'id_card', '1', 'x', 'adult')$$, '42501', NULL, 'the application role cannot write passengers');
SELECT ok(fare('G1', 'VNP', 'AOH', 'second', 'child') > 0, 'the application role can ask for a fare');
SELECT is(refund_fee(100, '3 days'), 5.0, 'the application role can ask for a refund fee');
SELECT throws_ok($$SELECT set_fare('G1', 'VNP', 'AOH', 'second', 100)$$, '42501', NULL, 'the application role cannot load fares');
RESET ROLE;
SELECT set_setting('max_passengers', 3);
SELECT throws_ok($$SELECT add_passenger(1, '310101198506152345', '赵六')$$, 'TK041', NULL, 'more than the cap: TK041');
SELECT throws_ok($$SELECT set_setting('max_passengers', -2)$$, 'TK055', NULL, 'a negative setting: TK055');

-- orders with passengers
SELECT is((SELECT count(*)::integer FROM grab(1, 'G1', beijing_now()::date + 30, 'VNP', 'AOH', 'second',
	ARRAY['11010519491231002X', '110101201003151233', 'E12345678'])), 3, 'three passengers, three tickets');
SELECT results_eq($$SELECT s.seat_no FROM tickets t JOIN seat s USING (seat_id) ORDER BY 1$$,
	ARRAY['01A', '01B', '01C'], 'a group of three gets A-B-C of one row');
SELECT is((SELECT total FROM orders WHERE user_id = 1), (SELECT sum(price) FROM tickets), 'the order total is the sum of the prices');
SELECT is((SELECT price FROM tickets t JOIN passenger p USING (passenger_id) WHERE p.name = '李四') * 2,
	(SELECT price FROM tickets t JOIN passenger p USING (passenger_id) WHERE p.name = '张三'), 'a child pays half');
SELECT is((SELECT price FROM tickets t JOIN passenger p USING (passenger_id) WHERE p.name = 'Jane Roe'),
	fare('G1', 'VNP', 'AOH', 'second', 'student'), 'a student pays the student fare');
SELECT throws_ok($$SELECT * FROM grab(1, 'G1', beijing_now()::date + 30, 'VNP', 'AOH', 'second', ARRAY['11010519491231002X', '11010519491231002X'])$$,
	'TK044', NULL, 'the same passenger twice in an order: TK044');
SELECT throws_ok($$SELECT * FROM grab(1, 'G1', beijing_now()::date + 30, 'VNP', 'AOH', 'second', ARRAY['a', 'b', 'c', 'd', 'e', 'f'])$$,
	'TK044', NULL, 'six passengers: TK044');
SELECT throws_ok($$SELECT * FROM grab(2, 'G1', beijing_now()::date + 30, 'VNP', 'AOH', 'second', ARRAY['11010519491231002X'])$$,
	'TK042', NULL, 'a passenger of another account: TK042');
SELECT throws_ok($$SELECT * FROM grab(1, 'G3', beijing_now()::date + 30, 'VNP', 'AOH', 'second', ARRAY['11010519491231002X'])$$,
	'TK043', NULL, 'a passenger already travelling then: TK043');
SELECT throws_ok($$SELECT * FROM grab(1, 'G1', beijing_now()::date + 30, 'VNP', 'AOH', 'second', ARRAY['11010519491231002X'], 'Z')$$,
	'TK045', NULL, 'an invalid seat letter: TK045');
SELECT throws_ok($$SELECT * FROM grab(1, 'K9', beijing_now()::date + 31, 'VNP', 'AOH', 'hard_sleeper', ARRAY['11010519491231002X'], 'A')$$,
	'TK046', NULL, 'seat choice on a K train: TK046');
SELECT throws_ok($$SELECT remove_passenger(1, '11010519491231002X')$$, 'TK053', NULL, 'a passenger with live tickets stays: TK053');
SELECT is((SELECT status FROM grab(5, 'G1', beijing_now()::date + 30, 'VNP', 'AOH', 'second', 'a-request-id')), 'held',
	'a 7th text argument still means the single-seat form''s request id');

-- daily limits
SELECT set_setting('max_cancels_per_day', 1);
SELECT add_passenger(7, '420103199505057779', '孙八');
SELECT cancel((SELECT order_id FROM grab(7, 'G1', beijing_now()::date + 31, 'VNP', 'AOH', 'second', ARRAY['420103199505057779']) LIMIT 1));
SELECT throws_ok($$SELECT * FROM grab(7, 'G1', beijing_now()::date + 31, 'VNP', 'AOH', 'second', ARRAY['420103199505057779'])$$,
	'TK047', NULL, 'the daily cancel limit: TK047');
SELECT set_setting('max_orders_per_day', 1);
SELECT add_passenger(8, '320102199202026668', '周九');
SELECT lives_ok($$SELECT * FROM grab(8, 'G1', beijing_now()::date + 31, 'VNP', 'AOH', 'second', ARRAY['320102199202026668'])$$, 'a first order');
SELECT throws_ok($$SELECT * FROM grab(8, 'K9', beijing_now()::date + 32, 'VNP', 'AOH', 'hard_sleeper', ARRAY['320102199202026668'])$$,
	'TK048', NULL, 'the daily order limit: TK048');

-- fares and refund fees
SELECT set_fare('G1', 'VNP', 'AOH', 'second', 600);
SELECT is(fare('G1', 'VNP', 'AOH', 'second', 'child'), 300.0, 'a loaded fare, half for a child');
SELECT throws_ok($$SELECT set_fare('G1', 'VNP', 'AOH', 'second', 1.2)$$, 'TK055', NULL, 'a fare not in 0.5 yuan: TK055');
SELECT is(refund_fee(100, '10 days'), 0.0, 'free 8 days or more before departure');
SELECT is(refund_fee(100, '3 days'), 5.0, '5% from 48 hours');
SELECT is(refund_fee(100, '30 hours'), 10.0, '10% from 24 hours');
SELECT is(refund_fee(100, '2 hours'), 20.0, '20% under 24 hours');
SELECT is(refund_fee(20, '3 days'), 2.0, 'at least 2 yuan');

-- refunds and changes (G3 sold out first)
SELECT grab(9, 'G3', beijing_now()::date + 30, 'VNP', 'AOH');
SELECT confirm(order_id) FROM orders WHERE user_id = 1;
SELECT is((SELECT fee FROM refund_ticket((SELECT min(ticket_id) FROM tickets t JOIN passenger p USING (passenger_id) WHERE p.name = 'Jane Roe'))),
	0.0, 'a refund a month ahead keeps no fee');
SELECT is((SELECT to_pay FROM change_ticket((SELECT min(ticket_id) FROM tickets t JOIN passenger p USING (passenger_id) WHERE p.name = '张三'),
	'K9', beijing_now()::date + 31, 'VNP', 'AOH', 'hard_sleeper')) < 0, true, 'a change to a cheaper train pays back');
SELECT throws_ok($$SELECT * FROM change_ticket((SELECT max(ticket_id) FROM tickets t JOIN passenger p USING (passenger_id) WHERE p.name = '张三'),
	'G1', beijing_now()::date + 30, 'VNP', 'AOH', 'second')$$, 'TK049', NULL, 'a change is allowed once: TK049');
SELECT throws_ok($$SELECT * FROM change_ticket((SELECT min(ticket_id) FROM tickets t JOIN passenger p USING (passenger_id) WHERE p.name = '李四'),
	'G3', beijing_now()::date + 30, 'VNP', 'AOH', 'second')$$, 'TK001', NULL, 'a change to a sold-out train: TK001');
SELECT is((SELECT status FROM tickets t JOIN passenger p USING (passenger_id) WHERE p.name = '李四'), 'paid',
	'... and the old ticket is untouched');

SELECT * FROM finish();
ROLLBACK;
