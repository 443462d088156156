-- pgTAP: journey search (1.3) as the catalog and a small made-up timetable
-- see it: signatures, privileges, the city column, and the rules on cases
-- the real timetable does not happen to contain.
BEGIN;
SELECT plan(30);
SET LOCAL search_path = ticket, public;

SELECT has_function('ticket', 'search', ARRAY['text', 'text', 'date']);
SELECT has_function('ticket', 'search_transfers',
	ARRAY['text', 'text', 'date', 'interval', 'interval', 'integer', 'interval']);
SELECT volatility_is('ticket', 'search', ARRAY['text', 'text', 'date'], 'stable');
SELECT volatility_is('ticket', 'search_transfers',
	ARRAY['text', 'text', 'date', 'interval', 'interval', 'integer', 'interval'], 'stable');
SELECT isnt_definer('ticket', 'search', ARRAY['text', 'text', 'date'], 'search runs with the caller''s rights');
SELECT volatility_is('ticket', 'city_of', ARRAY['text'], 'immutable');
SELECT function_privs_are('ticket', 'search', ARRAY['text', 'text', 'date'], 'ticket_app', ARRAY['EXECUTE']);
SELECT function_privs_are('ticket', 'search_transfers',
	ARRAY['text', 'text', 'date', 'interval', 'interval', 'integer', 'interval'], 'ticket_app', ARRAY['EXECUTE']);
SELECT function_privs_are('ticket', 'set_station_city', ARRAY['text', 'text'], 'ticket_app', ARRAY[]::text[]);
SELECT function_privs_are('ticket', 'set_station_city', ARRAY['text', 'text'], 'ticket_admin', ARRAY['EXECUTE']);
SELECT ok(NOT has_function_privilege('public', 'ticket.search(text, text, date)', 'EXECUTE'),
	'PUBLIC cannot search');
SELECT has_column('ticket', 'station', 'city', 'stations have a city');
SELECT ok((SELECT attgenerated = 's' FROM pg_attribute
           WHERE attrelid = 'ticket.station'::regclass AND attname = 'city'), 'the city is generated');
SELECT has_index('ticket', 'stop', 'stop_station_idx', ARRAY['station_id', 'train_id', 'stop_no']);

-- a small timetable: AAA -> BBB -> CCC, with 乙城 and 乙城东 one city; all
-- trains on sale on 2030-01-01 and 2030-01-02
DO $setup$
BEGIN
	PERFORM add_station('AAA', '甲城'), add_station('BBB', '乙城'), add_station('BBD', '乙城东'),
	       add_station('CCC', '丙城'), add_station('AAX', '甲城西');
	PERFORM add_train('G9001', ARRAY['AAA', 'BBB'], ARRAY[NULL, '10:00']::interval[], ARRAY['08:00', NULL]::interval[]);
	-- at 乙城 after 30 minutes, at 乙城东 after 90
	PERFORM add_train('G9002', ARRAY['BBB', 'CCC'], ARRAY[NULL, '12:00']::interval[], ARRAY['10:30', NULL]::interval[]);
	PERFORM add_train('G9003', ARRAY['BBD', 'CCC'], ARRAY[NULL, '11:45']::interval[], ARRAY['11:30', NULL]::interval[]);
	-- an overnight train reaching 乙城 at 23:00; the connection is next morning
	PERFORM add_train('K9004', ARRAY['AAA', 'BBB'], ARRAY[NULL, '23:00']::interval[], ARRAY['20:00', NULL]::interval[]);
	PERFORM add_train('G9005', ARRAY['BBB', 'CCC'], ARRAY[NULL, '08:00']::interval[], ARRAY['06:00', NULL]::interval[]);
	-- a train that calls at the origin's city (甲城西) on the way: never a change point
	PERFORM add_train('G9006', ARRAY['AAA', 'AAX', 'CCC'], ARRAY[NULL, '08:30', '13:00']::interval[],
		ARRAY['08:10', '08:35', NULL]::interval[]);
	PERFORM add_train('G9007', ARRAY['AAX', 'CCC'], ARRAY[NULL, '09:30']::interval[], ARRAY['09:00', NULL]::interval[]);
	PERFORM add_carriage(code, 1, 'second', 2, 'AB') FROM train WHERE code LIKE '_900_';
	PERFORM open_sales('2030-01-01'), open_sales('2030-01-02');
