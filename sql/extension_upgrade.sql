-- The update path gives what a fresh install gives: CREATE EXTENSION ticket
-- (the install script built from src/sql/) against VERSION '1.0' followed by
-- ALTER EXTENSION ticket UPDATE (the frozen scripts of src/updates/ and the
-- built update from the last release), compared by a fingerprint of the
-- catalog, both ways.  Any difference is a row below; the expected output
-- has none.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticket;

-- Everything a user or the code can tell apart, by name (never by OID):
-- members and their comments; functions (whole definition, ACL, comment);
-- columns (number, name, type, nullability, default, generation, storage,
-- comment); constraints, indexes and triggers by definition; enum labels in
-- order; relations (kind, persistence, options, ACL, comment); sequences;
-- types; operators and operator class members; the schema's ACL; the tables
-- pg_dump keeps (pg_extension_config_dump) and the rows the scripts put in
-- them.  ACLs are compared as sorted lists: their order means nothing.
CREATE TEMP VIEW fingerprint (kind, object, detail) AS
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'ticket'),
member AS (
	SELECT d.classid, d.objid, d.objsubid FROM pg_depend d, ext
	WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'),
rel AS (	-- the extension's relations, and the row types of its composite types
	SELECT c.oid FROM pg_class c JOIN member m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
	UNION
	SELECT t.typrelid FROM pg_type t JOIN member m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid
	WHERE t.typrelid <> 0),
sorted_acl(oid, classid, acl) AS (
	SELECT c.oid, 'pg_class'::regclass, (SELECT string_agg(a::text, ' ' ORDER BY a::text) FROM unnest(c.relacl) a)
	FROM pg_class c WHERE c.oid IN (SELECT oid FROM rel)
	UNION ALL
	SELECT p.oid, 'pg_proc'::regclass, (SELECT string_agg(a::text, ' ' ORDER BY a::text) FROM unnest(p.proacl) a)
	FROM pg_proc p JOIN member m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid)
SELECT 'member', pg_describe_object(m.classid, m.objid, m.objsubid),
	coalesce(obj_description(m.objid, m.classid::regclass::name), '(no comment)')
FROM member m
UNION ALL
SELECT 'function', p.oid::regprocedure::text,
	concat_ws(E'\n', pg_get_functiondef(p.oid), 'acl: ' || a.acl, 'comment: ' || obj_description(p.oid, 'pg_proc'))
FROM pg_proc p JOIN sorted_acl a ON a.oid = p.oid AND a.classid = 'pg_proc'::regclass
UNION ALL
SELECT 'relation', c.oid::regclass::text,
	concat_ws(' | ', c.relkind::text, c.relpersistence::text, c.relrowsecurity, c.reloptions::text, 'acl: ' || a.acl,
		'comment: ' || obj_description(c.oid, 'pg_class'))
FROM pg_class c JOIN sorted_acl a ON a.oid = c.oid AND a.classid = 'pg_class'::regclass
UNION ALL
SELECT 'column', c.oid::regclass::text || '.' || at.attname,
	concat_ws(' | ', at.attnum, format_type(at.atttypid, at.atttypmod), CASE WHEN at.attnotnull THEN 'not null' END,
		'default: ' || pg_get_expr(ad.adbin, ad.adrelid), 'generated: ' || nullif(at.attgenerated::text, ''),
		'identity: ' || nullif(at.attidentity::text, ''), 'storage: ' || at.attstorage::text, 'collation: ' || nullif(at.attcollation, 0)::regcollation,
		'comment: ' || col_description(c.oid, at.attnum))
FROM pg_class c JOIN pg_attribute at ON at.attrelid = c.oid AND at.attnum > 0 AND NOT at.attisdropped
LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = at.attnum
WHERE c.oid IN (SELECT oid FROM rel)
UNION ALL
SELECT 'constraint', co.conrelid::regclass::text || '.' || co.conname,
	concat_ws(' | ', pg_get_constraintdef(co.oid), 'comment: ' || obj_description(co.oid, 'pg_constraint'))
FROM pg_constraint co WHERE co.conrelid IN (SELECT oid FROM rel)
UNION ALL
SELECT 'index', i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index i WHERE i.indrelid IN (SELECT oid FROM rel)
UNION ALL
SELECT 'trigger', t.tgrelid::regclass::text || '.' || t.tgname,
	concat_ws(' | ', pg_get_triggerdef(t.oid), t.tgenabled, 'comment: ' || obj_description(t.oid, 'pg_trigger'))
FROM pg_trigger t WHERE t.tgrelid IN (SELECT oid FROM rel) AND NOT t.tgisinternal
UNION ALL
SELECT 'enum label', e.enumtypid::regtype::text || ' #' || rank() OVER (PARTITION BY e.enumtypid ORDER BY e.enumsortorder),
	e.enumlabel
FROM pg_enum e JOIN member m ON m.classid = 'pg_type'::regclass AND m.objid = e.enumtypid
UNION ALL
SELECT 'type', t.oid::regtype::text,
	concat_ws(' | ', t.typtype::text, t.typlen, t.typbyval, t.typalign, t.typstorage, t.typinput::text, t.typoutput::text,
		t.typreceive::text, t.typsend::text, t.typanalyze::text, t.typcategory, t.typispreferred)
FROM pg_type t JOIN member m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid
UNION ALL
SELECT 'sequence', s.seqrelid::regclass::text,
	concat_ws(' | ', s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle)
FROM pg_sequence s WHERE s.seqrelid IN (SELECT oid FROM rel)
UNION ALL
SELECT 'operator', o.oid::regoperator::text,
	concat_ws(' | ', o.oprcode::text, o.oprcom::regoperator, o.oprnegate::regoperator, o.oprrest::text,
		o.oprjoin::text, o.oprcanmerge, o.oprcanhash)
FROM pg_operator o JOIN member m ON m.classid = 'pg_operator'::regclass AND m.objid = o.oid
UNION ALL
SELECT 'operator family member', pg_describe_object('pg_amop'::regclass, ao.oid, 0),
	concat_ws(' | ', ao.amoppurpose::text, ao.amopsortfamily::regclass)
FROM pg_amop ao JOIN pg_opfamily f ON f.oid = ao.amopfamily
JOIN member m ON m.classid = 'pg_opfamily'::regclass AND m.objid = f.oid
UNION ALL
SELECT 'operator family member', pg_describe_object('pg_amproc'::regclass, ap.oid, 0), ''
FROM pg_amproc ap JOIN pg_opfamily f ON f.oid = ap.amprocfamily
JOIN member m ON m.classid = 'pg_opfamily'::regclass AND m.objid = f.oid
UNION ALL
SELECT 'schema', n.nspname,
	concat_ws(' | ', (SELECT string_agg(a::text, ' ' ORDER BY a::text) FROM unnest(n.nspacl) a),
		'comment: ' || obj_description(n.oid, 'pg_namespace'))
FROM pg_namespace n WHERE n.nspname = 'ticket'
UNION ALL
SELECT 'kept by pg_dump', cfg.rel::regclass::text,
	concat_ws(' | ', 'condition: ' || cond.cond,
		'rows: ' || (xpath('/row/r/text()',
			query_to_xml(CASE WHEN (SELECT relkind FROM pg_class WHERE oid = cfg.rel) = 'S'
				THEN format('SELECT last_value || '' '' || is_called AS r FROM %s', cfg.rel::regclass)
				ELSE format('SELECT count(*) || '' '' || md5(coalesce(string_agg(x::text, '','' ORDER BY x::text), '''')) AS r FROM %s x',
					cfg.rel::regclass) END, false, true, '')))[1]::text)
FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS cfg(rel, cond_text)
CROSS JOIN LATERAL (SELECT cfg.cond_text AS cond) cond
WHERE e.extname = 'ticket';

CREATE EXTENSION ticket CASCADE;
SELECT extversion AS fresh_install FROM pg_extension WHERE extname = 'ticket';
CREATE TEMP TABLE fresh AS SELECT * FROM fingerprint;
DROP EXTENSION ticket;

CREATE EXTENSION ticket VERSION '1.0';
ALTER EXTENSION ticket UPDATE;
SELECT extversion AS updated_from_1_0 FROM pg_extension WHERE extname = 'ticket';
CREATE TEMP TABLE updated AS SELECT * FROM fingerprint;
RESET client_min_messages;

-- what the fingerprint covers: a count per kind (fresh install)
SELECT kind, count(*) FROM fresh GROUP BY kind ORDER BY kind;

-- every difference, either way: none
SELECT 'only in a fresh install' AS side, * FROM (TABLE fresh EXCEPT TABLE updated) f
UNION ALL
SELECT 'only after 1.0 + UPDATE', * FROM (TABLE updated EXCEPT TABLE fresh) u
ORDER BY kind, object, side;
DROP EXTENSION ticket;
