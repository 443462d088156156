-- CREATE and DROP EXTENSION leave a clean database behind.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticket;
DROP EXTENSION IF EXISTS btree_gist;
CREATE TEMP TABLE before_objects AS
SELECT classid::regclass::text AS catalog, count(*) AS n
FROM pg_depend WHERE deptype = 'e' GROUP BY 1;

CREATE EXTENSION ticket CASCADE;
RESET client_min_messages;
SELECT extname, extversion, extnamespace::regnamespace
FROM pg_extension WHERE extname IN ('ticket', 'btree_gist') ORDER BY 1;
SELECT count(*) > 0 AS has_members FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
WHERE e.extname = 'ticket' AND d.deptype = 'e';

-- every object a user sees has a comment
SELECT pg_describe_object(d.classid, d.objid, d.objsubid) AS undocumented
FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
WHERE e.extname = 'ticket' AND d.deptype = 'e'
  AND d.classid NOT IN ('pg_amop'::regclass, 'pg_amproc'::regclass, 'pg_opfamily'::regclass)
  AND NOT (d.classid = 'pg_class'::regclass AND (SELECT relkind FROM pg_class WHERE oid = d.objid) = 'S')
  AND obj_description(d.objid, d.classid::regclass::name) IS NULL
  AND NOT (d.classid = 'pg_type'::regclass AND EXISTS (
        SELECT 1 FROM pg_type t WHERE t.oid = d.objid AND (t.typarray = 0 AND t.typelem <> 0)))
ORDER BY 1;

DROP EXTENSION ticket;
SELECT count(*) AS ticket_schema_left FROM pg_namespace WHERE nspname = 'ticket';
SELECT count(*) AS ticket_types_left FROM pg_type WHERE typname LIKE '%segrange%';
SELECT count(*) AS ticket_functions_left FROM pg_proc WHERE prosrc LIKE '%segrange%' OR proname LIKE '%segrange%';
DROP EXTENSION btree_gist;
SELECT catalog, n FROM (
	SELECT classid::regclass::text AS catalog, count(*) AS n
	FROM pg_depend WHERE deptype = 'e' GROUP BY 1) now
FULL JOIN before_objects b USING (catalog, n)
WHERE now IS NULL OR b IS NULL;

-- (the update path is compared with a fresh install in extension_upgrade)
SET client_min_messages = warning;
CREATE EXTENSION ticket CASCADE;
RESET client_min_messages;
SELECT count(*) AS config_tables FROM pg_extension, unnest(extconfig) WHERE extname = 'ticket';
-- the roles are cluster-wide, so they outlive the extension on purpose
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'ticket\_%' ORDER BY 1;
DROP EXTENSION ticket;
SELECT count(*) AS ticket_schema_left FROM pg_namespace WHERE nspname = 'ticket';

-- CREATE EXTENSION ticket CASCADE again on the same database
SET client_min_messages = warning;
CREATE EXTENSION ticket CASCADE;
RESET client_min_messages;
SELECT ticket.segrange(1, 2) AS works_again;