END
$setup$;
SELECT is((SELECT city FROM station WHERE code = 'BBD'), '乙城', '乙城东 is in 乙城 by the rule');

SELECT results_eq(
	$$SELECT train_1, change_at, train_2, change_from, connection, run_date_2
	  FROM search_transfers('AAA', 'CCC', '2030-01-01', max_connection => '8 hours')$$,
	$$VALUES ('G9001', 'BBB', 'G9003', 'BBD', interval '1 hour 30 min', date '2030-01-01'),
	         ('G9001', 'BBB', 'G9002', 'BBB', interval '30 min', date '2030-01-01'),
	         ('K9004', 'BBB', 'G9005', 'BBB', interval '7 hours', date '2030-01-02')$$,
	'changes at one station, within a city, overnight; by arrival; never via 甲城西');
SELECT is((SELECT count(*)::int FROM search_transfers('AAA', 'CCC', '2030-01-01', min_city_connection => '91 min')
           WHERE change_from = 'BBD'), 0, 'the city change needs min_city_connection');
SELECT is((SELECT count(*)::int FROM search_transfers('AAA', 'CCC', '2030-01-01', min_connection => '31 min')
           WHERE train_2 = 'G9002'), 0, 'a 30-minute change needs min_connection <= 30 min');
SELECT is((SELECT count(*)::int FROM search_transfers('AAA', 'CCC', '2030-01-01') WHERE train_1 = 'K9004'), 0,
	'a 7-hour change is past the default max_connection');
SELECT is((SELECT sales_2 FROM search_transfers('AAA', 'CCC', '2030-01-02', max_connection => '8 hours')
           WHERE train_1 = 'K9004'), 'not_open', 'the next day''s run is not on sale');
SELECT is((SELECT remaining_2 FROM search_transfers('AAA', 'CCC', '2030-01-02', max_connection => '8 hours')
           WHERE train_1 = 'K9004'), NULL, 'no run, no count');
SELECT results_eq($$SELECT train, departure, arrival, remaining FROM search('甲城', '丙城', '2030-01-01')$$,
	$$VALUES ('G9006', timestamp '2030-01-01 08:10', timestamp '2030-01-01 13:00', '{"second": 4}'::jsonb)$$,
	'the one direct train');
SELECT is((SELECT city FROM station WHERE code = 'AAX'), '甲城', '甲城西 is in 甲城');
SELECT lives_ok($$SELECT set_station_city('BBD', '丁城')$$, 'an admin moves 乙城东 to another city');
SELECT is((SELECT count(*)::int FROM search_transfers('AAA', 'CCC', '2030-01-01') WHERE change_from = 'BBD'), 0,
	'and the change between 乙城 and 乙城东 is gone');
SELECT throws_ok($$SELECT * FROM search('AAA', '甲城', '2030-01-01')$$, 'TK030', NULL, 'same station');
SELECT throws_ok($$SELECT * FROM search_transfers('AAA', 'CCC', '2030-01-01', '1 hour', '30 min')$$, 'TK031', NULL,
	'window upside down');
SELECT throws_ok($$SELECT * FROM search_transfers('AAA', 'CCC', '2030-01-01', max_results => 0)$$, 'TK032', NULL,
	'no results asked');
SELECT throws_ok($$SELECT set_station_city('AAA', '')$$, 'TK033', NULL, 'empty city');
SELECT throws_ok($$SELECT * FROM search('QQQ', 'CCC', '2030-01-01')$$, 'TK009', NULL, 'unknown station');

SELECT * FROM finish();
ROLLBACK;
