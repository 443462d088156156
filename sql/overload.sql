-- Hot runs sold through the queue only (热点隔离) and the overload breaker
-- that degrades non-core calls (降级熔断): issue 14, items 4 and 5.  The
-- breaker's automatic trip and recovery need other busy sessions: the
-- isolation spec breaker_auto shows them; here the administrator's switch.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticket CASCADE;
CREATE EXTENSION ticket CASCADE;
RESET client_min_messages;
\i test/regress_helpers.sql
-- an error with its hint
CREATE FUNCTION pg_temp.with_hint(query text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	state text;
	message text;
	hint text;
BEGIN
	EXECUTE query;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
	RETURN state || ': ' || message || coalesce(E'\n       HINT: ' || nullif(hint, ''), '');
END
$$;

-- G8001 and G8002: three stops with times, two second-class carriages of
-- one row (A B C D F) each.
SELECT count(ticket.add_station(c, n)) AS stations
FROM (VALUES ('HAA', 'H0'), ('HAB', 'H1'), ('HAC', 'H2')) v(c, n);
SELECT ticket.add_train(t, ARRAY['HAA', 'HAB', 'HAC'], ARRAY[NULL, '09:00', '10:00']::interval[],
	ARRAY['08:00', '09:02', NULL]::interval[]) > 0 AS added,
       ticket.add_carriage(t, 1, 'second', 1, 'ABCDF') AS c1, ticket.add_carriage(t, 2, 'second', 1, 'ABCDF') AS c2,
       ticket.open_sales(t, DATE '2099-01-01') > 0 AS open
FROM (VALUES ('G8001'), ('G8002')) v(t);
-- G8003: the same with one row per carriage too, for groups
SELECT ticket.add_train('G8003', ARRAY['HAA', 'HAB', 'HAC']) > 0 AS added,
       ticket.add_carriage('G8003', 1, 'second', 1, 'ABCDF') AS c1,
       ticket.add_carriage('G8003', 2, 'second', 1, 'ABCDF') AS c2,
       ticket.open_sales('G8003', DATE '2099-01-01') > 0 AS open;
-- passengers: user 1 has P8000101; 31 two, 32 one; 41 and 42 four, 43 two
SELECT count(ticket.add_passenger(u, 'P8' || lpad((u * 100 + k)::text, 6, '0'), 'P' || u || '-' || k, 'adult', 'passport'))
	AS passengers
FROM (VALUES (1, 1), (31, 2), (32, 1), (41, 4), (42, 4), (43, 2)) v(u, n), generate_series(1, n) k;

-- hot runs ------------------------------------------------------------------

-- nothing is hot after an install (or an update): search says open
SELECT count(*) AS hot FROM ticket.hot_runs;
SELECT train, sales FROM ticket.search('HAA', 'HAC', '2099-01-01') ORDER BY train;
-- a grab made before the mark, with a request id
SELECT order_id AS early_order, seat_no FROM ticket.grab(5, 'G8001', '2099-01-01', 'HAA', 'HAC', NULL, 'early-5');

-- the administrator marks G8001 hot: at once in search and in the view
SELECT ticket.set_run_hot('G8001', '2099-01-01', true) AS hot;
SELECT train, service_date, reason, until FROM ticket.hot_runs;
SELECT train, sales FROM ticket.search('HAA', 'HAC', '2099-01-01') ORDER BY train;
SELECT train_1, sales_1, train_2, sales_2 FROM ticket.search_transfers('HAA', 'HAC', '2099-01-01');
-- direct grabs on it are refused, both forms, with a hint to enqueue
SELECT pg_temp.with_hint($q$SELECT ticket.grab(1, 'G8001', '2099-01-01', 'HAA', 'HAC')$q$);
SELECT pg_temp.with_hint($q$SELECT ticket.grab(1, 'g8001 ', '2099-01-01', 'HAA', 'HAB', 'second', ARRAY['P8000101'])$q$);
-- a retry of the grab made before the mark still answers its order
SELECT order_id AS same_order, seat_no FROM ticket.grab(5, 'G8001', '2099-01-01', 'HAA', 'HAC', NULL, 'early-5');
-- the other run sells as before
SELECT seat_no FROM ticket.grab(6, 'G8002', '2099-01-01', 'HAA', 'HAC');
-- the queue serves the hot run: its batches seat without grab()
CREATE TEMP TABLE asked AS SELECT request_id FROM ticket.enqueue(1, 'G8001', '2099-01-01', 'HAA', 'HAC');
SELECT ticket.serve_queue((SELECT run_id FROM ticket.run r JOIN ticket.train t USING (train_id) WHERE t.code = 'G8001'));
SELECT status, order_id IS NOT NULL AS has_order, carriage FROM ticket.queue_status((SELECT request_id FROM asked));
-- marking twice is harmless; unmarking sells directly again
SELECT ticket.set_run_hot('G8001', '2099-01-01', true) AS hot;
SELECT ticket.set_run_hot('G8001', '2099-01-01', false) AS hot;
SELECT count(*) AS hot FROM ticket.hot_runs;
SELECT train, sales FROM ticket.search('HAA', 'HAC', '2099-01-01') ORDER BY train;
SELECT seat_no FROM ticket.grab(2, 'G8001', '2099-01-01', 'HAA', 'HAC');
-- what an administrator can get wrong
SELECT regress_error($q$SELECT ticket.set_run_hot('G9999', '2099-01-01', true)$q$);
SELECT regress_error($q$SELECT ticket.set_run_hot('G8001', '2099-01-02', true)$q$);
SELECT regress_error($q$SELECT ticket.set_run_hot('G8001', '2099-01-01', NULL)$q$);
SELECT regress_error($q$SELECT ticket.set_run_hot('G8001', NULL, true)$q$);

-- the queue-length rule: off by default (0); at 3, a batch that finds three
-- waiting marks the run for hot_cooldown_seconds
SELECT ticket.setting('hot_queue_length') AS default_level, ticket.setting('hot_cooldown_seconds') AS default_cooldown;
SELECT ticket.set_setting('hot_queue_length', 3);
TRUNCATE asked;
INSERT INTO asked SELECT request_id FROM ticket.enqueue(11, 'G8002', '2099-01-01', 'HAA', 'HAB');
INSERT INTO asked SELECT request_id FROM ticket.enqueue(12, 'G8002', '2099-01-01', 'HAA', 'HAB');
SELECT ticket.serve_queue((SELECT run_id FROM ticket.run r JOIN ticket.train t USING (train_id) WHERE t.code = 'G8002'));
SELECT count(*) AS hot_after_two FROM ticket.hot_runs;
INSERT INTO asked SELECT request_id FROM ticket.enqueue(13, 'G8002', '2099-01-01', 'HAA', 'HAB');
INSERT INTO asked SELECT request_id FROM ticket.enqueue(14, 'G8002', '2099-01-01', 'HAA', 'HAB');
INSERT INTO asked SELECT request_id FROM ticket.enqueue(15, 'G8002', '2099-01-01', 'HAA', 'HAB');
SELECT ticket.serve_queue((SELECT run_id FROM ticket.run r JOIN ticket.train t USING (train_id) WHERE t.code = 'G8002'));
SELECT train, reason, until - marked_at AS lasts FROM ticket.hot_runs;
SELECT train, sales FROM ticket.search('HAA', 'HAC', '2099-01-01') ORDER BY train;
SELECT regress_error($q$SELECT ticket.grab(16, 'G8002', '2099-01-01', 'HAB', 'HAC')$q$);
-- hysteresis: a batch that finds the queue half as long (2 of 3) extends a
-- live mark; pretend it is about to lapse first
UPDATE ticket.hot_run SET until = now() + interval '1 second';
INSERT INTO asked SELECT request_id FROM ticket.enqueue(17, 'G8002', '2099-01-01', 'HAB', 'HAC');
INSERT INTO asked SELECT request_id FROM ticket.enqueue(18, 'G8002', '2099-01-01', 'HAB', 'HAC');
SELECT ticket.serve_queue((SELECT run_id FROM ticket.run r JOIN ticket.train t USING (train_id) WHERE t.code = 'G8002'));
SELECT train, until - now() > interval '50 seconds' AS extended FROM ticket.hot_runs;
-- once no batch has found it long for the cooldown, the mark lapses by
-- itself (the deadline moved into the past stands for the time gone by)
UPDATE ticket.hot_run SET until = now() - interval '1 second';
SELECT count(*) AS hot FROM ticket.hot_runs;
SELECT train, sales FROM ticket.search('HAA', 'HAC', '2099-01-01') ORDER BY train;
SELECT seat_no FROM ticket.grab(16, 'G8002', '2099-01-01', 'HAB', 'HAC');
-- and a short queue's batch clears the lapsed row
INSERT INTO asked SELECT request_id FROM ticket.enqueue(19, 'G8002', '2099-01-01', 'HAB', 'HAC');
SELECT ticket.serve_queue((SELECT run_id FROM ticket.run r JOIN ticket.train t USING (train_id) WHERE t.code = 'G8002'));
SELECT count(*) AS rows_left FROM ticket.hot_run;
-- an administrator's mark is not the rule's to extend or end
SELECT ticket.set_run_hot('G8002', '2099-01-01', true) AS hot;
INSERT INTO asked SELECT request_id FROM ticket.enqueue(20, 'G8002', '2099-01-01', 'HAB', 'HAC');
SELECT ticket.serve_queue((SELECT run_id FROM ticket.run r JOIN ticket.train t USING (train_id) WHERE t.code = 'G8002'));
SELECT train, reason, until FROM ticket.hot_runs;
SELECT ticket.set_run_hot('G8002', '2099-01-01', false) AS hot;
SELECT regress_error($q$SELECT ticket.set_setting('hot_queue_length', -1)$q$);
SELECT regress_error($q$SELECT ticket.set_setting('hot_cooldown_seconds', 0)$q$);
SELECT ticket.set_setting('hot_queue_length', 0) AS rule_off;

-- the breaker ---------------------------------------------------------------

-- by default it is in mode auto with no level: never trips
SELECT mode, degraded, trip_level, hold_seconds FROM ticket.breaker_status();
SELECT count(*) >= 0 AS transfers_answer FROM ticket.search_transfers('HAA', 'HAC', '2099-01-01');
-- the administrator trips it
SELECT ticket.set_breaker('on');
SELECT mode, degraded FROM ticket.breaker_status();
-- non-core calls: search_transfers refused with TK081
SELECT pg_temp.with_hint($q$SELECT ticket.search_transfers('HAA', 'HAC', '2099-01-01')$q$);
-- remaining_matrix: refused for the application, answered for administrators
SET ROLE ticket_app;
SELECT pg_temp.with_hint($q$SELECT ticket.remaining_matrix('G8001', '2099-01-01')$q$);
-- (direct search, remaining and the rest answer as ever)
SELECT train, sales FROM ticket.search('HAA', 'HAC', '2099-01-01') ORDER BY train;
SELECT * FROM ticket.remaining('G8001', '2099-01-01', 'HAA', 'HAB');
RESET ROLE;
SET ROLE ticket_admin;
SELECT count(*) AS matrix_rows FROM ticket.remaining_matrix('G8001', '2099-01-01');
RESET ROLE;
-- seat letters are not looked at: the seats say they are not as asked
SELECT passenger, seat_no, seats_as_asked
FROM ticket.grab(31, 'G8001', '2099-01-01', 'HAA', 'HAB', 'second', ARRAY['P8003101', 'P8003102'], 'DF');
-- grab, enqueue, confirm and refund keep working
SELECT ticket.confirm(order_id) AS paid FROM ticket.grab(21, 'G8002', '2099-01-01', 'HAA', 'HAB') g;
SELECT ticket.refund(order_id) AS refunded FROM ticket.orders WHERE user_id = 21;
SELECT status FROM ticket.enqueue(22, 'G8002', '2099-01-01', 'HAA', 'HAB');
-- a group no carriage holds together is not spread over carriages: after
-- two groups of four, G8003 has one seat left in each carriage
SELECT carriage, count(*) AS seats, min(placement) AS placement
FROM ticket.grab(41, 'G8003', '2099-01-01', 'HAA', 'HAC', 'second',
	ARRAY['P8004101', 'P8004102', 'P8004103', 'P8004104']) GROUP BY carriage;
SELECT carriage, count(*) AS seats, min(placement) AS placement
FROM ticket.grab(42, 'G8003', '2099-01-01', 'HAA', 'HAC', 'second',
	ARRAY['P8004201', 'P8004202', 'P8004203', 'P8004204']) GROUP BY carriage;
SELECT pg_temp.with_hint($q$SELECT ticket.grab(43, 'G8003', '2099-01-01', 'HAA', 'HAC', 'second',
	ARRAY['P8004301', 'P8004302'])$q$);
-- back to auto: everything answers in full again
SELECT ticket.set_breaker('auto');
SELECT mode, degraded FROM ticket.breaker_status();
SELECT count(*) >= 0 AS transfers_answer FROM ticket.search_transfers('HAA', 'HAC', '2099-01-01');
SELECT count(DISTINCT carriage) AS carriages, count(*) AS seats, min(placement) AS placement
FROM ticket.grab(43, 'G8003', '2099-01-01', 'HAA', 'HAC', 'second', ARRAY['P8004301', 'P8004302']);
SELECT passenger, seat_no, seats_as_asked
FROM ticket.grab(32, 'G8001', '2099-01-01', 'HAB', 'HAC', 'second', ARRAY['P8003201'], 'F');
SET ROLE ticket_app;
SELECT count(*) AS matrix_rows FROM ticket.remaining_matrix('G8001', '2099-01-01');
RESET ROLE;
-- off: never trips, whatever the level
SELECT ticket.set_setting('breaker_trip_backends', 1) AS level;
SELECT ticket.set_breaker('off');
SELECT mode, degraded FROM ticket.breaker_status();
SELECT regress_error($q$SELECT ticket.set_breaker('sometimes')$q$);
SELECT regress_error($q$SELECT ticket.set_breaker(NULL)$q$);
SELECT regress_error($q$SELECT ticket.set_setting('breaker_mode', 3)$q$);
SELECT regress_error($q$SELECT ticket.set_setting('breaker_hold_seconds', 0)$q$);
-- only administrators switch it
SET ROLE ticket_app;
SELECT regress_error($q$SELECT ticket.set_breaker('on')$q$);
SELECT regress_error($q$SELECT ticket.set_run_hot('G8001', '2099-01-01', true)$q$);
SELECT regress_error($q$SELECT ticket.breaker_check(2, 0, 0)$q$);
RESET ROLE;
