-- After the rush: a hot train sold through the queue only (热点隔离) and the
-- overload breaker switched by the administrator (降级熔断); demo/run then
-- trips it automatically with busy sessions and lets it recover.
-- Scaffolding for the demo (README, "Hot trains and overload").
\set ON_ERROR_STOP 1
\pset footer off
SET client_min_messages = warning;
SELECT sale_date AS day FROM demo.config \gset
-- real names are required in this demo: each account names a passenger
SELECT count(ticket.add_passenger(u, f.document_no, f.name, f.passenger_type)) AS passengers_added
FROM generate_series(990011, 990012) u, demo.family(u) f WHERE f.member = 1;
SELECT f.document_no AS doc1 FROM demo.family(990011) f WHERE f.member = 1 \gset
SELECT f.document_no AS doc2 FROM demo.family(990012) f WHERE f.member = 1 \gset

\echo
\echo '== G1 is marked hot by the administrator: search shows it as sold through the queue only'
SELECT ticket.set_run_hot('G1', :'day', true) AS g1_hot;
SELECT train, service_date, reason FROM ticket.hot_runs;
SELECT train, departure, sales FROM ticket.search('VNP', 'AOH', :'day') WHERE train IN ('G1', 'G11') ORDER BY departure;
\echo '== A direct grab on G1 is refused (TK080, with a hint to enqueue); the queue sells it, served by the worker'
SELECT demo.outcome_of(format('SELECT ticket.grab(990011, %L, %L, %L, %L, %L, ARRAY[%L])', 'G1', :'day', 'VNP', 'AOH',
	'second', :'doc1')) AS direct_grab_on_g1;
SELECT request_id FROM ticket.enqueue(990011, 'G1', :'day', 'VNP', 'AOH', 'second', ARRAY[:'doc1']) \gset
SELECT status, order_id, error_sqlstate FROM ticket.queue_wait(:request_id, '10 seconds');
SELECT ticket.set_run_hot('G1', :'day', false) AS g1_hot;

\echo
\echo '== The administrator trips the breaker: search_transfers answers TK081 (degraded, try later); grabs go on'
SELECT ticket.set_breaker('on');
SELECT demo.outcome_of(format('SELECT ticket.search_transfers(%L, %L, %L)', '杭州', '齐齐哈尔', :'day')) AS search_transfers;
SELECT demo.outcome_of(format('SELECT ticket.grab(990012, %L, %L, %L, %L, %L, ARRAY[%L])', 'G11', :'day', 'VNP', 'AOH',
	'second', :'doc2')) AS grab_on_g11;
SELECT ticket.set_breaker('auto');
SELECT mode, degraded FROM ticket.breaker_status();
