-- The hand-written part of the update from 1.6 to 1.7: what CREATE OR
-- REPLACE FUNCTION cannot do (tables, types, triggers, dropped or renamed
-- functions).  The build appends every function of src/sql/.
--
-- 1.7 reorganised the source; its tables are those of 1.6.

-- Passengers with their document numbers masked, for roles that only show
-- them (as in src/sql/03_passengers.sql).
CREATE VIEW passenger_masked AS
SELECT p.passenger_id, p.user_id, p.document_type,
	CASE WHEN length(p.document_no) >= 15
	     THEN left(p.document_no, 6) || repeat('*', length(p.document_no) - 10) || right(p.document_no, 4)
	     ELSE left(p.document_no, 1) || repeat('*', length(p.document_no) - 2) || right(p.document_no, 1)
	END AS document_no,
	p.name, p.passenger_type, p.created_at, p.removed_at
FROM passenger p;
COMMENT ON VIEW passenger_masked IS 'ticket.passenger with document numbers masked as 12306 shows them (110105********002X): for roles that display passengers and must not read identity numbers';
COMMENT ON COLUMN passenger_masked.document_no IS 'the document number masked: 15 characters or more keep the first 6 and last 4, shorter ones the first and last character';
GRANT SELECT ON passenger_masked TO ticket_admin, ticket_app;

-- Against scalpers (issue 14: real names required, per-person and
-- per-client limits): three settings, the client of an order, and
-- internal functions of 1.6 that now take the client (dropped here,
-- created again with it below).
ALTER TABLE setting DROP CONSTRAINT setting_name_check;
ALTER TABLE setting ADD CONSTRAINT setting_name_check
	CHECK (name IN ('max_passengers', 'max_orders_per_day', 'max_cancels_per_day', 'refund_min_fee',
	                'real_names_required', 'max_tickets_per_person_day', 'max_orders_per_client_run',
	                'risk_checks', 'risk_captcha_grabs_per_minute', 'risk_block_grabs_per_minute',
	                'risk_captcha_expired_holds', 'risk_block_expired_holds', 'risk_captcha_cancels',
	                'risk_block_cancels', 'risk_captcha_refunds', 'risk_block_refunds',
	                'risk_captcha_accounts_per_document', 'risk_block_accounts_per_document',
	                'hot_queue_length', 'hot_cooldown_seconds', 'breaker_mode', 'breaker_trip_backends',
	                'breaker_hold_seconds'));
ALTER TABLE orders ADD COLUMN client text;
COMMENT ON COLUMN orders.client IS 'the end client that made the order (ticket.client: an IP address or device id), NULL if none was named';
CREATE INDEX orders_client_idx ON orders (client, run_id) WHERE client IS NOT NULL;
DROP FUNCTION hold_seat(bigint, bigint, integer, segrange, seat_class, text, boolean, text);
DROP FUNCTION grab_named(bigint, text, date, text, text, text, text[], text);
-- The passenger form of enqueue: a queued request keeps its passengers,
-- seat letters and end client, in shared memory and in the table.
ALTER TABLE queue_request ADD COLUMN passenger_ids bigint[], ADD COLUMN seat_letters text, ADD COLUMN client text;
COMMENT ON COLUMN queue_request.passenger_ids IS 'the passenger form of enqueue: ids of the account''s passengers, in order, served as the passenger form of grab (NULL: one seat without names)';
COMMENT ON COLUMN queue_request.seat_letters IS 'seat letters asked with passengers (NULL: none)';
COMMENT ON COLUMN queue_request.client IS 'the end client (ticket.client) that queued the request, NULL if none was named';
DROP FUNCTION queue_ring_take(bigint, integer);

-- Risk signals (issue 14, as in src/sql/03_passengers.sql and
-- src/sql/09_risk.sql): the settings' new names, the index that counts
-- accounts per document; the administrator's view comes after the functions.
-- (the setting names: above, with the rules against scalpers)
CREATE INDEX passenger_by_document ON passenger (document_no, document_type) WHERE removed_at IS NULL;

-- (the view risk_flagged reads functions of this version: it is created
-- after them, in src/updates/after--1.6--1.7.sql)

