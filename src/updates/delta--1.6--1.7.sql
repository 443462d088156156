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
