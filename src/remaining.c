/*-------------------------------------------------------------------------
 *
 * remaining.c
 *	  ticket.remaining() and ticket.remaining_matrix(): the seats left on a
 *	  run, per class, for one journey or for every journey of its route.
 *
 * Reads dominate a rush, so these cost about what a primary-key lookup
 * costs: no PL/pgSQL and no query to plan on the common path.  The journey
 * (train, date and stations to a run and its stops) is found in the run's
 * route, resolved once per session and kept while the timetable does not
 * change (journey_from_route() says why not the shared journey cache of
 * journey_cache.c: a rush asks for too many journeys), and the counts from an entry in
 * shared memory that holds exactly what this statement's snapshot would
 * count from the run's seat maps (run_counts.c).  Without such an entry the
 * seat maps are read through the primary key of ticket.run_carriage and the
 * holds of the run through ticket.tickets_holds_idx, under the statement's
 * snapshot, as the SQL of 1.6 read them; the counts are then kept for the
 * next caller.  A journey the route cannot resolve is resolved by
 * ticket.journey() (a kept plan), so that the rules for trains and
 * stations and every error (TK007-TK011, TK017, TK008) stay in SQL alone.
 *
 * Holds past their deadline that the sweeper has not released yet count as
 * free, as the next grab would release them (doc/search.md).
 *
 * Both are SECURITY INVOKER, as they were in SQL: the caller needs SELECT
 * on the tables they read (ticket_app and ticket_admin have it), checked
 * here even when nothing is read from them (42501 otherwise).
 *
 * On a hot standby nothing is kept: the primary's commits never reach this
 * server's shared memory, so journeys are resolved by query and counts read
 * from the seat maps on every call.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid_d.h"
#include "catalog/pg_collation_d.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/parse_relation.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "journey_cache.h"
#include "queue_signal.h"
#include "run_counts.h"
#include "seatmap_sql.h"
#include "segrange.h"
#include "ticket_errcodes.h"

PG_FUNCTION_INFO_V1(ticket_remaining);
PG_FUNCTION_INFO_V1(ticket_remaining_matrix);

/* a route resolved by remaining_matrix() is kept this long at most (as journeys are) */
#define ROUTE_MAX_AGE_MS 10000
#define ROUTES_KEPT 8
#define CLASS_LABELS_KEPT 16

/* -- what this backend knows of the schema, until pg_class changes ---------- */

typedef struct Schema
{
	bool		valid;
	Oid			checked_user;	/* SELECT on every table checked for this role */
	Oid			run_carriage;
	Oid			run_carriage_pkey;
	Oid			tickets;
	Oid			tickets_holds_idx;
	Oid			seat;
	Oid			seat_pkey;
	AttrNumber	rc_class,
				rc_map;
	AttrNumber	t_seat,
				t_legs,
				t_status,
				t_hold_until;
	AttrNumber	s_carriage,
				s_index;
} Schema;

static Schema schema;

typedef struct ClassLabel
{
	Oid			oid;
	float4		sortorder;
	char		label[NAMEDATALEN];
} ClassLabel;

static ClassLabel labels[CLASS_LABELS_KEPT];
static int	n_labels = 0;

typedef struct Route
{
	bool		used;
	char	   *train;			/* as given (TopMemoryContext) */
	DateADT		service_date;
	uint64		timetable_changes;
	TimestampTz resolved_at;
	int64		run_id;
	int			n_stops;
	char	  **codes;			/* station codes, by stop number */
} Route;

static Route routes[ROUTES_KEPT];
static int	next_route = 0;

static SPIPlanPtr journey_plan = NULL;
static SPIPlanPtr train_plan = NULL;
static SPIPlanPtr route_plan = NULL;
static bool callbacks_registered = false;

static void
forget_schema(Datum arg pg_attribute_unused(), int cacheid pg_attribute_unused(),
			  uint32 hashvalue pg_attribute_unused())
{
	schema.valid = false;
	schema.checked_user = InvalidOid;
}

static void
forget_labels(Datum arg pg_attribute_unused(), int cacheid pg_attribute_unused(),
			  uint32 hashvalue pg_attribute_unused())
{
	n_labels = 0;
}

static Oid
relation_named(const char *name)
{
	Oid			relid = get_relname_relid(name, get_namespace_oid("ticket", false));

	if (!OidIsValid(relid))
		elog(ERROR, "ticket: relation %s is missing", name);
	return relid;
}

static AttrNumber
column_named(Oid relid, const char *name)
{
	AttrNumber	attnum = get_attnum(relid, name);

	if (attnum == InvalidAttrNumber)
		elog(ERROR, "ticket: column %s.%s is missing", get_rel_name(relid), name);
	return attnum;
}