-- Hot runs and the overload breaker (as in src/sql/09_overload.sql and
-- the settings of src/sql/03_passengers.sql).
-- (the setting names: with the risk signals' above)

CREATE TABLE hot_run (
	run_id bigint PRIMARY KEY REFERENCES run ON DELETE CASCADE,
	reason text NOT NULL CHECK (reason IN ('admin', 'queue_length')),
	marked_at timestamptz NOT NULL DEFAULT now(),
	until timestamptz,
	CHECK ((reason = 'admin') = (until IS NULL))
);
COMMENT ON TABLE hot_run IS 'runs sold only through the queue: direct grabs refused with TK080; marked by an administrator (until NULL: until removed) or by the queue-length rule (until its deadline)';
COMMENT ON COLUMN hot_run.until IS 'when an automatic mark lapses (extended while the queue stays long); NULL for an administrator''s mark';
GRANT SELECT ON hot_run TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('hot_run', '');

CREATE VIEW hot_runs AS
SELECT t.code AS train, r.service_date, h.reason, h.marked_at, h.until
FROM hot_run h JOIN run r USING (run_id) JOIN train t USING (train_id)
WHERE h.until IS NULL OR h.until > now();
COMMENT ON VIEW hot_runs IS 'the runs that are hot now, by train and date, with why (admin, queue_length), since when and until when (NULL: until an administrator unmarks it)';
GRANT SELECT ON hot_runs TO ticket_admin, ticket_app;

-- remaining() in C keeps the counts of runs in shared memory; every change
-- of a run's seat maps is counted (as in src/sql/04_sales.sql).
CREATE OR REPLACE FUNCTION run_seats_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'ticket_run_seats_changed' LANGUAGE C;
CREATE TRIGGER run_carriage_seats_changed BEFORE INSERT OR UPDATE OR DELETE ON run_carriage
	FOR EACH ROW EXECUTE FUNCTION run_seats_changed();
CREATE TRIGGER run_carriage_truncated BEFORE TRUNCATE ON run_carriage
	FOR EACH STATEMENT EXECUTE FUNCTION run_seats_changed();
ALTER TABLE run_carriage ENABLE ALWAYS TRIGGER run_carriage_seats_changed;
ALTER TABLE run_carriage ENABLE ALWAYS TRIGGER run_carriage_truncated;
CREATE TRIGGER tickets_hold_changed BEFORE UPDATE OF hold_until ON tickets
	FOR EACH ROW WHEN (OLD.hold_until IS DISTINCT FROM NEW.hold_until) EXECUTE FUNCTION run_seats_changed();
ALTER TABLE tickets ENABLE ALWAYS TRIGGER tickets_hold_changed;

-- A partition behind ticket_proxy (as in src/sql/09_partition.sql): its
-- number and timetable version, moved on by a trigger on every replicated
-- table (the trigger function here first, so the triggers can name it; the
-- functions of src/sql/ that follow define it again, the same).
CREATE TABLE partition_state (
	only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
	partition_no integer NOT NULL DEFAULT 0,
	partitions integer NOT NULL DEFAULT 1,
	CHECK (partitions BETWEEN 1 AND 32768 AND partitions & (partitions - 1) = 0
	       AND partition_no >= 0 AND partition_no < partitions)
);
COMMENT ON TABLE partition_state IS 'this database as a partition behind ticket_proxy: its number and how many there are (a power of two); no row: partition 0 of 1';
GRANT SELECT ON partition_state TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('partition_state', '');

-- A sequence, not a column: pg_dump keeps its value, and restoring the
-- timetable (whose triggers move it) cannot collide with restoring it.
CREATE SEQUENCE partition_timetable_version_seq;
COMMENT ON SEQUENCE partition_timetable_version_seq IS 'the timetable version of this partition: statements that changed a replicated table (timetable, fares, settings, refund rules)';
GRANT SELECT ON partition_timetable_version_seq TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('partition_timetable_version_seq', '');

CREATE OR REPLACE FUNCTION partition_timetable_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	PERFORM nextval('partition_timetable_version_seq');
	RETURN NULL;
END
$$;

CREATE TRIGGER station_partition_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON station
	FOR EACH STATEMENT EXECUTE FUNCTION partition_timetable_changed();
CREATE TRIGGER train_partition_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON train
	FOR EACH STATEMENT EXECUTE FUNCTION partition_timetable_changed();
CREATE TRIGGER stop_partition_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON stop
	FOR EACH STATEMENT EXECUTE FUNCTION partition_timetable_changed();
CREATE TRIGGER carriage_partition_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON carriage
	FOR EACH STATEMENT EXECUTE FUNCTION partition_timetable_changed();
CREATE TRIGGER fare_partition_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON fare
	FOR EACH STATEMENT EXECUTE FUNCTION partition_timetable_changed();
CREATE TRIGGER setting_partition_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON setting
	FOR EACH STATEMENT EXECUTE FUNCTION partition_timetable_changed();
CREATE TRIGGER refund_rule_partition_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON refund_rule
	FOR EACH STATEMENT EXECUTE FUNCTION partition_timetable_changed();

-- The person ledger behind ticket_proxy (as in src/sql/09_partition.sql).
CREATE TABLE person_trip (
	trip_id bigserial PRIMARY KEY,
	document_key text NOT NULL,
	travel tsrange NOT NULL,
	token text NOT NULL,
	order_id bigint,
	state text NOT NULL DEFAULT 'held' CHECK (state IN ('held', 'paying', 'paid', 'releasing', 'released')),
	live_until timestamptz NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT person_trip_one_place_at_a_time EXCLUDE USING gist
		(document_key WITH =, travel WITH &&) WHERE (state <> 'released')
);
CREATE INDEX person_trip_order_idx ON person_trip (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX person_trip_unsettled_idx ON person_trip (created_at) WHERE state IN ('paying', 'releasing');
COMMENT ON TABLE person_trip IS 'behind ticket_proxy: the trips of the people whose document key this partition owns, whatever partition their run is on; rows not released never overlap for one person';
COMMENT ON COLUMN person_trip.token IS 'the grab that reserved the trip (chosen by the proxy)';
COMMENT ON COLUMN person_trip.live_until IS 'a held trip lapses then (the hold''s deadline and a margin); paying, paid and releasing ones do not';
GRANT SELECT ON person_trip TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('person_trip', '');
SELECT pg_catalog.pg_extension_config_dump('person_trip_trip_id_seq', '');
