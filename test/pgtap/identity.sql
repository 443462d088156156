-- pgTAP: who the user is.  The one-argument forms of confirm, cancel,
-- refund, refund_ticket, change_ticket and leave_waitlist act on any id the
-- application gives them (it vouches for the user); their forms with a user
-- id make the database check it, and refuse another user's order, ticket or
-- waitlist request with TK057, exactly as an id that does not exist, so a
-- caller learns nothing about other users'.  Run as a login role granted
-- ticket_app.
BEGIN;
SELECT plan(47);
SET LOCAL client_min_messages = warning;

-- the forms, their rights
SELECT has_function('ticket', f, a, 'ticket.' || f || '(' || array_to_string(a, ', ') || ') exists')
FROM (VALUES ('confirm', ARRAY['bigint', 'bigint']), ('cancel', ARRAY['bigint', 'bigint']),
	('refund', ARRAY['bigint', 'bigint']), ('refund_ticket', ARRAY['bigint', 'bigint']),
	('change_ticket', ARRAY['bigint', 'text', 'date', 'text', 'text', 'text', 'bigint']),
	('leave_waitlist', ARRAY['bigint', 'bigint'])) x(f, a);
SELECT ok(has_function_privilege('ticket_app', s, 'EXECUTE') AND has_function_privilege('ticket_admin', s, 'EXECUTE')
	AND NOT has_function_privilege('public', s, 'EXECUTE'), s || ': ticket_app and ticket_admin, not PUBLIC')
FROM unnest(ARRAY['ticket.confirm(bigint, bigint)', 'ticket.cancel(bigint, bigint)', 'ticket.refund(bigint, bigint)',
	'ticket.refund_ticket(bigint, bigint)', 'ticket.change_ticket(bigint, text, date, text, text, text, bigint)',
	'ticket.leave_waitlist(bigint, bigint)']) s;
SELECT ok(NOT has_function_privilege('public', s, 'EXECUTE'), s || ' is internal')
FROM unnest(ARRAY['ticket.check_order_owner(bigint, bigint)', 'ticket.check_ticket_owner(bigint, bigint)']) s;

-- a timetable, a month ahead in Beijing
SELECT ticket.add_station('IDA', '子站'), ticket.add_station('IDB', '丑站');
SELECT ticket.add_train('G7901', ARRAY['IDA', 'IDB'], ARRAY[NULL, '11:00']::interval[], ARRAY['09:00', NULL]::interval[]);
SELECT ticket.add_train('G7903', ARRAY['IDA', 'IDB'], ARRAY[NULL, '15:00']::interval[], ARRAY['13:00', NULL]::interval[]);
SELECT ticket.add_train('G7905', ARRAY['IDA', 'IDB'], ARRAY[NULL, '18:00']::interval[], ARRAY['16:00', NULL]::interval[]);
SELECT ticket.add_carriage('G7901', 1, 'second', 4, 'ABCDF'), ticket.add_carriage('G7903', 1, 'second', 4, 'ABCDF'),
       ticket.add_carriage('G7905', 1, 'second', 1, 'A');
SELECT set_config('tap.day', (ticket.beijing_now()::date + 30)::text, true);
SELECT ticket.open_sales(current_setting('tap.day')::date);

CREATE ROLE ticket_tap_identity LOGIN IN ROLE ticket_app;
SET LOCAL ROLE ticket_tap_identity;

-- orders: user 1 has order a, user 2 has order b
CREATE TEMP TABLE o AS
SELECT 'a' AS k, order_id FROM ticket.grab(1, 'G7901', current_setting('tap.day')::date, 'IDA', 'IDB')
UNION ALL
SELECT 'b', order_id FROM ticket.grab(2, 'G7901', current_setting('tap.day')::date, 'IDA', 'IDB');
CREATE TEMP TABLE unknown AS SELECT max(order_id) + 1000 AS order_id FROM ticket.orders;

SELECT throws_ok(format('SELECT ticket.confirm(%s, 2)', order_id), 'TK057', format('user 2 has no order %s', order_id),
	'confirm(order, user): another user''s order is refused (TK057)')