static void
learn_schema(void)
{
	if (!callbacks_registered)
	{
		/* grants are in pg_class; membership of roles in pg_auth_members */
		CacheRegisterSyscacheCallback(RELOID, forget_schema, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, forget_schema, (Datum) 0);
		CacheRegisterSyscacheCallback(ENUMOID, forget_labels, (Datum) 0);
		callbacks_registered = true;
	}
	if (schema.valid)
		return;
	schema.checked_user = InvalidOid;
	schema.run_carriage = relation_named("run_carriage");
	schema.run_carriage_pkey = relation_named("run_carriage_pkey");
	schema.tickets = relation_named("tickets");
	schema.tickets_holds_idx = relation_named("tickets_holds_idx");
	schema.seat = relation_named("seat");
	schema.seat_pkey = relation_named("seat_pkey");
	schema.rc_class = column_named(schema.run_carriage, "seat_class");
	schema.rc_map = column_named(schema.run_carriage, "map");
	schema.t_seat = column_named(schema.tickets, "seat_id");
	schema.t_legs = column_named(schema.tickets, "legs");
	schema.t_status = column_named(schema.tickets, "status");
	schema.t_hold_until = column_named(schema.tickets, "hold_until");
	schema.s_carriage = column_named(schema.seat, "carriage_no");
	schema.s_index = column_named(schema.seat, "seat_index");
	schema.valid = true;
}

/*
 * The caller may read what the SQL versions read (42501 otherwise, naming
 * the table as a query would): checked once per role until grants change.
 */
static void
check_privileges(void)
{
	static const char *const tables[] = {"train", "station", "stop", "run", "run_carriage", "tickets", "seat"};
	Oid			user = GetUserId();

	learn_schema();
	if (schema.checked_user == user)
		return;
	for (size_t i = 0; i < lengthof(tables); i++)
	{
		Oid			relid = relation_named(tables[i]);

		if (pg_class_aclcheck(relid, user, ACL_SELECT) != ACLCHECK_OK)
			aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, get_rel_name(relid));
	}
	schema.checked_user = user;
}

/* the label and enum order of a seat class */
static const ClassLabel *
class_label(Oid oid)
{
	HeapTuple	tup;
	Form_pg_enum e;
	ClassLabel *l;

	for (int i = 0; i < n_labels; i++)
		if (labels[i].oid == oid)
			return &labels[i];
	tup = SearchSysCache1(ENUMOID, ObjectIdGetDatum(oid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "ticket: seat class %u is missing", oid);
	e = (Form_pg_enum) GETSTRUCT(tup);
	l = &labels[n_labels < CLASS_LABELS_KEPT ? n_labels++ : CLASS_LABELS_KEPT - 1];
	l->oid = oid;
	l->sortorder = e->enumsortorder;
	strlcpy(l->label, NameStr(e->enumlabel), NAMEDATALEN);
	ReleaseSysCache(tup);
	return l;
}

/* -- SPI, for the rare paths ------------------------------------------------ */

static SPIPlanPtr
keep_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);

		if (p == NULL)
			elog(ERROR, "ticket.remaining: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		*plan = p;
	}
	return *plan;
}

