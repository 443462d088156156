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
