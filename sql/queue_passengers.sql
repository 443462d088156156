-- The passenger form of enqueue (issue 14): the arguments of the passenger
-- form of grab; checked at once; served in the run's order as that grab
-- would be (names, fares, one place at a time, per-person and per-client
-- limits), in shared memory when preloaded and in the table otherwise (the
-- fallback suite runs this file too).  Requests of both kinds on one run
-- are served in order.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticket CASCADE;
CREATE EXTENSION ticket CASCADE;
SET search_path = ticket, public;
SET TimeZone = 'UTC';

\i test/regress_helpers.sql

SELECT add_station('VNP', '北京南') > 0, add_station('AOH', '上海虹桥') > 0;
SELECT add_train('G21', ARRAY['VNP', 'AOH'], ARRAY[NULL, '09:00']::interval[], ARRAY['08:00', NULL]::interval[]) > 0,
       add_train('G23', ARRAY['VNP', 'AOH'], ARRAY[NULL, '11:00']::interval[], ARRAY['10:00', NULL]::interval[]) > 0;
-- G21: 10 second-class seats; G23: 2
SELECT add_carriage('G21', 1, 'second', 2, 'ABCDF'), add_carriage('G23', 1, 'second', 1, 'AF');
CREATE TEMP TABLE d AS SELECT beijing_now()::date + 30 AS day;
SELECT open_sales(t, (SELECT day FROM d)) > 0 FROM unnest(ARRAY['G21', 'G23']) t;
SELECT add_passenger(u, resident_id_no(u), 'P' || u) > 0 AS added FROM generate_series(1, 6) u GROUP BY 1;
SELECT add_passenger(1, resident_id_no(7), 'P7') > 0, add_passenger(5, resident_id_no(1), 'P1') > 0,
       add_passenger(12, resident_id_no(12), 'P12') > 0, add_passenger(30, resident_id_no(30), 'P30') > 0;
-- the outcomes of this file's requests, in the order they were served
CREATE OR REPLACE FUNCTION public.qp_served() RETURNS TABLE (user_id bigint, named boolean, status text, error text, passengers text)
LANGUAGE sql AS $$
	SELECT q.user_id, q.passenger_ids IS NOT NULL, q.status, q.error_sqlstate,
	       (SELECT string_agg(p.name, ', ' ORDER BY t.ticket_id) FROM tickets t JOIN passenger p USING (passenger_id)
	        WHERE t.order_id = q.order_id)
	FROM queue_request q ORDER BY q.service_no
$$;

-- serve until nothing waits (a batch ends where the kind of request changes)
CREATE OR REPLACE FUNCTION public.qp_serve() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
	total integer := 0;
	n integer;
BEGIN
	LOOP
		n := serve_queue(NULL, 10);
		EXIT WHEN n = 0;
		total := total + n;
	END LOOP;
	RETURN total;
END
$$;

-- checked at once, as grab checks them
SELECT regress_error($$SELECT enqueue(1, 'G21', (SELECT day FROM d), 'VNP', 'AOH', 'second', ARRAY[]::text[])$$);
SELECT regress_error($$SELECT enqueue(1, 'G21', (SELECT day FROM d), 'VNP', 'AOH', 'second', ARRAY[resident_id_no(1), resident_id_no(1)])$$);
SELECT regress_error($$SELECT enqueue(1, 'G21', (SELECT day FROM d), 'VNP', 'AOH', NULL, ARRAY[resident_id_no(1)])$$);
SELECT regress_error($$SELECT enqueue(1, 'G21', (SELECT day FROM d), 'VNP', 'AOH', 'second', ARRAY[resident_id_no(2)])$$);
SELECT regress_error($$SELECT enqueue(1, 'G21', (SELECT day FROM d), 'VNP', 'AOH', 'second', ARRAY[resident_id_no(1)], 'AB')$$);
SELECT regress_error($$SELECT enqueue(1, 'G99', (SELECT day FROM d), 'VNP', 'AOH', 'second', ARRAY[resident_id_no(1)])$$);
SELECT serve_queue(NULL, 10) AS nothing_queued;