static void
run_plan(SPIPlanPtr plan, Datum *values, const char *nulls)
{
	int			rc = SPI_execute_plan(plan, values, nulls, true, 0);

	if (rc < 0)
		elog(ERROR, "ticket.remaining: SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

/*
 * The timetable may be kept in this backend or the shared journey cache:
 * with the library preloaded (its triggers count changes of the timetable)
 * and not on a standby (where they never fire).
 */
static bool
timetable_keepable(void)
{
	return journey_cache_available() && !RecoveryInProgress();
}

/* -- the journey ---------------------------------------------------------- */

typedef struct Journey
{
	int64		run_id;
	int32		from_stop;
	int32		to_stop;
} Journey;

/*
 * By ticket.journey(), under a snapshot taken after the timetable count was
 * read (so that a change committed after it moves the count past it).
 */
static void
journey_from_query(Datum *args, bool *argnulls, Journey *j)
{
	Oid			types[4] = {TEXTOID, DATEOID, TEXTOID, TEXTOID};
	char		nulls[4];
	bool		isnull;

	for (int i = 0; i < 4; i++)
		nulls[i] = argnulls[i] ? 'n' : ' ';
	SPI_connect();
	PushActiveSnapshot(GetLatestSnapshot());
	run_plan(keep_plan(&journey_plan,
					   "SELECT j.run_id, ticket.lower(j.legs), ticket.upper(j.legs) "
					   "FROM ticket.journey($1, $2, $3, $4) j", 4, types),
			 args, nulls);
	PopActiveSnapshot();
	if (SPI_processed != 1)
		elog(ERROR, "ticket.remaining: ticket.journey() returned no run");
	j->run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	j->from_stop = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	j->to_stop = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	SPI_finish();
}

/*
 * Journeys by route.  A rush asks for thousands of journeys (R1 draws from
 * 38,000: 200 runs of 190 journeys), far more than are asked twice in the
 * 10 s a kept journey counts, but for a few hundred runs.  So remaining()
 * keeps, per session, the route of each run it was asked about (the run,
 * and the code and name of the station at each stop), resolved by one query
 * under the same rules as ticket.journey() and kept while the timetable
 * does not change and for 10 s at most (as journey_cache.c keeps journeys),
 * and finds the two stops in it.  A station is found in the route only
 * when the rule of ticket.station_named() cannot name another one: a
 * telegraph code (three ASCII letters, any case) by code; a text that no
 * case mapping could make a code (not three characters, or three CJK
 * characters), by its exact name.  Anything else, and every error, goes to
 * ticket.journey().
 */
#define ROUTE_TRAIN_LEN 32
#define ROUTES_PER_SESSION 4096

typedef struct RouteKey
{
	DateADT		service_date;
	char		train[ROUTE_TRAIN_LEN];	/* as given */
} RouteKey;

typedef struct RunRoute
{
	RouteKey	key;
	bool		valid;
	uint64		timetable_changes;
	TimestampTz resolved_at;
	int64		run_id;
	int			n_stops;
	char		(*codes)[4];
	char	  **names;
} RunRoute;

static HTAB *run_routes = NULL;
static SPIPlanPtr run_route_plan = NULL;

/* the route of a run by one query; false without one (then journey() says why) */
static bool
run_route_from_query(text *train, DateADT service_date, RunRoute *r)
{
	Oid			types[2] = {TEXTOID, DATEOID};
	Datum		values[2] = {PointerGetDatum(train), DateADTGetDatum(service_date)};
	bool		isnull;
	bool		found;

	SPI_connect();
	PushActiveSnapshot(GetLatestSnapshot());
	run_plan(keep_plan(&run_route_plan,
					   "SELECT r.run_id, array_agg(st.code ORDER BY s.stop_no), array_agg(st.name ORDER BY s.stop_no) "
					   "FROM ticket.train t JOIN ticket.run r ON r.train_id = t.train_id AND r.service_date = $2 "
					   "JOIN ticket.stop s ON s.train_id = t.train_id "
					   "JOIN ticket.station st ON st.station_id = s.station_id "
					   "WHERE t.code = upper(btrim($1)) GROUP BY r.run_id", 2, types),
			 values, NULL);
	PopActiveSnapshot();
	found = SPI_processed == 1;
	if (found)
	{
		Datum	   *codes;
		Datum	   *names;
		bool	   *nulls;
		int			n,
					n_names;

		r->run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)),
						  TEXTOID, -1, false, TYPALIGN_INT, &codes, &nulls, &n);
		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull)),
						  TEXTOID, -1, false, TYPALIGN_INT, &names, &nulls, &n_names);
		r->n_stops = Min(n, n_names);
		r->codes = MemoryContextAllocZero(TopMemoryContext, sizeof(char[4]) * Max(r->n_stops, 1));
		r->names = MemoryContextAllocZero(TopMemoryContext, sizeof(char *) * Max(r->n_stops, 1));
		for (int i = 0; i < r->n_stops; i++)
		{
			strlcpy(r->codes[i], TextDatumGetCString(codes[i]), 4);
			r->names[i] = MemoryContextStrdup(TopMemoryContext, TextDatumGetCString(names[i]));
		}
	}
	SPI_finish();
	return found;
}

static void
forget_run_route(RunRoute *r)
{
	if (!r->valid)
		return;
	for (int i = 0; i < r->n_stops; i++)
		pfree(r->names[i]);
	pfree(r->names);
	pfree(r->codes);
	r->valid = false;
}

/* the stop of a station in a route, -1 when the route alone cannot say */
static int
stop_in_route(const RunRoute *r, text *station)
{
	const char *p = VARDATA_ANY(station);
	int			len = VARSIZE_ANY_EXHDR(station);
	int			n_chars = 0;
	bool		ascii_letters = true;
	bool		cjk_only = true;

	/* btrim(): spaces at both ends */
	while (len > 0 && *p == ' ')
		p++, len--;
	while (len > 0 && p[len - 1] == ' ')
		len--;
	for (int i = 0; i < len;)
	{
		unsigned char c = (unsigned char) p[i];
		int			l;

		/* beyond ASCII, only UTF-8 is read here */
		if (c >= 0x80 && GetDatabaseEncoding() != PG_UTF8)
			return -1;
		l = pg_utf_mblen((const unsigned char *) p + i);

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
			ascii_letters = false;
		/* CJK: three-byte UTF-8 sequences from U+3000 to U+9FFF */
		if (!(l == 3 && c >= 0xE3 && c <= 0xE9))
			cjk_only = false;
		i += l;
		n_chars++;
	}
	if (n_chars == 3 && ascii_letters)
	{
		char		code[4];

		for (int i = 0; i < 3; i++)
			code[i] = pg_ascii_toupper(p[i]);
		code[3] = '\0';
		for (int i = 0; i < r->n_stops; i++)
			if (strcmp(r->codes[i], code) == 0)
				return i;
		return -1;
	}
	if (n_chars == 3 && !cjk_only)
		return -1;				/* a case mapping might make it a code */
	for (int i = 0; i < r->n_stops; i++)
		if ((int) strlen(r->names[i]) == len && memcmp(r->names[i], p, len) == 0)
			return i;
	return -1;
}

