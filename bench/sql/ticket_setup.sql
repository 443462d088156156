-- The ticket contender's template database (bench/run copies it for every
-- measured run, so each run starts from the same state).
--   20 stations S0..S19 (codes SAA..SAT), shared by every train;
--   50 trains Z1001..Z1050 of 20 stops, each 10 carriages x 20 rows x ABCDF
--   = 1,000 second-class seats;
--   W1's 200 runs: trains Z1001..Z1020 on the 10 dates 2030-01-01..10.
-- W3 later opens all 50 trains on 200 dates (10,000 runs) in a copy.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION ticket CASCADE;
SELECT count(ticket.add_station('SA' || chr(65 + i), 'S' || i)) AS stations
FROM generate_series(0, 19) i;
SELECT count(ticket.add_train('Z' || (1000 + t), ARRAY(SELECT 'S' || i FROM generate_series(0, 19) i ORDER BY i)))
	AS trains
FROM generate_series(1, 50) t;
SELECT sum(ticket.add_carriage('Z' || (1000 + t), c, 'second', 20, 'ABCDF')) AS seats
FROM generate_series(1, 50) t, generate_series(1, 10) c;
SELECT count(ticket.open_sales('Z' || (1000 + t), DATE '2030-01-01' + d)) AS w1_runs
FROM generate_series(1, 20) t, generate_series(0, 9) d;