FROM o WHERE k = 'a';
SELECT is((SELECT status FROM ticket.orders WHERE order_id = (SELECT order_id FROM o WHERE k = 'a')), 'held',
	'and the order is untouched');
SELECT throws_ok(format('SELECT ticket.confirm(%s, 2)', order_id), 'TK057', format('user 2 has no order %s', order_id),
	'an order that does not exist gets the same answer: nothing tells the two apart')
FROM unknown;
SELECT throws_ok(format('SELECT ticket.confirm(%s, NULL)', order_id), 'TK017', NULL, 'no user id: TK017')
FROM o WHERE k = 'a';
SELECT is(ticket.confirm(order_id, 1), 'paid', 'confirm(order, user): the user''s own order is paid') FROM o WHERE k = 'a';
SELECT is(ticket.confirm(order_id, 1), 'paid', 'and again: idempotent, as confirm(order)') FROM o WHERE k = 'a';

SELECT throws_ok(format('SELECT ticket.cancel(%s, 1)', order_id), 'TK057', NULL,
	'cancel(order, user): another user''s order is refused')
FROM o WHERE k = 'b';
SELECT is((SELECT status FROM ticket.orders WHERE order_id = (SELECT order_id FROM o WHERE k = 'b')), 'held',
	'and the order is untouched');
SELECT throws_ok(format('SELECT ticket.cancel(%s, 1)', order_id), 'TK057', NULL, 'cancel: an unknown order alike') FROM unknown;
SELECT is(ticket.cancel(order_id, 2), 'cancelled', 'cancel(order, user): the user''s own order') FROM o WHERE k = 'b';

SELECT throws_ok(format('SELECT ticket.refund(%s, 2)', order_id), 'TK057', NULL,
	'refund(order, user): another user''s order is refused')
FROM o WHERE k = 'a';
SELECT is((SELECT status FROM ticket.orders WHERE order_id = (SELECT order_id FROM o WHERE k = 'a')), 'paid',
	'and the order stays paid');
SELECT throws_ok(format('SELECT ticket.refund(%s, 2)', order_id), 'TK057', NULL, 'refund: an unknown order alike') FROM unknown;
SELECT is(ticket.refund(order_id, 1), 'refunded', 'refund(order, user): the user''s own order') FROM o WHERE k = 'a';
-- the errors of the one-argument forms come through the checked ones
SELECT throws_ok(format('SELECT ticket.refund(%s, 2)', order_id), 'TK005', NULL,
	'a cancelled order of the user''s own: TK005, as refund(order) says')
FROM o WHERE k = 'b';

-- tickets: user 1's passenger travels; user 2 tries to refund and change it
SELECT ticket.add_passenger(1, '11010519491231002X', '张三'), ticket.add_passenger(1, 'E12345678', 'Jane Roe', 'adult', 'passport');
CREATE TEMP TABLE t AS
SELECT ticket_id, order_id FROM ticket.grab(1, 'G7901', current_setting('tap.day')::date, 'IDA', 'IDB', 'second',
	ARRAY['11010519491231002X', 'E12345678']);
SELECT is(ticket.confirm(min(order_id), 1), 'paid', 'user 1 pays for two passengers') FROM t;
CREATE TEMP TABLE unknown_ticket AS SELECT max(ticket_id) + 1000 AS ticket_id FROM ticket.tickets;

SELECT throws_ok(format('SELECT * FROM ticket.refund_ticket(%s, 2)', min(ticket_id)), 'TK057',
	format('user 2 has no ticket %s', min(ticket_id)), 'refund_ticket(ticket, user): another user''s ticket is refused')
FROM t;
SELECT throws_ok(format('SELECT * FROM ticket.refund_ticket(%s, 2)', ticket_id), 'TK057',
	format('user 2 has no ticket %s', ticket_id), 'a ticket that does not exist gets the same answer (not TK051)')