static bool
journey_from_route(FunctionCallInfo fcinfo, Journey *j)
{
	text	   *train = PG_GETARG_TEXT_PP(0);
	RouteKey	key;
	RunRoute   *r;
	bool		found;
	uint64		changes = queue_signal_timetable_changes();
	TimestampTz now = GetCurrentTimestamp();

	if (VARSIZE_ANY_EXHDR(train) >= ROUTE_TRAIN_LEN)
		return false;
	if (run_routes == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(RouteKey);
		ctl.entrysize = sizeof(RunRoute);
		run_routes = hash_create("ticket remaining routes", 256, &ctl, HASH_ELEM | HASH_BLOBS);
	}
	/* a session that has asked about very many runs starts over */
	if (hash_get_num_entries(run_routes) >= ROUTES_PER_SESSION)
	{
		HASH_SEQ_STATUS seq;
		RunRoute   *old;

		hash_seq_init(&seq, run_routes);
		while ((old = hash_seq_search(&seq)) != NULL)
			forget_run_route(old);
		hash_destroy(run_routes);
		run_routes = NULL;
		return journey_from_route(fcinfo, j);
	}
	memset(&key, 0, sizeof(key));
	key.service_date = PG_GETARG_DATEADT(1);
	memcpy(key.train, VARDATA_ANY(train), VARSIZE_ANY_EXHDR(train));
	r = hash_search(run_routes, &key, HASH_ENTER, &found);
	if (!found)
		r->valid = false;
	if (r->valid && (r->timetable_changes != changes
					 || TimestampDifferenceExceeds(r->resolved_at, now, ROUTE_MAX_AGE_MS)))
		forget_run_route(r);
	if (!r->valid)
	{
		/* read before the query's snapshot: a change committed after it moves the count past this */
		if (!run_route_from_query(train, key.service_date, r))
		{
			hash_search(run_routes, &key, HASH_REMOVE, NULL);
			return false;
		}
		r->timetable_changes = changes;
		r->resolved_at = now;
		r->valid = true;
	}
	j->from_stop = stop_in_route(r, PG_GETARG_TEXT_PP(2));
	j->to_stop = stop_in_route(r, PG_GETARG_TEXT_PP(3));
	j->run_id = r->run_id;
	return j->from_stop >= 0 && j->to_stop > j->from_stop;
}

static void
resolve_journey(FunctionCallInfo fcinfo, Journey *j)
{
	Datum		args[4];
	bool		nulls[4];
	bool		any_null = false;

	for (int i = 0; i < 4; i++)
	{
		args[i] = PG_GETARG_DATUM(i);
		nulls[i] = PG_ARGISNULL(i);
		any_null = any_null || nulls[i];
	}
	if (!any_null && timetable_keepable() && journey_from_route(fcinfo, j))
		return;
	/* the rest, and every error, as ticket.journey() resolves them */
	journey_from_query(args, nulls, j);
}

/* -- the seat maps --------------------------------------------------------- */

typedef struct Carriage
{
	int32		carriage_no;
	Oid			seat_class;
	SeatMap    *map;			/* a copy: expired holds are released in it */
} Carriage;

typedef struct RunSeats
{
	int			n;
	Carriage   *carriages;
	TimestampTz first_hold_until;	/* of the holds not past now(); DT_NOEND without */
	TimestampTz last_expired_hold;	/* of the holds past now(); DT_NOBEGIN without */
	int			n_expired;		/* holds past now() released in the copies */
} RunSeats;

typedef struct KeyScan
{
	Relation	rel;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
} KeyScan;

static void
begin_scan(KeyScan *s, Oid relid, Oid indexid, Snapshot snapshot, Datum key, RegProcedure eq)
{
	ScanKeyData skey;

	s->rel = table_open(relid, AccessShareLock);
	s->index = index_open(indexid, AccessShareLock);
	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, eq, key);
	s->scan = index_beginscan(s->rel, s->index, snapshot, 1, 0);
	index_rescan(s->scan, &skey, 1, NULL, 0);
	s->slot = table_slot_create(s->rel, NULL);
}

