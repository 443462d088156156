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
