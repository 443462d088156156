-- Against scalpers (issue 14): real names required (an administrator's
-- setting, off by default), at most N tickets per person (identity
-- document) and service day over every account, and at most N live orders
-- per client (ticket.client) and run.  Every failure shows its SQLSTATE.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticket CASCADE;
CREATE EXTENSION ticket CASCADE;
SET search_path = ticket, public;
SET TimeZone = 'UTC';

\i test/regress_helpers.sql

SELECT valid_resident_id(resident_id_no(1)) AND valid_resident_id(resident_id_no(999)) AS ids_valid;

-- three trains the same day that do not overlap in time, one a day later
SELECT add_station('VNP', '北京南') > 0, add_station('AOH', '上海虹桥') > 0;
SELECT add_train('G11', ARRAY['VNP', 'AOH'], ARRAY[NULL, '09:00']::interval[], ARRAY['08:00', NULL]::interval[]) > 0,
       add_train('G13', ARRAY['VNP', 'AOH'], ARRAY[NULL, '11:00']::interval[], ARRAY['10:00', NULL]::interval[]) > 0,
       add_train('G15', ARRAY['VNP', 'AOH'], ARRAY[NULL, '13:00']::interval[], ARRAY['12:00', NULL]::interval[]) > 0;
SELECT add_carriage(t, 1, 'second', 4, 'ABCDF') FROM unnest(ARRAY['G11', 'G13', 'G15']) t;
CREATE TEMP TABLE d AS SELECT beijing_now()::date + 30 AS day;
SELECT open_sales(t, (SELECT day FROM d)) > 0 FROM unnest(ARRAY['G11', 'G13', 'G15']) t;
SELECT open_sales(t, (SELECT day + 1 FROM d)) > 0 FROM unnest(ARRAY['G11', 'G13']) t;
-- messages show the service days as D and D+1
CREATE OR REPLACE FUNCTION public.scalper_undated(t text) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT replace(replace(t, to_char((SELECT day FROM d), 'MM-DD-YYYY'), 'D'),
	               to_char((SELECT day + 1 FROM d), 'MM-DD-YYYY'), 'D+1')
$$;

-- settings --------------------------------------------------------------------

SELECT n, setting(n) FROM unnest(ARRAY['real_names_required', 'max_tickets_per_person_day',
	'max_orders_per_client_run']) n;
SELECT regress_error($$SELECT set_setting('real_names_required', 2)$$);
SELECT regress_error($$SELECT set_setting('max_tickets_per_person_day', 0)$$);
SELECT regress_error($$SELECT set_setting('max_orders_per_client_run', -1)$$);
SELECT set_setting('max_orders_per_client_run', 0), set_setting('real_names_required', 0);

-- 1. real names required --------------------------------------------------------