static void
end_scan(KeyScan *s)
{
	ExecDropSingleTupleTableSlot(s->slot);
	index_endscan(s->scan);
	index_close(s->index, AccessShareLock);
	table_close(s->rel, AccessShareLock);
}

/* release a hold's legs in its carriage's copy of the map */
static void
release_hold(RunSeats *rs, Snapshot snapshot, int32 seat_id, Segment legs)
{
	KeyScan		s;

	begin_scan(&s, schema.seat, schema.seat_pkey, snapshot, Int32GetDatum(seat_id), F_INT4EQ);
	if (index_getnext_slot(s.scan, ForwardScanDirection, s.slot))
	{
		bool		isnull1,
					isnull2;
		int32		carriage_no = DatumGetInt32(slot_getattr(s.slot, schema.s_carriage, &isnull1));
		int32		seat_index = DatumGetInt32(slot_getattr(s.slot, schema.s_index, &isnull2));

		for (int i = 0; i < rs->n && !isnull1 && !isnull2; i++)
		{
			SeatMap    *map = rs->carriages[i].map;

			if (rs->carriages[i].carriage_no == carriage_no
				&& seat_index >= 0 && seat_index < map->n_seats && seatmap_fits(map, legs))
				seatmap_release(map, seat_index, legs);
		}
	}
	end_scan(&s);
}

/*
 * A run's seat maps under a snapshot, with the holds past now released in
 * the copies (as free_seats() counts them), and the earliest deadline of
 * the holds left in them.
 */
static void
read_run_seats(int64 run_id, Snapshot snapshot, TimestampTz now, RunSeats *rs)
{
	KeyScan		s;
	int			room = 16;
	AttrNumber	carriage_column;

	learn_schema();
	rs->n = 0;
	rs->carriages = palloc(sizeof(Carriage) * room);
	rs->first_hold_until = DT_NOEND;
	rs->last_expired_hold = DT_NOBEGIN;
	rs->n_expired = 0;

	carriage_column = column_named(schema.run_carriage, "carriage_no");
	begin_scan(&s, schema.run_carriage, schema.run_carriage_pkey, snapshot, Int64GetDatum(run_id), F_INT8EQ);
	while (index_getnext_slot(s.scan, ForwardScanDirection, s.slot))
	{
		bool		isnull;
		Datum		d;
		Carriage   *c;
		const SeatMap *map;
		bytea	   *value;

		d = slot_getattr(s.slot, schema.rc_map, &isnull);
		if (isnull)
			continue;
		value = DatumGetByteaPP(d);
		map = seatmap_checked(value);
		if (rs->n == room)
		{
			room *= 2;
			rs->carriages = repalloc(rs->carriages, sizeof(Carriage) * room);
		}
		c = &rs->carriages[rs->n++];
		c->map = palloc(VARSIZE_ANY_EXHDR(value));
		memcpy(c->map, map, VARSIZE_ANY_EXHDR(value));
		c->seat_class = DatumGetObjectId(slot_getattr(s.slot, schema.rc_class, &isnull));
		c->carriage_no = DatumGetInt32(slot_getattr(s.slot, carriage_column, &isnull));
	}
	end_scan(&s);

	/* the holds of the run, earliest deadline first */
	{
		int			n_expired = 0;
		int			expired_room = 16;
		int32	   *seats = palloc(sizeof(int32) * expired_room);
		Segment    *legs = palloc(sizeof(Segment) * expired_room);

		begin_scan(&s, schema.tickets, schema.tickets_holds_idx, snapshot, Int64GetDatum(run_id), F_INT8EQ);
		while (index_getnext_slot(s.scan, ForwardScanDirection, s.slot))
		{
			bool		isnull;
			Datum		status = slot_getattr(s.slot, schema.t_status, &isnull);
			TimestampTz until;

			if (isnull || strcmp(TextDatumGetCString(status), "held") != 0)
				continue;
			until = DatumGetTimestampTz(slot_getattr(s.slot, schema.t_hold_until, &isnull));
			if (until > now)
			{
				rs->first_hold_until = Min(rs->first_hold_until, until);
				break;			/* in deadline order: the rest are later */
			}
			rs->last_expired_hold = Max(rs->last_expired_hold, until);
			if (n_expired == expired_room)
			{
				expired_room *= 2;
				seats = repalloc(seats, sizeof(int32) * expired_room);
				legs = repalloc(legs, sizeof(Segment) * expired_room);
			}
			seats[n_expired] = DatumGetInt32(slot_getattr(s.slot, schema.t_seat, &isnull));
			legs[n_expired] = DatumGetSegment(slot_getattr(s.slot, schema.t_legs, &isnull));
			n_expired++;
		}
		end_scan(&s);
		for (int i = 0; i < n_expired; i++)
			release_hold(rs, snapshot, seats[i], legs[i]);
		rs->n_expired = n_expired;
	}
}