FROM unknown_ticket;
SELECT throws_ok(format('SELECT * FROM ticket.refund_ticket(%s, NULL)', min(ticket_id)), 'TK017', NULL, 'no user id: TK017') FROM t;
SELECT throws_ok(format($$SELECT * FROM ticket.change_ticket(%s, 'G7903', %L, 'IDA', 'IDB', NULL, 2)$$,
	min(ticket_id), current_setting('tap.day')), 'TK057', NULL, 'change_ticket(..., user): another user''s ticket is refused')
FROM t;
SELECT throws_ok(format($$SELECT * FROM ticket.change_ticket(%s, 'G7903', %L, 'IDA', 'IDB', NULL, 2)$$,
	ticket_id, current_setting('tap.day')), 'TK057', NULL, 'change_ticket: an unknown ticket alike')
FROM unknown_ticket;
SELECT is((SELECT string_agg(status, ' ') FROM ticket.tickets WHERE order_id = (SELECT min(order_id) FROM t)), 'paid paid',
	'both tickets are untouched');

RESET ROLE;
SELECT set_config('tap.fee', ticket.refund_fee(price, lower(travel) - ticket.beijing_now())::text, true)
FROM ticket.tickets WHERE ticket_id = (SELECT max(ticket_id) FROM t);
SET LOCAL ROLE ticket_tap_identity;
SELECT is((SELECT fee FROM ticket.refund_ticket((SELECT max(ticket_id) FROM t), 1)), current_setting('tap.fee')::numeric,
	'refund_ticket(ticket, user): the user''s own ticket is refunded');
SELECT is((SELECT status FROM ticket.tickets WHERE ticket_id = (SELECT max(ticket_id) FROM t)), 'refunded', 'it is refunded');
SELECT is((SELECT count(*) FROM ticket.change_ticket((SELECT min(ticket_id) FROM t), 'G7903', current_setting('tap.day')::date,
	'IDA', 'IDB', NULL, 1)), 1::bigint, 'change_ticket(..., NULL class, user): the user''s own ticket, same class');
SELECT is((SELECT s.seat_class::text FROM ticket.tickets k JOIN ticket.seat s USING (seat_id)
	WHERE k.changed_from = (SELECT min(ticket_id) FROM t)), 'second', 'the new ticket keeps the class');
SELECT throws_ok(format($$SELECT * FROM ticket.change_ticket(ticket_id => %s, train => 'G7901', service_date => %L,
	from_station => 'IDA', to_station => 'IDB', seat_class => NULL, user_id => 1)$$,
	min(ticket_id), current_setting('tap.day')), 'TK049', NULL, 'named arguments; the one-argument form''s errors come through (TK049)')
FROM t;

-- the waitlist
SELECT is((SELECT status FROM ticket.grab(5, 'G7905', current_setting('tap.day')::date, 'IDA', 'IDB')), 'held', 'G7905 sold out');
SELECT set_config('tap.w', ticket.join_waitlist(1, 'G7905', current_setting('tap.day')::date, 'IDA', 'IDB')::text, true);
SELECT throws_ok(format('SELECT ticket.leave_waitlist(%s, 2)', current_setting('tap.w')), 'TK057',
	format('user 2 has no waitlist request %s', current_setting('tap.w')), 'leave_waitlist(id, user): another user''s request is refused');
SELECT throws_ok(format('SELECT ticket.leave_waitlist(%s, 2)', current_setting('tap.w')::bigint + 1000), 'TK057', NULL,
	'an unknown request alike');
SELECT is((SELECT status FROM ticket.waitlist_status(current_setting('tap.w')::bigint)), 'waiting', 'the request still waits');
SELECT is(ticket.leave_waitlist(current_setting('tap.w')::bigint, 1), 'cancelled', 'leave_waitlist(id, user): the user''s own');

-- the one-argument forms still trust the application
SELECT is(ticket.cancel((SELECT order_id FROM ticket.orders WHERE user_id = 5)), 'cancelled',
	'cancel(order) acts on the id it is given, whoever''s it is');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