-- one of each kind, in turn: served in the order they came
SELECT status, ahead FROM enqueue(1, 'G21', (SELECT day FROM d), 'VNP', 'AOH', 'second', ARRAY[resident_id_no(1), resident_id_no(7)], 'AB');
SELECT status, ahead FROM enqueue(2, 'G21', (SELECT day FROM d), 'VNP', 'AOH');
SELECT status, ahead FROM enqueue(3, 'G21', (SELECT day FROM d), 'VNP', 'AOH', 'second', ARRAY[resident_id_no(3)]);
SELECT status, ahead FROM enqueue(4, 'G21', (SELECT day FROM d), 'VNP', 'AOH', 'second');
-- one waiting request per user and run, whatever its kind
SELECT regress_error($$SELECT enqueue(4, 'G21', (SELECT day FROM d), 'VNP', 'AOH', 'second', ARRAY[resident_id_no(4)])$$);
SELECT qp_serve() AS served;
SELECT * FROM qp_served();
-- the group sat together, as asked
SELECT p.name, s.seat_no, t.price > 0 AS priced
FROM tickets t JOIN passenger p USING (passenger_id) JOIN seat s USING (seat_id)
JOIN orders o USING (order_id) WHERE o.user_id = 1 ORDER BY s.seat_no;
-- a waiter's answer: the order and its seat
SELECT status, order_id IS NOT NULL AS has_order, seat_no IS NOT NULL AS has_seat
FROM queue_status((SELECT request_id FROM queue_request WHERE user_id = 3));

-- the rules of grab: P1 (user 5's passenger too) travels then on G21: TK043
SELECT status FROM enqueue(5, 'G21', (SELECT day FROM d), 'VNP', 'AOH', 'second', ARRAY[resident_id_no(1)]);
SELECT qp_serve() AS served;
SELECT * FROM qp_served() WHERE user_id = 5;
-- per-person limit, counted with the tickets sold from the queue
SELECT set_setting('max_tickets_per_person_day', 1);
SELECT add_passenger(6, resident_id_no(3), 'P3') > 0;
SELECT status FROM enqueue(6, 'G23', (SELECT day FROM d), 'VNP', 'AOH', 'second', ARRAY[resident_id_no(3)]);
SELECT qp_serve() AS served;
SELECT * FROM qp_served() WHERE user_id = 6;
SELECT set_setting('max_tickets_per_person_day', 5);

-- per-client limit: the client named when the request was queued counts,
-- for both kinds
SELECT set_setting('max_orders_per_client_run', 1);
BEGIN;
SELECT set_config('ticket.client', '198.51.100.1', true);
SELECT status FROM enqueue(10, 'G21', (SELECT day FROM d), 'VNP', 'AOH');
SELECT status FROM enqueue(11, 'G21', (SELECT day FROM d), 'VNP', 'AOH');
COMMIT;
SELECT qp_serve() AS served;
SELECT q.user_id, q.client, q.status, q.error_sqlstate, o.client AS order_client
FROM queue_request q LEFT JOIN orders o USING (order_id) WHERE q.user_id IN (10, 11) ORDER BY q.service_no;
BEGIN;
SELECT set_config('ticket.client', '198.51.100.1', true);
SELECT status FROM enqueue(12, 'G21', (SELECT day FROM d), 'VNP', 'AOH', 'second', ARRAY[resident_id_no(12)]);
COMMIT;
SELECT qp_serve() AS served;
SELECT * FROM qp_served() WHERE user_id = 12;
SELECT set_setting('max_orders_per_client_run', 0);

-- real names required: only the passenger form is queued
SELECT set_setting('real_names_required', 1);
SELECT regress_error($$SELECT enqueue(20, 'G21', (SELECT day FROM d), 'VNP', 'AOH')$$);
SELECT status FROM enqueue(30, 'G21', (SELECT day FROM d), 'VNP', 'AOH', 'second', ARRAY[resident_id_no(30)]);
SELECT qp_serve() AS served;
SELECT * FROM qp_served() WHERE user_id = 30;
SELECT set_setting('real_names_required', 0);