static int
class_order(const void *a, const void *b)
{
	float4		x = class_label(*(const Oid *) a)->sortorder;
	float4		y = class_label(*(const Oid *) b)->sortorder;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* the run's classes, in enum order */
static int
run_classes(const RunSeats *rs, Oid *classes, int room)
{
	int			n = 0;

	for (int i = 0; i < rs->n; i++)
	{
		int			k;

		for (k = 0; k < n; k++)
			if (classes[k] == rs->carriages[i].seat_class)
				break;
		if (k == n)
		{
			if (n == room)
				return -1;
			classes[n++] = rs->carriages[i].seat_class;
		}
	}
	qsort(classes, n, sizeof(Oid), class_order);
	return n;
}

/* every journey of every class, in the form an entry keeps */
typedef struct Matrix
{
	int			n_legs;
	int			n_classes;
	Oid		   *classes;
	int32	   *counts;			/* class-major, seatmap_journey_index() order */
} Matrix;

typedef enum MatrixStatus
{
	MATRIX_OK,
	MATRIX_TOO_LONG,			/* more legs than a matrix covers */
	MATRIX_LEGS_DISAGREE		/* maps of different legs */
} MatrixStatus;

static MatrixStatus
count_matrix(const RunSeats *rs, Matrix *m)
{
	int			n_journeys;

	m->classes = palloc(sizeof(Oid) * Max(rs->n, 1));
	m->n_classes = run_classes(rs, m->classes, Max(rs->n, 1));
	m->n_legs = rs->n > 0 ? rs->carriages[0].map->n_legs : 0;
	if (m->n_legs > SEATMAP_MATRIX_MAX_LEGS)
		return MATRIX_TOO_LONG;
	n_journeys = seatmap_journey_count(m->n_legs);
	m->counts = palloc0(sizeof(int32) * Max(m->n_classes * n_journeys, 1));
	for (int i = 0; i < rs->n; i++)
	{
		const Carriage *c = &rs->carriages[i];
		int			k;

		if (c->map->n_legs != m->n_legs)
			return MATRIX_LEGS_DISAGREE;
		for (k = 0; m->classes[k] != c->seat_class; k++)
			;
		seatmap_add_free_matrix(c->map, &m->counts[k * n_journeys]);
	}
	return MATRIX_OK;
}

/*
 * Build and keep the run's entry, when this statement's snapshot sees what
 * a snapshot taken now sees (then the counts are both this call's answer
 * and valid for later ones); false, without reading anything, otherwise.
 */
static bool
build_counts(int64 run_id, Snapshot statement, TimestampTz now, Matrix *m)
{
	RunCountsTicket ticket;
	Snapshot	latest;
	RunSeats	rs;
	bool		counted = false;

	if (!run_counts_begin(run_id, &ticket))
		return false;
	latest = RegisterSnapshot(GetLatestSnapshot());
	if (run_counts_same_view(statement, latest))
	{
		read_run_seats(run_id, latest, now, &rs);
		counted = count_matrix(&rs, m) == MATRIX_OK;
		if (counted)
			run_counts_keep(run_id, schema.run_carriage, &ticket, latest, rs.last_expired_hold,
							rs.first_hold_until, m->n_legs, m->n_classes, m->classes, m->counts);
	}
	UnregisterSnapshot(latest);
	return counted;
}

static void
check_journey_fits(const RunSeats *rs, Segment legs)
{
	for (int i = 0; i < rs->n; i++)
		seatmap_check_legs(rs->carriages[i].map, legs);
}

/*
 * ticket.remaining(train, service_date, from_station, to_station)
 *	RETURNS TABLE (seat_class text, remaining integer)
 */
Datum
ticket_remaining(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Journey		j;
	Snapshot	snapshot;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	Segment		legs;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	RunCountsFound found;
	Matrix		m;

	resolve_journey(fcinfo, &j);
	check_privileges();
	InitMaterializedSRF(fcinfo, rsinfo->expectedDesc ? MAT_SRF_USE_EXPECTED_DESC : 0);
	legs.lower = j.from_stop;
	legs.upper = j.to_stop;
	snapshot = GetActiveSnapshot();

	/* kept for this snapshot */
	if (run_counts_find(j.run_id, schema.run_carriage, snapshot, now, legs.lower, legs.upper, &found))
	{
		if (found.n_classes > 0 && legs.upper > found.n_legs)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("segment [%d,%d) does not fit a seat map of %d legs",
							legs.lower, legs.upper, found.n_legs)));
		for (int k = 0; k < found.n_classes; k++)
		{
			values[0] = CStringGetTextDatum(class_label(found.classes[k])->label);
			values[1] = Int32GetDatum(found.counts[k]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		return (Datum) 0;
	}

	/* counted now for every journey, kept, and the same as this snapshot sees */
	if (build_counts(j.run_id, snapshot, now, &m))
	{
		if (m.n_classes > 0 && legs.upper > m.n_legs)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("segment [%d,%d) does not fit a seat map of %d legs",
							legs.lower, legs.upper, m.n_legs)));
		for (int k = 0; k < m.n_classes; k++)
		{
			int			cell = k * seatmap_journey_count(m.n_legs)
				+ seatmap_journey_index(m.n_legs, legs.lower, legs.upper);

			values[0] = CStringGetTextDatum(class_label(m.classes[k])->label);
			values[1] = Int32GetDatum(m.counts[cell]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		return (Datum) 0;
	}

	/* from the seat maps, under the statement's snapshot */
	{
		RunSeats	rs;
		Oid		   *classes;
		int			n_classes;

		read_run_seats(j.run_id, snapshot, now, &rs);
		check_journey_fits(&rs, legs);
		classes = palloc(sizeof(Oid) * Max(rs.n, 1));
		n_classes = run_classes(&rs, classes, Max(rs.n, 1));
		for (int k = 0; k < n_classes; k++)
		{
			int64		free = 0;

			for (int i = 0; i < rs.n; i++)
				if (rs.carriages[i].seat_class == classes[k])
					free += seatmap_count_free(rs.carriages[i].map, legs);
			values[0] = CStringGetTextDatum(class_label(classes[k])->label);
			values[1] = Int32GetDatum((int32) free);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}

/* -- the matrix ------------------------------------------------------------ */

static void
no_such_run(text *train, DateADT service_date)
{
	char	   *upper_train = TextDatumGetCString(DirectFunctionCall1Coll(upper, DEFAULT_COLLATION_OID,
																		  PointerGetDatum(train)));

	ereport(ERROR,
			(errcode(ERRCODE_TICKET_NO_SUCH_RUN),
			 errmsg("no such run: train %s on %s", upper_train,
					DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(service_date)))),
			 errhint("An administrator opens sales with ticket.open_sales().")));
}

/*
 * The run of a train on a date and the station codes of its stops: the
 * errors of 1.6 in its order (train, then date, then run), by query.
 */
static Route *
route_from_query(FunctionCallInfo fcinfo, Route *r)
{
	Oid			types[2] = {TEXTOID, DATEOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	bool		isnull;
	int32		train_id;
	ArrayType  *codes;
	Datum	   *elems;
	bool	   *elem_nulls;
	int			n;
	MemoryContext caller = CurrentMemoryContext;

	values[0] = PG_GETARG_DATUM(0);
	nulls[0] = PG_ARGISNULL(0) ? 'n' : ' ';
	SPI_connect();
	PushActiveSnapshot(GetLatestSnapshot());
	run_plan(keep_plan(&train_plan, "SELECT ticket.train_id($1)", 1, types), values, nulls);
	train_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_TICKET_INVALID_ARGUMENT),
				 errmsg("service date must not be null")));
	types[0] = INT4OID;
	values[0] = Int32GetDatum(train_id);
	values[1] = PG_GETARG_DATUM(1);
	nulls[0] = ' ';
	run_plan(keep_plan(&route_plan,
					   "SELECT r.run_id, array_agg(st.code ORDER BY s.stop_no) "
					   "FROM ticket.run r JOIN ticket.stop s ON s.train_id = r.train_id "
					   "JOIN ticket.station st ON st.station_id = s.station_id "
					   "WHERE r.train_id = $1 AND r.service_date = $2 GROUP BY r.run_id", 2, types),
			 values, nulls);
	PopActiveSnapshot();
	if (SPI_processed != 1)
		no_such_run(PG_GETARG_TEXT_PP(0), PG_GETARG_DATEADT(1));
	r->run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	codes = DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	deconstruct_array(codes, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elem_nulls, &n);
	r->n_stops = n;
	r->codes = MemoryContextAlloc(caller, sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
		r->codes[i] = MemoryContextStrdup(caller, TextDatumGetCString(elems[i]));
	SPI_finish();
	return r;
}