-- off by default: README's first example still works
SELECT order_id IS NOT NULL AS anonymous_grab FROM grab(1, 'G11', (SELECT day FROM d), 'VNP', 'AOH');
SELECT set_setting('real_names_required', 1);
SELECT regress_error($$SELECT * FROM grab(2, 'G11', (SELECT day FROM d), 'VNP', 'AOH')$$);
-- the hint names the passenger form
CREATE OR REPLACE FUNCTION public.hint_of(query text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	hint text;
	state text;
BEGIN
	EXECUTE query;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, hint = PG_EXCEPTION_HINT;
	RETURN state || ' hint: ' || hint;
END
$$;
SELECT hint_of($$SELECT * FROM grab(2, 'G11', (SELECT day FROM d), 'VNP', 'AOH')$$);
SELECT hint_of($$SELECT * FROM enqueue(2, 'G11', (SELECT day FROM d), 'VNP', 'AOH')$$);
SELECT hint_of($$SELECT join_waitlist(2, 'G11', (SELECT day FROM d), 'VNP', 'AOH')$$);
-- nothing was held or queued for user 2
SELECT count(*) FROM orders WHERE user_id = 2;
SELECT serve_queue(NULL, 10) AS nothing_queued;
-- the passenger form is served as before
SELECT add_passenger(2, resident_id_no(2), 'Zhang San') > 0;
SELECT passenger, seat_class, status FROM grab(2, 'G11', (SELECT day FROM d), 'VNP', 'AOH', 'second', ARRAY[resident_id_no(2)]);
SELECT set_setting('real_names_required', 0);
SELECT order_id IS NOT NULL AS anonymous_grab_again FROM grab(3, 'G11', (SELECT day FROM d), 'VNP', 'AOH');

-- 2. per-person limit -------------------------------------------------------------

-- one person on two accounts (10 and 11); a limit of 2 tickets a day
SELECT add_passenger(10, resident_id_no(10), 'Li Si') > 0, add_passenger(11, resident_id_no(10), 'Li Si') > 0;
SELECT set_setting('max_tickets_per_person_day', 2);
SELECT passenger, status FROM grab(10, 'G11', (SELECT day FROM d), 'VNP', 'AOH', 'second', ARRAY[resident_id_no(10)]);
SELECT passenger, status FROM grab(11, 'G13', (SELECT day FROM d), 'VNP', 'AOH', 'second', ARRAY[resident_id_no(10)]);
-- a third on the same service day, from either account: TK071
SELECT scalper_undated(regress_error(format($$SELECT * FROM grab(10, 'G15', %L, 'VNP', 'AOH', 'second', ARRAY[%L])$$,
	(SELECT day FROM d), resident_id_no(10))));
SELECT scalper_undated(regress_error(format($$SELECT * FROM grab(11, 'G15', %L, 'VNP', 'AOH', 'second', ARRAY[%L])$$,
	(SELECT day FROM d), resident_id_no(10))));
-- another service day is another count
SELECT passenger, status FROM grab(10, 'G11', (SELECT day + 1 FROM d), 'VNP', 'AOH', 'second', ARRAY[resident_id_no(10)]);
-- a cancelled hold no longer counts
SELECT cancel(o.order_id) FROM orders o WHERE o.user_id = 11 AND o.status = 'held';
SELECT passenger, status FROM grab(11, 'G15', (SELECT day FROM d), 'VNP', 'AOH', 'second', ARRAY[resident_id_no(10)]);
-- nor does a hold past its deadline, swept or not
UPDATE orders SET hold_until = now() - interval '1 minute' WHERE user_id = 11 AND status = 'held';
UPDATE tickets SET hold_until = now() - interval '1 minute'
WHERE order_id IN (SELECT order_id FROM orders WHERE user_id = 11 AND status = 'held');
SELECT passenger, status FROM grab(11, 'G13', (SELECT day FROM d), 'VNP', 'AOH', 'second', ARRAY[resident_id_no(10)]);
-- a paid ticket counts; a refunded one does not
SELECT confirm(o.order_id) FROM orders o WHERE o.user_id = 10 AND o.status = 'held' AND o.run_id =
	(SELECT r.run_id FROM run r JOIN train t USING (train_id) WHERE t.code = 'G11' AND r.service_date = (SELECT day FROM d));
SELECT scalper_undated(regress_error(format($$SELECT * FROM grab(10, 'G15', %L, 'VNP', 'AOH', 'second', ARRAY[%L])$$,
	(SELECT day FROM d), resident_id_no(10))));
SELECT count(*) FROM refund((SELECT o.order_id FROM orders o WHERE o.user_id = 10 AND o.status = 'paid'));
SELECT passenger, status FROM grab(10, 'G15', (SELECT day FROM d), 'VNP', 'AOH', 'second', ARRAY[resident_id_no(10)]);
-- a group counts each person once
SELECT add_passenger(12, resident_id_no(12), 'Wang Wu') > 0, add_passenger(12, resident_id_no(10), 'Li Si') > 0;
-- (Li Si has one ticket on D+1: with a limit of 1, the group is refused whole)
SELECT set_setting('max_tickets_per_person_day', 1);
SELECT scalper_undated(regress_error(format($$SELECT * FROM grab(12, 'G13', %L, 'VNP', 'AOH', 'second', ARRAY[%L, %L])$$,
	(SELECT day + 1 FROM d), resident_id_no(12), resident_id_no(10))));
SELECT count(*) FROM orders WHERE user_id = 12;
SELECT set_setting('max_tickets_per_person_day', 5);

-- 6. per-client limit -------------------------------------------------------------

SELECT set_setting('max_orders_per_client_run', 2);
BEGIN;
SELECT set_config('ticket.client', '203.0.113.7', true);
SELECT client();
SELECT status FROM grab(20, 'G13', (SELECT day FROM d), 'VNP', 'AOH');
SELECT status FROM grab(21, 'G13', (SELECT day FROM d), 'VNP', 'AOH');
-- a third account behind the same client: TK072
SELECT scalper_undated(regress_error($$SELECT * FROM grab(22, 'G13', (SELECT day FROM d), 'VNP', 'AOH')$$));
-- the passenger form too
SELECT add_passenger(22, resident_id_no(22), 'Zhao Liu') > 0;
SELECT scalper_undated(regress_error(format($$SELECT * FROM grab(22, 'G13', %L, 'VNP', 'AOH', 'second', ARRAY[%L])$$,
	(SELECT day FROM d), resident_id_no(22))));
-- another run is another count
SELECT status FROM grab(22, 'G15', (SELECT day FROM d), 'VNP', 'AOH');
COMMIT;
SELECT client, count(*) FROM orders WHERE client IS NOT NULL GROUP BY client;
-- another client, and no client at all (each call its own client), are not limited by it
BEGIN;
SELECT set_config('ticket.client', 'device-42', true);
SELECT status FROM grab(22, 'G13', (SELECT day FROM d), 'VNP', 'AOH');
COMMIT;
SELECT client() IS NULL AS no_client_after_commit;
SELECT status FROM grab(23, 'G13', (SELECT day FROM d), 'VNP', 'AOH');
-- a cancelled order of the client frees its place
BEGIN;
SELECT set_config('ticket.client', '203.0.113.7', true);
SELECT cancel(o.order_id) FROM orders o WHERE o.user_id = 20 AND o.status = 'held';
SELECT status FROM grab(24, 'G13', (SELECT day FROM d), 'VNP', 'AOH');
COMMIT;
-- a client id is at most 64 bytes: TK073
BEGIN;
SELECT set_config('ticket.client', repeat('x', 65), true);
SELECT regress_error($$SELECT * FROM grab(25, 'G13', (SELECT day FROM d), 'VNP', 'AOH')$$);
ROLLBACK;
SELECT set_setting('max_orders_per_client_run', 0);
