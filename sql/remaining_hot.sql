-- remaining() and remaining_matrix() on the hot path (issue 15, item 1):
-- written in C, they resolve a journey once for every session and keep a
-- run's counts in shared memory (src/remaining.c, src/run_counts.c), so that
-- a call costs about what a primary-key lookup costs: no PL/pgSQL, no
-- journey query per call, and the seat maps read once per change of them.
-- The counts stay exact: a change this session makes, commits or rolls back
-- shows at once, and a hold whose deadline passes counts as free.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticket CASCADE;
CREATE EXTENSION ticket CASCADE;
SET search_path = ticket, public;

SELECT add_station('RHA', '热甲') > 0 AS a, add_station('RHB', '热乙') > 0 AS b, add_station('RHC', '热丙') > 0 AS c,
       add_station('RHD', '热丁') > 0 AS d, add_station('RHE', '热戊') > 0 AS e;
SELECT add_train('G8801', ARRAY['RHA', 'RHB', 'RHC', 'RHD', 'RHE']) > 0 AS train;
SELECT add_carriage('G8801', 1, 'first', 2, 'ACDF') AS first_seats, add_carriage('G8801', 2, 'second', 4, 'ABCDF') AS second_seats;
SELECT open_sales('G8801', '2030-03-01') > 0 AS opened;
SELECT count(*) AS grabbed FROM grab(1, 'G8801', '2030-03-01', 'RHA', 'RHC', 'second');
SELECT count(*) AS grabbed FROM grab(2, 'G8801', '2030-03-01', 'RHB', 'RHE', 'first');

-- in C, and (as in 1.6) with the caller's rights
SELECT p.proname, l.lanname, p.prosecdef, p.provolatile
FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
WHERE p.oid IN ('ticket.remaining(text,date,text,text)'::regprocedure, 'ticket.remaining_matrix(text,date)'::regprocedure)
ORDER BY 1;

-- 400 calls over 4 journeys and 40 whole matrices, after one call of each
-- that resolves the journeys and counts the run: no PL/pgSQL function runs
-- (1.6 ran three per remaining() call) and the seat maps are not read again
-- (1.6 read them on every call)
SELECT count(*) AS warm FROM generate_series(0, 3) i, LATERAL remaining('G8801', '2030-03-01', 'RH' || chr(65 + i), 'RHE') x;
SELECT count(*) AS warm FROM remaining_matrix('G8801', '2030-03-01');
SET track_functions = 'all';
BEGIN;
-- (the pg_stat_xact views count since the session last reported: read them before and after)
CREATE TEMP VIEW work_done AS
SELECT (SELECT coalesce(sum(f.calls), 0) FROM pg_stat_xact_user_functions f
        JOIN pg_proc p ON p.oid = f.funcid JOIN pg_language l ON l.oid = p.prolang
        WHERE l.lanname = 'plpgsql') AS plpgsql_calls,
       (SELECT coalesce(idx_scan, 0) + coalesce(seq_scan, 0) FROM pg_stat_xact_user_tables
        WHERE relid = 'ticket.run_carriage'::regclass) AS seat_map_reads;
SELECT plpgsql_calls AS calls_before, seat_map_reads AS reads_before FROM work_done \gset
SELECT count(*) AS answers, sum(x.remaining) AS seats
FROM generate_series(0, 399) i, LATERAL remaining('G8801', '2030-03-01', 'RH' || chr(65 + i % 4), 'RHE') x;
SELECT count(*) AS answers, sum(x.remaining) AS seats
FROM generate_series(1, 40) i, LATERAL remaining_matrix('G8801', DATE '2030-03-01' + i * 0) x;
SELECT plpgsql_calls - :calls_before AS plpgsql_calls, seat_map_reads - :reads_before <= 1 AS seat_maps_read_once_at_most
FROM work_done;
COMMIT;
RESET track_functions;

-- the answers are those of the seat maps, pair by pair and class by class
CREATE TEMP VIEW recount AS
SELECT a.stop_no AS a, b.stop_no AS b, c.seat_class::text AS seat_class,
       (SELECT count(*) FROM seat s
        WHERE s.train_id = a.train_id AND s.seat_class = c.seat_class
          AND NOT EXISTS (SELECT 1 FROM tickets k
                          WHERE k.seat_id = s.seat_id AND k.run_id = (SELECT run_id FROM run WHERE train_id = a.train_id)
                            AND (k.status = 'paid' OR (k.status = 'held' AND k.hold_until > now()))
                            AND k.legs::text::int4range && int4range(a.stop_no, b.stop_no)))::int AS remaining
FROM stop a JOIN stop b ON b.train_id = a.train_id AND b.stop_no > a.stop_no
CROSS JOIN (VALUES ('first'::seat_class), ('second')) c(seat_class)
WHERE a.train_id = train_id('G8801');
CREATE TEMP VIEW mismatches AS
SELECT count(*) FILTER (WHERE x.remaining IS DISTINCT FROM r.remaining) AS by_journey,
       (SELECT count(*) FROM remaining_matrix('G8801', '2030-03-01') m
        JOIN stop sa ON sa.train_id = train_id('G8801') AND sa.station_id = station_id(m.from_station)
        JOIN stop sb ON sb.train_id = sa.train_id AND sb.station_id = station_id(m.to_station)
        JOIN recount r2 ON r2.a = sa.stop_no AND r2.b = sb.stop_no AND r2.seat_class = m.seat_class
        WHERE m.remaining IS DISTINCT FROM r2.remaining) AS by_matrix
FROM recount r
JOIN stop sa ON sa.train_id = train_id('G8801') AND sa.stop_no = r.a
JOIN station fa ON fa.station_id = sa.station_id
JOIN stop sb ON sb.train_id = sa.train_id AND sb.stop_no = r.b
JOIN station fb ON fb.station_id = sb.station_id
LEFT JOIN LATERAL remaining('G8801', '2030-03-01', fa.code, fb.code) x ON x.seat_class = r.seat_class;
SELECT * FROM mismatches;

-- this session's own changes show at once, inside its transaction and after
BEGIN;
SELECT count(*) AS grabbed FROM grab(3, 'G8801', '2030-03-01', 'RHA', 'RHE', 'second');
SELECT * FROM remaining('G8801', '2030-03-01', 'RHA', 'RHE');
ROLLBACK;
SELECT * FROM remaining('G8801', '2030-03-01', 'RHA', 'RHE');
SELECT count(*) AS grabbed FROM grab(3, 'G8801', '2030-03-01', 'RHA', 'RHE', 'second');
SELECT * FROM remaining('G8801', '2030-03-01', 'RHA', 'RHE');
SELECT * FROM mismatches;
SELECT cancel(order_id) FROM orders WHERE user_id = 3 AND status = 'held';
SELECT * FROM remaining('G8801', '2030-03-01', 'RHA', 'RHE');
SELECT * FROM mismatches;

-- a hold whose deadline passes counts as free from that moment, with no
-- commit in between (three-second holds for user 4's grab)
SET ticket.hold_timeout = 3;
SELECT count(*) AS grabbed FROM grab(4, 'G8801', '2030-03-01', 'RHA', 'RHE', 'first');
RESET ticket.hold_timeout;
SELECT * FROM remaining('G8801', '2030-03-01', 'RHA', 'RHE');
SELECT pg_sleep(3.5);
SELECT * FROM remaining('G8801', '2030-03-01', 'RHA', 'RHE');
SELECT sum(remaining) AS matrix_seats FROM remaining_matrix('G8801', '2030-03-01');
SELECT * FROM mismatches;