static void
free_route(Route *r)
{
	if (!r->used)
		return;
	pfree(r->train);
	for (int i = 0; i < r->n_stops; i++)
		pfree(r->codes[i]);
	pfree(r->codes);
	r->used = false;
}

static const Route *
resolve_route(FunctionCallInfo fcinfo)
{
	uint64		changes = queue_signal_timetable_changes();
	TimestampTz now = GetCurrentTimestamp();
	bool		keepable = timetable_keepable() && !PG_ARGISNULL(0) && !PG_ARGISNULL(1);
	char	   *train = keepable ? TextDatumGetCString(PG_GETARG_DATUM(0)) : NULL;
	Route	   *r;
	MemoryContext old;

	if (keepable)
	{
		for (int i = 0; i < ROUTES_KEPT; i++)
		{
			r = &routes[i];
			if (r->used && r->service_date == PG_GETARG_DATEADT(1) && strcmp(r->train, train) == 0
				&& r->timetable_changes == changes
				&& !TimestampDifferenceExceeds(r->resolved_at, now, ROUTE_MAX_AGE_MS))
				return r;
		}
	}
	if (!keepable)
	{
		r = palloc0(sizeof(Route));
		return route_from_query(fcinfo, r);
	}
	r = &routes[next_route];
	next_route = (next_route + 1) % ROUTES_KEPT;
	free_route(r);
	old = MemoryContextSwitchTo(TopMemoryContext);
	route_from_query(fcinfo, r);
	r->train = pstrdup(train);
	MemoryContextSwitchTo(old);
	r->service_date = PG_GETARG_DATEADT(1);
	r->timetable_changes = changes;
	r->resolved_at = now;
	r->used = true;
	return r;
}

