-- Real-name tickets (1.4): passengers and ID numbers, the one-place-at-a-time
-- rule, group orders and seat letters, fares, daily limits, refund fees and
-- ticket changes.  Every failure shows its SQLSTATE.
SET client_min_messages = warning;
-- a fresh extension: ticket numbers and seats in this file start from 1
DROP EXTENSION IF EXISTS ticket CASCADE;
CREATE EXTENSION ticket CASCADE;
SET search_path = ticket, public;
SET TimeZone = 'UTC';

\i test/regress_helpers.sql

-- The service days of this file, D1 .. D5, a month and more ahead of
-- Beijing's today, fixed once here: whenever this file runs, every rule that
-- compares a departure with the clock (free refunds 8 days or more ahead, the
-- 48-hour change rule, a train that has left) answers as for a train far
-- ahead, with weeks to spare before any of its boundaries.  Results and
-- messages show these days as D1 .. D5 (regress_undated), not as dates.
CREATE TEMP TABLE regress_days AS SELECT n, beijing_now()::date + 29 + n AS day FROM generate_series(1, 5) n;
CREATE OR REPLACE FUNCTION public.regress_day(n integer) RETURNS date
LANGUAGE sql STABLE AS $$ SELECT d.day FROM regress_days d WHERE d.n = regress_day.n $$;
CREATE OR REPLACE FUNCTION public.regress_undated(t text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
	d record;
BEGIN
	FOR d IN SELECT * FROM regress_days LOOP
		-- timestamps as DateStyle Postgres shows them (Tue Jan 01 09:00:00 YYYY), and dates (MM-DD-YYYY)
		t := regexp_replace(t, to_char(d.day, 'Dy Mon DD') || ' (\d\d:\d\d:\d\d) ' || to_char(d.day, 'YYYY'),
			'D' || d.n || ' \1', 'g');
		t := replace(t, to_char(d.day, 'MM-DD-YYYY'), 'D' || d.n);
	END LOOP;
	RETURN t;
END
$$;

-- a timetable: G1 and G3 overlap in time, G5 runs later the same day, K9
-- has no times
SELECT add_station('VNP', '北京南') > 0, add_station('JGK', '济南西') > 0,
       add_station('NKH', '南京南') > 0, add_station('AOH', '上海虹桥') > 0;
SELECT add_train('G1', ARRAY['VNP', 'JGK', 'NKH', 'AOH'],
	ARRAY[NULL, '10:22', '12:24', '13:28']::interval[], ARRAY['09:00', '10:24', '12:26', NULL]::interval[]) > 0 AS g1,
       add_train('G3', ARRAY['VNP', 'AOH'], ARRAY[NULL, '14:30']::interval[], ARRAY['10:00', NULL]::interval[]) > 0 AS g3,
       add_train('G5', ARRAY['VNP', 'AOH'], ARRAY[NULL, '19:28']::interval[], ARRAY['15:00', NULL]::interval[]) > 0 AS g5,
       add_train('K9', ARRAY['VNP', 'AOH']) > 0 AS k9;
SELECT add_carriage('G1', 1, 'business', 2, 'ACF'), add_carriage('G1', 2, 'first', 2, 'ACDF'),
       add_carriage('G1', 3, 'second', 3, 'ABCDF'), add_carriage('G1', 4, 'second', 3, 'ABCDF');
SELECT add_carriage('G3', 1, 'second', 1, 'ABCDF'), add_carriage('G5', 1, 'second', 2, 'ABCDF'),
       add_carriage('K9', 1, 'hard_sleeper', 2, 'ABCDEF');
SELECT open_sales('G1', regress_day(1)) > 0, open_sales('G3', regress_day(1)) > 0,
       open_sales('G5', regress_day(1)) > 0, open_sales('K9', regress_day(1)) > 0;

-- ID numbers ------------------------------------------------------------------

SELECT d, valid_resident_id(d) FROM (VALUES
	('11010519491231002X'),	-- well formed
	('110105194912310021'),	-- wrong check digit
	('110105194902300025'),	-- 30 February
	('11010519491231002'),	-- 17 characters
	('11010519491231002x'),	-- lower case x: add_passenger upper-cases first
	('A10105194912310028')) v(d);

SELECT add_passenger(1, '11010519491231002x', '张三') AS zhang,
       add_passenger(1, '110101201003151233', '李四', 'child') AS li,
       add_passenger(1, '440304199001011233', '王五', 'student') AS wang,
       add_passenger(1, 'E12345678', 'John Smith', 'adult', 'passport') AS smith;
SELECT user_id, document_type, document_no, name, passenger_type FROM passenger ORDER BY passenger_id;
SELECT regress_error($$SELECT add_passenger(1, '110105194912310021', 'x')$$);
SELECT regress_error($$SELECT add_passenger(1, '110105194902300025', 'x')$$);
SELECT regress_error($$SELECT add_passenger(1, '1101051949123100', 'x')$$);
SELECT regress_error($$SELECT add_passenger(1, 'E1', 'x', 'adult', 'passport')$$);
SELECT regress_error($$SELECT add_passenger(1, '11010519491231002X', '张三')$$);
SELECT regress_error($$SELECT add_passenger(1, '310101198506152345', 'x', 'infant')$$);
SELECT regress_error($$SELECT add_passenger(1, '310101198506152345', 'x', 'adult', 'library_card')$$);
SELECT regress_error($$SELECT add_passenger(1, '310101198506152345', ' ')$$);
SELECT regress_error($$SELECT add_passenger(NULL, '310101198506152345', 'x')$$);
-- the table refuses a bad ID number even from a superuser
SELECT split_part(regress_error($$INSERT INTO passenger (user_id, document_type, document_no, name, passenger_type)
	VALUES (1, 'id_card', '110105194912310021', 'x', 'adult')$$), E'\n', 1) AS refused;
-- the cap on passengers per account (15 on 12306; 5 here)
SELECT set_setting('max_passengers', 5);
SELECT add_passenger(1, '310101198506152345', '赵六') > 0 AS fifth;
SELECT regress_error($$SELECT add_passenger(1, '510104200010103458', '钱七')$$);
SELECT remove_passenger(1, '310101198506152345') AS removed;
SELECT add_passenger(1, '510104200010103458', '钱七') > 0 AS fifth_again;
SELECT regress_error($$SELECT remove_passenger(1, '310101198506152345')$$);
SELECT regress_error($$SELECT set_setting('max_passengers', -1)$$);
SELECT regress_error($$SELECT set_setting('max_luggage', 3)$$);
DELETE FROM setting;
-- another account may add the same person
SELECT add_passenger(2, '11010519491231002X', '张三') > 0 AS same_person_other_account;

-- fares -----------------------------------------------------------------------

-- the default rule: running hours times the class's rate, to 0.5 yuan
SELECT fare('G1', 'VNP', 'AOH', 'second') AS g1_second, fare('G1', 'VNP', 'AOH', 'first') AS g1_first,
       fare('G1', 'VNP', 'AOH', 'business') AS g1_business, fare('G1', 'VNP', 'JGK', 'second') AS g1_short,
       fare('K9', 'VNP', 'AOH', 'hard_sleeper') AS k9_untimed;
-- a loaded fare wins; children half, students 75% in second class, full in first
SELECT set_fare('G1', 'VNP', 'AOH', 'second', 553);
SELECT t AS passenger_type, fare('G1', 'VNP', 'AOH', 'second', t) AS second, fare('G1', 'VNP', 'AOH', 'first', t) AS first,
       fare('K9', 'VNP', 'AOH', 'hard_sleeper', t) AS hard_sleeper
FROM unnest(ARRAY['adult', 'child', 'student', 'disabled_soldier']) t;
SELECT regress_error($$SELECT set_fare('G1', 'VNP', 'AOH', 'second', 10.3)$$);
SELECT regress_error($$SELECT set_fare('G1', 'VNP', 'AOH', 'second', 0)$$);
SELECT regress_error($$SELECT set_fare('G1', 'AOH', 'VNP', 'second', 10)$$);
SELECT regress_error($$SELECT fare('G1', 'VNP', 'AOH', 'second', 'pet')$$);

-- group orders ----------------------------------------------------------------

-- three passengers: one row, A-B-C, each ticket priced, the order's total
SELECT order_id, passenger, passenger_type, carriage, seat_no, regress_undated(departs::text) AS departs, regress_undated(arrives::text) AS arrives, price, total, status,
       placement, seats_as_asked
FROM grab(1, 'G1', regress_day(1), 'VNP', 'AOH', 'second',
	ARRAY['11010519491231002X', '110101201003151233', '440304199001011233']);
-- two more: the D-F side of the same row
SELECT add_passenger(3, '420103199505057779', '孙八') > 0, add_passenger(3, '320102199202026668', '周九') > 0;
SELECT carriage, seat_no, placement FROM grab(3, 'G1', regress_day(1), 'VNP', 'AOH', 'second',
	ARRAY['420103199505057779', '320102199202026668']);
-- seat letters: two window seats A and F
SELECT add_passenger(4, '110101198001015559', '吴十') > 0, add_passenger(4, 'E7654321', 'Jane Roe', 'adult', 'passport') > 0;
SELECT passenger, carriage, seat_no, placement, seats_as_asked FROM grab(4, 'G1', regress_day(1), 'VNP', 'AOH', 'second',
	ARRAY['110101198001015559', 'E7654321'], 'af');
-- the single-seat form still answers a 7th text argument (a request id)
SELECT seat_no, seat_class, status FROM grab(9, 'G1', regress_day(1), 'VNP', 'AOH', 'second', 'req-9');
SELECT request_id, total IS NULL AS unpriced FROM orders WHERE user_id = 9;
SELECT count(*) AS tickets, count(passenger_id) AS named FROM tickets;

-- the list of passengers and the seat letters are checked
SELECT regress_error($$SELECT * FROM grab(5, 'G1', regress_day(1), 'VNP', 'AOH', 'second', ARRAY[]::text[])$$);
SELECT regress_error($$SELECT * FROM grab(5, 'G1', regress_day(1), 'VNP', 'AOH', 'second', ARRAY['1','2','3','4','5','6'])$$);
SELECT regress_error($$SELECT * FROM grab(5, 'G1', regress_day(1), 'VNP', 'AOH', 'second', ARRAY['E7654321', 'e7654321'])$$);
SELECT regress_error($$SELECT * FROM grab(5, 'G1', regress_day(1), 'VNP', 'AOH', 'second', ARRAY['E7654321', NULL])$$);
SELECT regress_error($$SELECT * FROM grab(5, 'G1', regress_day(1), 'VNP', 'AOH', 'second', ARRAY['E7654321'])$$);
SELECT regress_error($$SELECT * FROM grab(5, 'G1', regress_day(1), 'VNP', 'AOH', NULL, ARRAY['E7654321'])$$);
SELECT add_passenger(5, '110101198001015559', '吴十') > 0;
SELECT regress_error($$SELECT * FROM grab(5, 'G1', regress_day(1), 'VNP', 'AOH', 'first', ARRAY['110101198001015559'], 'B')$$);
SELECT regress_error($$SELECT * FROM grab(5, 'G1', regress_day(1), 'VNP', 'AOH', 'second', ARRAY['110101198001015559'], 'AF')$$);
SELECT regress_error($$SELECT * FROM grab(5, 'G1', regress_day(1), 'VNP', 'AOH', 'second', ARRAY['110101198001015559'], 'G')$$);
SELECT regress_error($$SELECT * FROM grab(5, 'K9', regress_day(1), 'VNP', 'AOH', 'hard_sleeper', ARRAY['110101198001015559'], 'A')$$);
-- 吴十 already holds a seat in user 4's order: the same person cannot travel twice at once
SELECT regress_undated(regress_error($$SELECT * FROM grab(5, 'G3', regress_day(1), 'VNP', 'AOH', 'second', ARRAY['110101198001015559'])$$));
-- ... across accounts too: user 2's 张三 is user 1's 张三
SELECT regress_undated(regress_error($$SELECT * FROM grab(2, 'G3', regress_day(1), 'VNP', 'AOH', 'second', ARRAY['11010519491231002X'])$$));
-- ... and the constraint, not only the check in grab, says so
SELECT regress_undated(regress_error($$INSERT INTO tickets (order_id, run_id, seat_id, legs, status, hold_until, passenger_id,
	document_key, passenger_type, travel, price)
	SELECT t.order_id, r.run_id, (SELECT min(seat_id) FROM seat s WHERE s.train_id = r.train_id), '[0,1)', 'held', now(),
	       t.passenger_id, t.document_key, 'adult', tsrange(regress_day(1) + time '13:00', regress_day(1) + time '14:00'), 1
	FROM tickets t, run r JOIN train tr USING (train_id)
	WHERE t.document_key = 'id_card:11010519491231002X' AND tr.code = 'G3'$$));
-- a later train the same day is fine, and the seat letter F is honoured
SELECT passenger, seat_no, regress_undated(departs::text) AS departs, regress_undated(arrives::text) AS arrives, price, seats_as_asked
FROM grab(2, 'G5', regress_day(1), 'VNP', 'AOH', 'second', ARRAY['11010519491231002X'], 'F');
-- untimed trains take the whole service day: 吴十 is on G1 that day
SELECT regress_undated(regress_error($$SELECT * FROM grab(5, 'K9', regress_day(1), 'VNP', 'AOH', 'hard_sleeper', ARRAY['110101198001015559'])$$));
SELECT add_passenger(5, '510104200010103458', '钱七') > 0;
SELECT passenger, regress_undated(departs::text) AS departs, regress_undated(arrives::text) AS arrives FROM grab(5, 'K9', regress_day(1), 'VNP', 'AOH', 'hard_sleeper', ARRAY['510104200010103458']);

-- sold out: a group larger than the free seats gets nothing
SELECT add_passenger(6, '110101198001015559', '吴十') > 0, add_passenger(6, '310101198506152345', '赵六') > 0;
SELECT regress_undated(regress_error($$SELECT * FROM grab(6, 'G3', regress_day(2), 'VNP', 'AOH', 'second', ARRAY['310101198506152345'])$$));
SELECT open_sales('G3', regress_day(2)) > 0;
SELECT count(*) FROM grab(8, 'G3', regress_day(2), 'VNP', 'AOH', 'second', 'one') g;
SELECT count(*) FROM grab(8, 'G3', regress_day(2), 'VNP', 'AOH', 'second', 'one') g;	-- a retry: same order
SELECT count(*) FROM grab(10, 'G3', regress_day(2), 'VNP', 'AOH', 'second') g;
SELECT count(*) FROM grab(11, 'G3', regress_day(2), 'VNP', 'AOH', 'second') g;
SELECT count(*) FROM grab(12, 'G3', regress_day(2), 'VNP', 'AOH', 'second') g;
SELECT regress_undated(regress_error($$SELECT * FROM grab(6, 'G3', regress_day(2), 'VNP', 'AOH', 'second',
	ARRAY['310101198506152345', '110101198001015559'])$$));
SELECT remaining FROM remaining('G3', regress_day(2), 'VNP', 'AOH');
SELECT seat_no FROM grab(6, 'G3', regress_day(2), 'VNP', 'AOH', 'second', ARRAY['310101198506152345']);
-- one unpaid order per user and run, as for the single-seat form
SELECT regress_error($$SELECT * FROM grab(1, 'G1', regress_day(1), 'VNP', 'JGK', 'first', ARRAY['E12345678'])$$);
-- an unpaid hold past its deadline no longer keeps its passenger busy
SELECT add_passenger(7, '420103199505057779', '孙八') > 0, add_passenger(15, '420103199505057779', '孙八') > 0;
SELECT open_sales('G1', regress_day(5)) > 0, open_sales('G3', regress_day(5)) > 0;
SELECT count(*) FROM grab(7, 'G1', regress_day(5), 'VNP', 'AOH', 'second', ARRAY['420103199505057779']);
SELECT regress_undated(regress_error($$SELECT * FROM grab(15, 'G3', regress_day(5), 'VNP', 'AOH', 'second', ARRAY['420103199505057779'])$$));
UPDATE orders SET hold_until = now() - interval '1 second' WHERE user_id = 7;
UPDATE tickets SET hold_until = now() - interval '1 second' WHERE order_id IN (SELECT order_id FROM orders WHERE user_id = 7);
SELECT seat_no, regress_undated(departs::text) AS departs FROM grab(15, 'G3', regress_day(5), 'VNP', 'AOH', 'second', ARRAY['420103199505057779']);
SELECT status FROM orders WHERE user_id = 7;
-- a passenger with a live ticket cannot be removed
SELECT regress_error($$SELECT remove_passenger(1, '11010519491231002X')$$);

-- the seat-group rule on constructed seat maps ---------------------------------
-- seatgroup_place(map, row_len, aisle, legs, n, wanted) gives
-- {level, letters_ok, seat indexes}: level 1 one row, 2 adjacent rows,
-- 3 the carriage; a second-class carriage of 3 rows A B C | D F
CREATE TEMP TABLE maps (name text, map bytea);
INSERT INTO maps VALUES
	('empty', seatmap_new(15, 1)),
	-- row 1 has A taken
	('row1_A', seatmap_take(seatmap_new(15, 1), 0, '[0,1)')),
	-- every row has A taken
	('all_A', seatmap_take(seatmap_take(seatmap_take(seatmap_new(15, 1), 0, '[0,1)'), 5, '[0,1)'), 10, '[0,1)')),
	-- rows hold 2, 1 and 2 free seats (01D 01F, 02C, 03A 03B)
	('pairs', NULL),
	-- only 01A and 03F free
	('far', NULL);
DO $$
DECLARE
	i integer;
	m bytea := seatmap_new(15, 1);
	f bytea := seatmap_new(15, 1);
BEGIN
	FOREACH i IN ARRAY ARRAY[0, 1, 2, 5, 6, 8, 9, 12, 13, 14] LOOP
		m := seatmap_take(m, i, '[0,1)');
	END LOOP;
	FOR i IN 1..13 LOOP
		f := seatmap_take(f, i, '[0,1)');
	END LOOP;
	UPDATE maps SET map = m WHERE name = 'pairs';
	UPDATE maps SET map = f WHERE name = 'far';
END
$$;
SELECT name, n, seatgroup_place(map, 5, 3, '[0,1)', n, 0) AS placed
FROM maps, generate_series(1, 5) n
ORDER BY name, n;
-- letters: A and F (bits 0 and 4) honoured where free, not where A is taken
SELECT name, seatgroup_place(map, 5, 3, '[0,1)', 2, 17) AS a_f, seatgroup_place(map, 5, 3, '[0,1)', 3, 17) AS a_f_plus_one
FROM maps WHERE name IN ('empty', 'row1_A', 'all_A') ORDER BY name;
-- first class A C | D F and business A | C F: a pair sits on one side
SELECT seatgroup_place(seatmap_new(8, 1), 4, 2, '[0,1)', 2, 0) AS first_pair,
       seatgroup_place(seatmap_new(6, 1), 3, 1, '[0,1)', 2, 0) AS business_pair,
       aisle_of('ABCDF', 'second') AS second_aisle, aisle_of('ACDF', 'first') AS first_aisle,
       aisle_of('ACF', 'business') AS business_aisle, aisle_of('ABCDEF', 'hard_sleeper') AS sleeper_aisle;
SELECT regress_error($$SELECT seatgroup_place(seatmap_new(15, 1), 5, 3, '[0,1)', 6, 0)$$);
SELECT regress_error($$SELECT seatgroup_place(seatmap_new(15, 1), 5, 3, '[0,1)', 2, 64)$$);
SELECT regress_error($$SELECT seatgroup_place(seatmap_new(15, 1), 5, 3, '[0,2)', 2, 0)$$);

-- the fallbacks end to end: G5 on 2 January has carriage 1 of two rows
-- and carriage 2 of one row; groups of four fill them row by row, a pair
-- then gets two adjacent rows, and (after it cancels) three are spread
SELECT add_carriage('G5', 2, 'second', 1, 'ABCDF');
SELECT open_sales('G5', regress_day(2)) > 0;
DO $$
BEGIN
	FOR i IN 0..16 LOOP
		PERFORM add_passenger(CASE WHEN i < 12 THEN 20 + i / 4 WHEN i < 14 THEN 23 ELSE 24 END,
			'G' || lpad(i::text, 8, '0'), 'p' || i, 'adult', 'passport');
	END LOOP;
END
$$;
CREATE TEMP TABLE fallback AS
SELECT u, (SELECT string_agg(g.carriage || '/' || g.seat_no, ' ' ORDER BY g.carriage, g.seat_no) || ' ' || min(g.placement)
           FROM grab(u, 'G5', regress_day(2), 'VNP', 'AOH', 'second',
                     ARRAY(SELECT p.document_no FROM passenger p WHERE p.user_id = u ORDER BY p.passenger_id)) g) AS seats
FROM generate_series(20, 23) u ORDER BY u;
SELECT * FROM fallback ORDER BY u;
SELECT cancel(order_id) FROM orders WHERE user_id = 23;
SELECT string_agg(g.carriage || '/' || g.seat_no, ' ' ORDER BY g.carriage, g.seat_no) AS seats, min(g.placement) AS placement
FROM grab(24, 'G5', regress_day(2), 'VNP', 'AOH', 'second', ARRAY['G00000014', 'G00000015', 'G00000016']) g;
SELECT remaining FROM remaining('G5', regress_day(2), 'VNP', 'AOH');

-- daily limits ----------------------------------------------------------------

-- three cancels in a (Beijing) day and the user cannot buy again that day.
-- The day is Beijing's at the start of each transaction (beijing_now()), so
-- these checks run in one transaction: a run that crosses Beijing midnight
-- cannot split their counts over two days.
BEGIN;
SELECT add_passenger(30, '110101198001015559', '吴十') > 0;
SELECT open_sales('G1', regress_day(3)) > 0;
DO $$
BEGIN
	FOR i IN 1..3 LOOP
		PERFORM cancel((SELECT g.order_id FROM grab(30, 'G1', regress_day(3), 'VNP', 'AOH', 'second',
			ARRAY['110101198001015559']) g LIMIT 1));
	END LOOP;
END
$$;
SELECT orders, cancels FROM user_day WHERE user_id = 30;
SELECT regress_error($$SELECT * FROM grab(30, 'G1', regress_day(3), 'VNP', 'AOH', 'second', ARRAY['110101198001015559'])$$);
-- a cap on orders per day
SELECT set_setting('max_orders_per_day', 2);
SELECT add_passenger(31, 'E7654321', 'Jane Roe', 'adult', 'passport') > 0;
SELECT count(*) FROM grab(31, 'G1', regress_day(3), 'VNP', 'JGK', 'second', ARRAY['E7654321']);
SELECT count(*) FROM grab(31, 'G5', regress_day(1), 'VNP', 'AOH', 'second', ARRAY['E7654321']);
SELECT regress_error($$SELECT * FROM grab(31, 'G3', regress_day(2), 'VNP', 'AOH', 'second', ARRAY['E7654321'])$$);
DELETE FROM setting;
COMMIT;

-- refund fees -----------------------------------------------------------------

-- 12306's table: free 8 days or more ahead, 5% from 48 hours, 10% from 24
-- hours, 20% under 24 hours (and after departure); at least 2 yuan, never
-- more than the price; rounded to 0.5 yuan
SELECT price, time_left, refund_fee(price, time_left) AS fee
FROM (VALUES (100, interval '9 days'), (100, '8 days'), (100, '7 days 23:59'), (100, '48:00'),
             (100, '47:59'), (100, '24:00'), (100, '23:59'), (100, '-1 hour'),
             (10, '3 days'), (1.5, '1 hour'), (73, '3 days'), (75, '3 days'), (553, '30:00')) v(price, time_left);
SELECT regress_error($$SELECT set_refund_rule('1 day', 1.5)$$);
-- a configured table replaces the built-in one
SELECT set_refund_rule('0', 0.5), set_refund_rule('3 days', 0);
SELECT refund_fee(100, '4 days') AS ahead, refund_fee(100, '1 day') AS late, refund_fee(100, '-1 day') AS gone;
DELETE FROM refund_rule;

-- a real refund four days ahead keeps 5% (one a month ahead is free: 王五's change below).
-- G1 leaves at 09:00 on the day four days after Beijing's today: between
-- 3 days 9 hours and 4 days 9 hours from now, whatever the time of day, so
-- 33 hours at least from either end of the 5% tier (48 hours, 8 days); the
-- day is fixed once here, so Beijing midnight passing later moves nothing.
SELECT add_passenger(40, '110101198001015559', '吴十') > 0, add_passenger(40, '440304199001011233', '王五', 'student') > 0;
SELECT (beijing_now()::date + 4) AS soon \gset
SELECT open_sales('G1', :'soon') > 0;
SELECT order_id AS soon_order FROM grab(40, 'G1', :'soon', 'VNP', 'AOH', 'second',
	ARRAY['110101198001015559', '440304199001011233']) LIMIT 1 \gset
SELECT confirm(:soon_order);
-- one ticket of the order: the other stays sold
SELECT price, fee, refunded FROM refund_ticket((SELECT min(ticket_id) FROM tickets WHERE order_id = :soon_order));
SELECT t.status, o.status AS order_status FROM tickets t JOIN orders o USING (order_id)
WHERE t.order_id = :soon_order ORDER BY ticket_id;
SELECT regress_error(format('SELECT * FROM refund_ticket(%s)', (SELECT min(ticket_id) FROM tickets WHERE order_id = :soon_order)));
SELECT refund(:soon_order) AS rest_refunded;
SELECT t.price, t.refund_fee, t.status, o.status AS order_status FROM tickets t JOIN orders o USING (order_id)
WHERE t.order_id = :soon_order ORDER BY ticket_id;
SELECT remaining FROM remaining('G1', :'soon', 'VNP', 'AOH') WHERE seat_class = 'second';
SELECT regress_error($$SELECT * FROM refund_ticket(999999)$$);

-- ticket change (改签) -----------------------------------------------------------

-- user 1's order on G1: pay it, then move 张三 to the later G5
SELECT confirm(order_id) FROM orders WHERE user_id = 1 AND status = 'held';
SELECT min(ticket_id) AS zhang_ticket FROM tickets t JOIN passenger p USING (passenger_id)
WHERE p.user_id = 1 AND p.name = '张三' \gset
-- G5 that afternoon: the same person already travels then, booked by
-- user 2, so the change fails and the old ticket stays
SELECT regress_undated(regress_error(format($$SELECT * FROM change_ticket(%s, 'G5', regress_day(1), 'VNP', 'AOH')$$, :zhang_ticket)));
SELECT status FROM tickets WHERE ticket_id = :zhang_ticket;
-- first class on the same train: the new seat overlaps the old one in time,
-- which is released in the same transaction; the dearer fare is paid
SELECT remaining AS first_before FROM remaining('G1', regress_day(1), 'VNP', 'AOH') WHERE seat_class = 'first';
SELECT seat_class, legs, regress_undated(departs::text) AS departs, regress_undated(arrives::text) AS arrives, old_price, price, fee, to_pay
FROM change_ticket(:zhang_ticket, 'G1', regress_day(1), 'VNP', 'AOH', 'first');
SELECT seat_class, remaining FROM remaining('G1', regress_day(1), 'VNP', 'AOH') WHERE seat_class IN ('first', 'second');
SELECT t.ticket_id = :zhang_ticket AS old, t.status, t.changed_from = :zhang_ticket AS replaces_old, t.price
FROM tickets t WHERE t.ticket_id = :zhang_ticket OR t.changed_from = :zhang_ticket ORDER BY t.ticket_id;
-- only once, either way round
SELECT regress_error(format($$SELECT * FROM change_ticket(%s, 'G1', regress_day(1), 'VNP', 'AOH')$$, :zhang_ticket));
SELECT regress_error(format($$SELECT * FROM change_ticket(%s, 'G1', regress_day(1), 'VNP', 'AOH')$$,
	(SELECT ticket_id FROM tickets WHERE changed_from = :zhang_ticket)));
-- 王五 (student) to a shorter journey in first class: cheaper, the difference back (free a month ahead)
SELECT seat_class, legs, old_price, price, fee, to_pay FROM change_ticket(
	(SELECT t.ticket_id FROM tickets t JOIN passenger p USING (passenger_id) WHERE p.user_id = 1 AND p.name = '王五' AND t.status = 'paid'),
	'G1', regress_day(1), 'VNP', 'JGK', 'first');
-- a sold-out train: the change fails and 李四 keeps the ticket
SELECT min(ticket_id) AS li_ticket FROM tickets t JOIN passenger p USING (passenger_id)
WHERE p.user_id = 1 AND p.name = '李四' \gset
SELECT regress_undated(regress_error(format($$SELECT * FROM change_ticket(%s, 'G3', regress_day(2), 'VNP', 'AOH')$$, :li_ticket)));
SELECT status, changed_from FROM tickets WHERE ticket_id = :li_ticket OR changed_from = :li_ticket;
-- the same journey is no change; held, single-seat, unknown tickets cannot change
SELECT regress_error(format($$SELECT * FROM change_ticket(%s, 'G1', regress_day(1), 'VNP', 'AOH')$$, :li_ticket));
SELECT regress_error(format($$SELECT * FROM change_ticket(%s, 'G1', regress_day(1), 'VNP', 'JGK')$$,
	(SELECT min(ticket_id) FROM tickets WHERE status = 'held' AND passenger_id IS NOT NULL)));
SELECT regress_error(format($$SELECT * FROM change_ticket(%s, 'G1', regress_day(1), 'VNP', 'JGK')$$,
	(SELECT min(ticket_id) FROM tickets WHERE passenger_id IS NULL)));
SELECT regress_error($$SELECT * FROM change_ticket(999999, 'G1', regress_day(1), 'VNP', 'JGK')$$);
-- a change to a cheaper journey four days ahead: 5% of the difference kept
SELECT add_passenger(41, '110101198001015559', '吴十') > 0;
SELECT order_id AS soon_order FROM grab(41, 'G1', :'soon', 'VNP', 'AOH', 'second', ARRAY['110101198001015559']) \gset
SELECT confirm(:soon_order);
SELECT old_price, price, fee, to_pay FROM change_ticket((SELECT ticket_id FROM tickets WHERE order_id = :soon_order),
	'G1', :'soon', 'VNP', 'NKH');
-- the old order keeps its status; confirming it again brings nothing back,
-- and a refund of it points to the new ticket
SELECT status, confirm(order_id) AS confirm_again FROM orders WHERE order_id = :soon_order;
SELECT t.status, t.refund_fee FROM tickets t WHERE t.order_id = :soon_order;
SELECT regress_error(format('SELECT refund(%s)', :soon_order));

-- within 48 hours of departure a change may only go to a train leaving the
-- same day: tomorrow's G1 (09:00) to G5 the same day, not to the day after.
-- Tomorrow's 09:00 is between 9 and 33 hours from now, whatever the time of
-- day: 15 hours at least inside the 48 hours, 9 hours at least before it
-- leaves.  (The 24-hour refund tier falls inside that window, so the change
-- below goes to a dearer train, which keeps no fee.)  The day is fixed once
-- here: Beijing midnight passing later only brings the departure nearer.
SELECT (beijing_now()::date + 1) AS tomorrow \gset
SELECT open_sales('G1', :'tomorrow') > 0, open_sales('G5', :'tomorrow') > 0,
       open_sales('G5', (:'tomorrow'::date + 1)) > 0;
SELECT add_passenger(42, '110101198001015559', '吴十') > 0;
SELECT order_id AS late_order FROM grab(42, 'G1', :'tomorrow', 'VNP', 'AOH', 'second', ARRAY['110101198001015559']) \gset
SELECT confirm(:late_order);
SELECT split_part(regress_error(format($$SELECT * FROM change_ticket(%s, 'G5', %L, 'VNP', 'AOH')$$,
	(SELECT ticket_id FROM tickets WHERE order_id = :late_order), :'tomorrow'::date + 1)), E'\n', 1) AS refused;
SELECT departs::time, fee, to_pay FROM change_ticket((SELECT ticket_id FROM tickets WHERE order_id = :late_order),
	'G5', :'tomorrow', 'VNP', 'AOH');

-- the seat maps still equal the live tickets after all this
CREATE TEMP TABLE maps_before AS SELECT run_id, carriage_no, map FROM run_carriage;
DO $$ BEGIN PERFORM rebuild_seat_map(run_id, carriage_no) FROM run_carriage; END $$;
SELECT count(*) AS maps, count(*) FILTER (WHERE rc.map <> b.map) AS out_of_step
FROM run_carriage rc JOIN maps_before b USING (run_id, carriage_no);
