-- The order queue's hardening of 1.7 (issue 13), one part per defect fixed.
-- No queue worker runs here; the tests serve the queue with
-- ticket.serve_queue().
--
-- This file runs twice, as queue.sql does: with the library preloaded
-- (requests wait in shared memory; expected output in expected/) and not
-- preloaded (requests are rows of ticket.queue_request; `make
-- installcheck-fallback`, expected output in test/fallback/expected/).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticket CASCADE;
CREATE EXTENSION ticket CASCADE;
RESET client_min_messages;
\i test/regress_helpers.sql
SELECT ticket.queue_batch_count(1) IS NOT NULL AS preloaded;

-- G7101 and G7102: 3 stops, one carriage of 4 seats each.
SELECT count(ticket.add_station(c, n)) AS stations
FROM (VALUES ('QHA', 'H0'), ('QHB', 'H1'), ('QHC', 'H2')) v(c, n);
SELECT ticket.add_train(t, ARRAY['QHA', 'QHB', 'QHC']) > 0 AS added,
       ticket.add_carriage(t, 1, 'second', 2, 'AB') AS seats,
       ticket.open_sales(t, DATE '2099-02-01') > 0 AS open
FROM (VALUES ('G7101'), ('G7102')) v(t);

-- enqueue leaves the durability of the caller's transaction alone: what
-- else the transaction writes commits as the caller's settings say (before
-- 1.7 it turned synchronous_commit off for the whole transaction)
BEGIN;
SHOW synchronous_commit;
SELECT status FROM ticket.enqueue(1, 'G7101', '2099-02-01', 'QHA', 'QHC');
SHOW synchronous_commit;
ROLLBACK;
BEGIN;
SET LOCAL synchronous_commit = remote_apply;
SELECT status FROM ticket.enqueue(1, 'G7101', '2099-02-01', 'QHA', 'QHC');
SHOW synchronous_commit;
ROLLBACK;

-- A caller that commits asynchronously may lose its request in a crash, but
-- never its request id (the sequence would hand it out again): on the table
-- path enqueue flushes the WAL up to its row, and so past the id, before it
-- answers.  (Preloaded, the request writes no WAL: ids are reserved on disk
-- in blocks before any is handed out.)
BEGIN;
SET LOCAL synchronous_commit = off;
SELECT status, ticket.queue_batch_count(1) IS NOT NULL
       OR pg_current_wal_flush_lsn() >= pg_current_wal_insert_lsn() AS id_on_disk
FROM ticket.enqueue(1, 'G7101', '2099-02-01', 'QHA', 'QHC');
ROLLBACK;

-- queue_wait for a request queued in the same transaction: nobody can
-- serve it before the commit, so it says so at once (TK025) instead of
-- waiting out its timeout and answering 'waiting'
BEGIN;
CREATE TEMP TABLE mine ON COMMIT DROP AS
SELECT request_id FROM ticket.enqueue(2, 'G7101', '2099-02-01', 'QHA', 'QHB');
-- (its id, as every id, goes on from the requests before it: not shown)
SELECT clock_timestamp() AS asked \gset
SELECT regexp_replace(regress_error($q$SELECT * FROM ticket.queue_wait((SELECT request_id FROM mine), '5 seconds')$q$),
	'request \d+', 'request N') AS error;
SELECT clock_timestamp() - :'asked' < interval '2 seconds' AS answered_at_once;
-- (after a savepoint too: the transaction has still not committed)
SAVEPOINT s;
SELECT regexp_replace(regress_error($q$SELECT * FROM ticket.queue_wait((SELECT request_id FROM mine), '5 seconds')$q$),
	'request \d+', 'request N') AS error;
RELEASE SAVEPOINT s;
-- queue_status tells what it is
SELECT status, ahead FROM ticket.queue_status((SELECT request_id FROM mine));
ROLLBACK;
-- committed first, it is served and queue_wait answers
CREATE TEMP TABLE committed AS
SELECT request_id FROM ticket.enqueue(3, 'G7101', '2099-02-01', 'QHA', 'QHB');
SELECT ticket.serve_queue(r.run_id) AS served FROM ticket.run r JOIN ticket.train t USING (train_id)
WHERE t.code = 'G7101';
SELECT status, carriage, seat_no IS NOT NULL AS seated
FROM ticket.queue_wait((SELECT request_id FROM committed), '5 seconds');

-- A batch that fails on something its checks did not foresee is rolled
-- back and its first request served alone (queue_batch_recover).  On a run
-- whose sales have closed since the request was accepted, that request
-- fails with TK012 as the batch would have failed it, and no seat is sold.
-- (The failure here: a trigger that fails the first write of
-- queue_request once.)
CREATE TEMP TABLE on_closed AS
SELECT request_id FROM ticket.enqueue(4, 'G7102', '2099-02-01', 'QHA', 'QHC');
SELECT ticket.close_sales('G7102', '2099-02-01') > 0 AS closed;
CREATE SEQUENCE public.batch_writes;
CREATE FUNCTION public.fail_first_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF nextval('public.batch_writes') = 1 THEN
		RAISE EXCEPTION 'something no check foresaw';
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER fail_first_write AFTER INSERT OR UPDATE ON ticket.queue_request
	FOR EACH STATEMENT EXECUTE FUNCTION public.fail_first_write();
SELECT ticket.serve_queue(r.run_id) AS served FROM ticket.run r JOIN ticket.train t USING (train_id)
WHERE t.code = 'G7102';
DROP TRIGGER fail_first_write ON ticket.queue_request;
SELECT nextval('public.batch_writes') > 2 AS the_batch_failed_and_was_recovered;
SELECT status, order_id, error_sqlstate, error_message
FROM ticket.queue_status((SELECT request_id FROM on_closed));
SELECT count(*) AS tickets_on_the_closed_run
FROM ticket.tickets k JOIN ticket.run r USING (run_id) JOIN ticket.train t USING (train_id)
WHERE t.code = 'G7102';
SELECT count(*) AS orders_of_user_4 FROM ticket.orders WHERE user_id = 4;

-- A request lost in a restart answers TK019 (request ids are never handed
-- out again, so an id names its own request or none).
SELECT regress_error($q$SELECT * FROM ticket.queue_status(987654321)$q$);
SELECT regress_error($q$SELECT * FROM ticket.queue_wait(987654321, '1 second')$q$);