/*
 * remaining_matrix is not core: while the overload breaker is tripped it
 * answers TK081 (degraded, try later) to callers outside ticket_admin, in
 * the words of ticket.check_not_degraded() (src/sql/09_overload.sql).
 * ticket.degraded() is SQL over the breaker's shared state, sampled at most
 * every 100 ms: a kept plan's call, no PL/pgSQL.
 */
static SPIPlanPtr degraded_plan = NULL;

static void
check_matrix_not_degraded(void)
{
	Oid			admin = get_role_oid("ticket_admin", true);
	bool		degraded;
	bool		isnull;

	if (OidIsValid(admin) && is_member_of_role(GetUserId(), admin))
		return;
	SPI_connect();
	run_plan(keep_plan(&degraded_plan, "SELECT ticket.degraded()", 0, NULL), NULL, NULL);
	degraded = SPI_processed == 1
		&& DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull))
		&& !isnull;
	SPI_finish();
	if (degraded)
		ereport(ERROR,
				(errcode(ERRCODE_TICKET_DEGRADED),
				 errmsg("degraded: remaining_matrix is off while the server is overloaded, try later"),
				 errdetail("The overload breaker is tripped; grab, enqueue, confirm, cancel and refund keep working."),
				 errhint("Try again in a few seconds.")));
}

/*
 * ticket.remaining_matrix(train, service_date)
 *	RETURNS TABLE (from_station text, to_station text, seat_class text, remaining integer)
 */
Datum
ticket_remaining_matrix(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const Route *route;
	Snapshot	snapshot;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	Datum	   *codes;
	int			n_stops;
	RunCountsFound found;
	Matrix		m;

	route = resolve_route(fcinfo);
	check_privileges();
	check_matrix_not_degraded();
	InitMaterializedSRF(fcinfo, rsinfo->expectedDesc ? MAT_SRF_USE_EXPECTED_DESC : 0);
	snapshot = GetActiveSnapshot();
	n_stops = route->n_stops;
	codes = palloc(sizeof(Datum) * Max(n_stops, 1));
	for (int i = 0; i < n_stops; i++)
		codes[i] = CStringGetTextDatum(route->codes[i]);

	if (run_counts_find(route->run_id, schema.run_carriage, snapshot, now, -1, -1, &found))
	{
		m.n_legs = found.n_legs;
		m.n_classes = found.n_classes;
		m.classes = found.classes;
		m.counts = found.counts;
	}
	else if (!build_counts(route->run_id, snapshot, now, &m))
	{
		RunSeats	rs;

		read_run_seats(route->run_id, snapshot, now, &rs);
		switch (count_matrix(&rs, &m))
		{
			case MATRIX_OK:
				break;
			case MATRIX_TOO_LONG:
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("a journey matrix covers routes of at most %d legs, not %d",
								SEATMAP_MATRIX_MAX_LEGS, m.n_legs)));
				break;
			case MATRIX_LEGS_DISAGREE:
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("seat maps of a run disagree on its legs")));
				break;
		}
	}
	{
		int			n_legs = m.n_legs;
		int			n_journeys = seatmap_journey_count(n_legs);
		Datum	   *class_names = palloc(sizeof(Datum) * Max(m.n_classes, 1));

		for (int k = 0; k < m.n_classes; k++)
			class_names[k] = CStringGetTextDatum(class_label(m.classes[k])->label);
		for (int a = 0; a < n_stops; a++)
			for (int b = a + 1; b < n_stops; b++)
				for (int k = 0; k < m.n_classes; k++)
				{
					values[0] = codes[a];
					values[1] = codes[b];
					values[2] = class_names[k];
					/* a stop past the maps' legs: no count (NULL), as the array of 1.6 gave */
					nulls[3] = b > n_legs;
					values[3] = nulls[3] ? (Datum) 0
						: Int32GetDatum(m.counts[k * n_journeys + seatmap_journey_index(n_legs, a, b)]);
					tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
				}
	}
	return (Datum) 0;
}
