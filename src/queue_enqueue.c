/*-------------------------------------------------------------------------
 *
 * queue_enqueue.c
 *	  ticket.enqueue(): accept a request into a run's order queue.
 *
 * Every click of a rush is an enqueue, so it is written to cost as little
 * as possible: a handful of queries, each planned once per session and kept
 * (SPI_keepplan), instead of the nested PL/pgSQL calls of 1.2.  One query
 * resolves the journey and reads the run's free seats and the queue's
 * service count; it resolves the journey with ticket.journey(), so that the
 * rules for trains and stations (by code or name) live in SQL alone and an
 * unknown journey raises exactly the error a grab would (TK007-TK011,
 * TK017).  With the library preloaded a journey is resolved once for every
 * session (journey_cache.c) and then its run is read through primary keys,
 * with no query at all (run_live.c).
 *
 * With the library preloaded the request goes into the ring in shared
 * memory (queue_ring.c) and no table row is written; otherwise it is
 * inserted into ticket.queue_request under the run's queue lock, as in 1.2.
 *
 * ticket_enqueue() is a list of steps, each a function below.  The order of
 * the checks and every message and SQLSTATE are those of the PL/pgSQL
 * version of 1.2 (doc/queue.md): unknown journey, then a repeated request
 * id (answered with the request it named), sales not open (TK012), sold
 * out (TK001), queue full (TK018), already waiting (TK020).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation_d.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "replication/syncrep.h"
#include "storage/lmgr.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "commands/trigger.h"
#include "utils/timestamp.h"
#include "storage/latch.h"
#include "miscadmin.h"
#include "utils/wait_event.h"

#include "journey_cache.h"
#include "queue_ring.h"
#include "run_live.h"
#include "queue_signal.h"
#include "queue_worker.h"
#include "risk.h"
#include "ticket.h"
#include "ticket_errcodes.h"
#include "ticket_locks.h"

PG_FUNCTION_INFO_V1(ticket_enqueue);
PG_FUNCTION_INFO_V1(ticket_enqueue_named);

/* the session's plans, prepared on first use */
static SPIPlanPtr resolve_plan = NULL;
static SPIPlanPtr class_plan = NULL;
static SPIPlanPtr existing_plan = NULL;
static SPIPlanPtr ahead_of_plan = NULL;
static SPIPlanPtr stale_holds_plan = NULL;
static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr insert_named_plan = NULL;
static SPIPlanPtr request_id_plan = NULL;
static SPIPlanPtr position_plan = NULL;
static SPIPlanPtr real_names_plan = NULL;
static SPIPlanPtr passengers_plan = NULL;

PG_FUNCTION_INFO_V1(ticket_timetable_changed);

/* trigger on station, stop, train and run: kept journeys are resolved again */
Datum
ticket_timetable_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "ticket.timetable_changed() is a trigger");
	queue_signal_timetable_changed();
	return PointerGetDatum(NULL);
}

static SPIPlanPtr
keep_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);

		if (p == NULL)
			elog(ERROR, "ticket.enqueue: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		*plan = p;
	}
	return *plan;
}

static void
run_plan(SPIPlanPtr plan, Datum *values, const char *nulls, bool read_only)
{
	int			rc = SPI_execute_plan(plan, values, nulls, read_only, 0);

	if (rc < 0)
		elog(ERROR, "ticket.enqueue: SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

static Datum
column(int row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull);
}

static int64
column_int8(int row, int col)
{
	bool		isnull;
	Datum		d = column(row, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

static char *
upper_text(text *t)
{
	return text_to_cstring(DatumGetTextPP(DirectFunctionCall1Coll(upper, DEFAULT_COLLATION_OID,
																	PointerGetDatum(t))));
}

static char *
date_text(DateADT d)
{
	return DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(d)));
}

/*
 * Requests of a run waiting between two positions, up to stop_at.  Served
 * in order, every waiting request comes after the last one served (`after`,
 * queue_head.last_position), so the scan skips the served ones.
 */
static int64
waiting_ahead(int64 run_id, int64 after, int64 before, int32 stop_at)
{
	Oid			types[4] = {INT8OID, INT8OID, INT8OID, INT4OID};
	Datum		values[4] = {Int64GetDatum(run_id), Int64GetDatum(after), Int64GetDatum(before),
	Int32GetDatum(stop_at)};

	/* a new snapshot: requests accepted by earlier commands of this transaction count */
	run_plan(keep_plan(&ahead_of_plan,
					   "SELECT count(*) FROM (SELECT 1 FROM ticket.queue_request q "
					   "WHERE q.run_id = $1 AND q.status = 'waiting' AND q.queue_position > $2 "
					   "AND q.queue_position < $3 LIMIT $4) x",
					   4, types),
			 values, NULL, false);
	return column_int8(0, 1);
}

static int64
next_value(SPIPlanPtr *plan, const char *sql)
{
	run_plan(keep_plan(plan, sql, 0, NULL), NULL, NULL, false);
	return column_int8(0, 1);
}

/*
 * What enqueue was asked, read once from its arguments; the steps below
 * take this instead of fcinfo, so each shows what it uses.
 */
typedef struct EnqueueArgs
{
	int64		user_id;
	text	   *train;			/* NULL: not given */
	bool		date_given;
	DateADT		service_date;
	text	   *from_station;	/* NULL: not given */
	text	   *to_station;		/* NULL: not given */
	bool		journey_named;	/* train, date and both stations given */
	text	   *seat_class_asked;	/* as given, NULL: any */
	text	   *seat_class;		/* canonical name, NULL: any */
	int32		class_no;		/* position in the enum, 0: any */
	text	   *client_id;		/* the client's request id, NULL: none */
	/* the passenger form: 0 passengers, one seat without names */
	int32		n_passengers;
	int64		passenger_ids[QUEUE_RING_PASSENGERS_MAX];
	char		seat_letters[QUEUE_RING_PASSENGERS_MAX + 1];	/* "": none asked */
	const char *end_client;		/* ticket.client, NULL: none (the call is its own client) */
} EnqueueArgs;

/* the journey's run and stops, and what the queue needs to know of the run now */
typedef struct EnqueueJourney
{
	int64		run_id;
	int32		from_stop;
	int32		to_stop;
	bool		sales_open;
	int64		free_seats;
	int64		served_so_far;	/* queue_head.served */
	int64		served_up_to;	/* queue_head.last_position */
} EnqueueJourney;

/* enqueue's answer, a ticket.queue_entry */
typedef struct EnqueueAnswer
{
	int64		request_id;
	int64		position;
	bool		ahead_known;	/* false: NULL (a request no longer waiting) */
	int64		ahead;
	char		status[16];
} EnqueueAnswer;

static void
answer_waiting(EnqueueAnswer *answer, int64 request_id, int64 position, int64 ahead)
{
	answer->request_id = request_id;
	answer->position = position;
	answer->ahead_known = true;
	answer->ahead = ahead;
	strlcpy(answer->status, "waiting", sizeof(answer->status));
}

/* built after SPI_finish(), in the caller's memory context */
static Datum
queue_entry(FunctionCallInfo fcinfo, const EnqueueAnswer *answer)
{
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, !answer->ahead_known, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "ticket.enqueue must return a composite type");
	values[0] = Int64GetDatum(answer->request_id);
	values[1] = Int64GetDatum(answer->position);
	values[2] = Int64GetDatum(answer->ahead);
	values[3] = CStringGetTextDatum(answer->status);
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls));
}

/* TK013: a client request id names another request than this one */
static void
request_id_used(text *client_id, int64 request_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_TICKET_REQUEST_ID_REUSED),
			 errmsg("request id \"%s\" was already used for another request", text_to_cstring(client_id)),
			 errdetail("It belongs to queued request %lld.", (long long) request_id)));
}

/* TK018, from the ring or the table: the same words either way */
static void
queue_full(const EnqueueArgs *args, bool ring_full, int64 waiting, int32 cap)
{
	ereport(ERROR,
			(errcode(ERRCODE_TICKET_QUEUE_FULL),
			 errmsg("queue full for train %s on %s: try later",
					upper_text(args->train), date_text(args->service_date)),
			 ring_full
			 ? errdetail("The queues of all trains hold as many requests as the server keeps "
						 "(ticket.queue_ring_size).")
			 : errdetail("%lld requests are waiting; at most %d may wait (ticket.queue_max_waiting).",
						 (long long) waiting, cap)));
}

/* TK020, from the ring or the table */
static void
already_waiting(int64 user_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_TICKET_ALREADY_QUEUED),
			 errmsg("user %lld is already waiting in the queue of this train", (long long) user_id),
			 errhint("Follow the waiting request with ticket.queue_status().")));
}

/*
 * Step 1, the arguments.  Only the user is checked here (TK017, first, as
 * in 1.2); the journey's arguments are left to ticket.journey(), which
 * refuses missing ones (TK017) in the words a grab uses.
 */
static void
read_arguments(FunctionCallInfo fcinfo, EnqueueArgs *args, bool named)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_TICKET_INVALID_ARGUMENT),
				 errmsg("user id must not be null")));
	memset(args, 0, sizeof(EnqueueArgs));
	args->user_id = PG_GETARG_INT64(0);
	args->train = PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1);
	args->date_given = !PG_ARGISNULL(2);
	args->service_date = args->date_given ? PG_GETARG_DATEADT(2) : 0;
	args->from_station = PG_ARGISNULL(3) ? NULL : PG_GETARG_TEXT_PP(3);
	args->to_station = PG_ARGISNULL(4) ? NULL : PG_GETARG_TEXT_PP(4);
	args->journey_named = args->train && args->date_given && args->from_station && args->to_station;
	args->seat_class_asked = PG_ARGISNULL(5) ? NULL : PG_GETARG_TEXT_PP(5);
	/* (the passenger form has no request id: its 7th argument is the passengers) */
	args->client_id = named || PG_ARGISNULL(6) ? NULL : PG_GETARG_TEXT_PP(6);
	args->end_client = ticket_current_client();
	/* the ring keeps at most this much; the table path takes no more */
	if (args->client_id != NULL && VARSIZE_ANY_EXHDR(args->client_id) > QUEUE_RING_CLIENT_ID_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_TICKET_INVALID_ARGUMENT),
				 errmsg("request id is too long for the queue: %d bytes",
						(int) VARSIZE_ANY_EXHDR(args->client_id)),
				 errdetail("The queue keeps request ids of at most %d bytes.", QUEUE_RING_CLIENT_ID_MAX)));
}

/*
 * Step 1b, real names (setting real_names_required): the single-seat form
 * is refused with TK070 naming the passenger form, in the words of
 * ticket.check_real_names(), which grab and the waitlist call.  Read from
 * the settings table itself (no row: the default, off), which 1.6 has
 * too: a server runs this library before ALTER EXTENSION UPDATE.
 */
static void
check_real_names(void)
{
	bool		isnull;

	run_plan(keep_plan(&real_names_plan,
					   "SELECT s.value = 1 FROM ticket.setting s WHERE s.name = 'real_names_required'",
					   0, NULL),
			 NULL, NULL, true);
	if (SPI_processed == 1 && DatumGetBool(column(0, 1, &isnull)) && !isnull)
		ereport(ERROR,
				(errcode(ERRCODE_TICKET_REAL_NAMES_REQUIRED),
				 errmsg("real names required: an enqueue without passengers is refused"),
				 errdetail("Every ticket names its passenger (setting real_names_required)."),
				 errhint("Use the passenger form: ticket.enqueue(user_id, train, service_date, from_station, "
						 "to_station, seat_class, passengers).")));
}

/*
 * Step 1c, the passenger form: the passengers and seat letters as grab
 * checks them (ticket.queue_passengers(): 1 to 5 different passengers of
 * the account, a class, letters that fit), kept as the account's passenger
 * ids and the letters normalised.  A passenger removed before the request
 * is served fails it then with TK042, as a grab would.
 */
static void
resolve_passengers(FunctionCallInfo fcinfo, EnqueueArgs *args)
{
	Oid			types[8] = {INT8OID, TEXTOID, DATEOID, TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID, TEXTOID};
	Datum		values[8];
	char		nulls[8];
	bool		isnull;
	Datum		d;

	for (int i = 0; i < 8; i++)
	{
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
		values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
	}
	run_plan(keep_plan(&passengers_plan,
					   "SELECT p.passenger_ids, p.letters "
					   "FROM ticket.queue_passengers($1, $2, $3, $4, $5, $6, $7, $8) p",
					   8, types),
			 values, nulls, false);
	if (SPI_processed != 1)
		elog(ERROR, "ticket.enqueue: ticket.queue_passengers() returned no row");
	d = column(0, 1, &isnull);
	if (isnull)
		elog(ERROR, "ticket.enqueue: ticket.queue_passengers() returned no passengers");
	{
		ArrayType  *ids = DatumGetArrayTypeP(d);
		Datum	   *elems;
		bool	   *elem_nulls;
		int			n;

		deconstruct_array(ids, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
						  &elems, &elem_nulls, &n);
		if (n < 1 || n > QUEUE_RING_PASSENGERS_MAX)
			elog(ERROR, "ticket.enqueue: %d passengers", n);
		args->n_passengers = n;
		for (int i = 0; i < n; i++)
			args->passenger_ids[i] = DatumGetInt64(elems[i]);
	}
	d = column(0, 2, &isnull);
	if (!isnull)
		strlcpy(args->seat_letters, TextDatumGetCString(d), sizeof(args->seat_letters));
}

/*
 * Step 1d, risk control (README, Risk signals): with risk checks on, the
 * grab step ticket.check_risk() counts the attempt and refuses it with
 * TK075 at the blocking level.  Off, no query.
 */
static SPIPlanPtr risk_plan = NULL;

static void
check_risk(const EnqueueArgs *args)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(args->user_id)};

	if (!risk_checks_on())
		return;
	run_plan(keep_plan(&risk_plan, "SELECT ticket.check_risk($1, NULL)", 1, types), values, NULL, false);
}

/*
 * Step 2, the seat class, by name or 12306 code.  Through the SQL rule
 * (ticket.checked_seat_class(), TK014 if unknown) so that enqueue and grab
 * accept the same names; before the journey, as in 1.2.
 */
static void
resolve_seat_class(EnqueueArgs *args)
{
	Oid			text_type[1] = {TEXTOID};
	Datum		value;
	bool		isnull;
	Datum		d;

	if (args->seat_class_asked == NULL)
		return;
	value = PointerGetDatum(args->seat_class_asked);
	run_plan(keep_plan(&class_plan,
					   "SELECT c::text, array_position(enum_range(NULL::ticket.seat_class), c) "
					   "FROM ticket.checked_seat_class($1) c",
					   1, text_type),
			 &value, NULL, true);
	if (SPI_processed != 1)
		return;
	d = column(0, 1, &isnull);
	if (isnull)
		return;
	/* into the caller's memory: it outlives this query's result */
	args->seat_class = DatumGetTextPP(SPI_datumTransfer(d, false, -1));
	args->class_no = DatumGetInt32(column(0, 2, &isnull));
}

/*
 * Step 3a, a journey resolved before, from the cache every session shares:
 * only what may have changed since (the run's status, free seats, queue
 * head) is read, by run id through primary keys, with no query to plan
 * (run_live.c).  False when it is not kept, or its run has gone behind the
 * triggers' back: then it is resolved again.
 */
static bool
journey_from_cache(const EnqueueArgs *args, const JourneyKey *key, EnqueueJourney *journey)
{
	JourneyFound found;
	RunLive		live;

	if (!journey_cache_find(key, &found))
		return false;
	if (!run_live_read(found.run_id, found.from_stop, found.to_stop,
					   args->seat_class ? text_to_cstring(args->seat_class) : NULL, &live))
		return false;
	journey->run_id = found.run_id;
	journey->from_stop = found.from_stop;
	journey->to_stop = found.to_stop;
	journey->sales_open = live.open;
	journey->free_seats = live.free_seats;
	journey->served_so_far = live.served;
	journey->served_up_to = live.last_position;
	return true;
}

/*
 * Step 3b, the journey by one query.  ticket.journey() resolves train,
 * stations, stops and run by the rules every function uses (a station by
 * code or name is ticket.station_id()'s rule, kept in SQL alone), and
 * raises exactly the error a grab would (TK007-TK011, TK017); around it the
 * query reads the run's free seats for the journey and its queue head.
 */
static void
journey_from_query(const EnqueueArgs *args, EnqueueJourney *journey)
{
	Oid			types[5] = {TEXTOID, DATEOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[5];
	char		nulls[5];
	bool		isnull;

	/* missing ones too: ticket.journey() says TK017 */
	values[0] = PointerGetDatum(args->train);
	nulls[0] = args->train ? ' ' : 'n';
	values[1] = DateADTGetDatum(args->service_date);
	nulls[1] = args->date_given ? ' ' : 'n';
	values[2] = PointerGetDatum(args->from_station);
	nulls[2] = args->from_station ? ' ' : 'n';
	values[3] = PointerGetDatum(args->to_station);
	nulls[3] = args->to_station ? ' ' : 'n';
	values[4] = PointerGetDatum(args->seat_class);
	nulls[4] = args->seat_class ? ' ' : 'n';
	/* a new snapshot, taken after the caller read the timetable count */
	run_plan(keep_plan(&resolve_plan,
					   "SELECT ticket.lower(j.legs), ticket.upper(j.legs), j.run_id, j.run_status = 'open', "
					   "  (SELECT coalesce(sum(ticket.seatmap_free(rc.map, j.legs)), 0) "
					   "   FROM ticket.run_carriage rc WHERE rc.run_id = j.run_id "
					   "   AND ($5 IS NULL OR rc.seat_class = $5::ticket.seat_class))::int8, "
					   "  h.served, h.last_position "
					   "FROM ticket.journey($1, $2, $3, $4) j "
					   "LEFT JOIN ticket.queue_head h ON h.run_id = j.run_id",
					   5, types),
			 values, nulls, false);
	if (SPI_processed != 1)
		elog(ERROR, "ticket.enqueue: ticket.journey() returned no run");
	journey->from_stop = DatumGetInt32(column(0, 1, &isnull));
	journey->to_stop = DatumGetInt32(column(0, 2, &isnull));
	journey->run_id = DatumGetInt64(column(0, 3, &isnull));
	journey->sales_open = DatumGetBool(column(0, 4, &isnull));
	journey->sales_open = journey->sales_open && !isnull;
	journey->free_seats = column_int8(0, 5);
	journey->served_so_far = column_int8(0, 6);
	journey->served_up_to = column_int8(0, 7);
}

/*
 * Step 3, the journey named, its run and what the queue needs to know of
 * it now.  Preloaded, a journey is resolved once for every session and
 * kept while the timetable does not change (journey_cache.c); otherwise,
 * and the first time, by query.
 */
static void
resolve_journey(const EnqueueArgs *args, EnqueueJourney *journey)
{
	JourneyKey	key;
	bool		keepable;
	uint64		timetable_changes;

	keepable = args->journey_named && journey_cache_available()
		&& journey_key(&key, args->train, args->service_date, args->from_station, args->to_station);
	if (keepable && journey_from_cache(args, &key, journey))
		return;

	/* read before the query's snapshot: a change committed after it moves the count past this */
	timetable_changes = queue_signal_timetable_changes();
	journey_from_query(args, journey);
	if (keepable)
	{
		JourneyFound found;

		found.run_id = journey->run_id;
		found.from_stop = journey->from_stop;
		found.to_stop = journey->to_stop;
		journey_cache_keep(&key, timetable_changes, &found);
	}
}

/* a request found by its client id is this one again: the same journey and class */
static bool
same_request(const EnqueueArgs *args, const EnqueueJourney *journey, int64 run_id, int32 from_stop,
			 int32 to_stop, int32 class_no)
{
	return run_id == journey->run_id && from_stop == journey->from_stop && to_stop == journey->to_stop
		&& class_no == args->class_no;
}

/*
 * Step 4, a client request id given before.  A retry (the client lost the
 * answer) gets the request it made, waiting or served, and never queues a
 * second one; the same id for another journey or class is TK013.  Looked
 * for in the ring first, then in the table with a snapshot taken after that
 * look, so one served from the ring meanwhile is found in the table.  True,
 * with the answer, when the id names a request.
 */
static bool
find_repeated_request(const EnqueueArgs *args, const EnqueueJourney *journey, EnqueueAnswer *answer)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	QueueRingAnswer found;
	Datum		values[2];
	bool		isnull;
	char	   *status;

	if (queue_ring_available()
		&& queue_ring_find_client(args->user_id, VARDATA_ANY(args->client_id),
								  VARSIZE_ANY_EXHDR(args->client_id), &found))
	{
		if (!same_request(args, journey, found.run_id, found.from_stop, found.to_stop, found.seat_class))
			request_id_used(args->client_id, found.request_id);
		answer_waiting(answer, found.request_id, found.position, found.ahead);
		return true;
	}

	values[0] = Int64GetDatum(args->user_id);
	values[1] = PointerGetDatum(args->client_id);
	run_plan(keep_plan(&existing_plan,
					   "SELECT q.request_id, q.queue_position, q.run_id, "
					   "  ticket.lower(q.legs), ticket.upper(q.legs), "
					   "  coalesce(array_position(enum_range(NULL::ticket.seat_class), q.seat_class), 0), "
					   "  q.status "
					   "FROM ticket.queue_request q WHERE q.user_id = $1 AND q.client_request_id = $2",
					   2, types),
			 values, NULL, false);
	if (SPI_processed != 1)
		return false;
	answer->request_id = column_int8(0, 1);
	answer->position = column_int8(0, 2);
	if (!same_request(args, journey, column_int8(0, 3), DatumGetInt32(column(0, 4, &isnull)),
					  DatumGetInt32(column(0, 5, &isnull)), DatumGetInt32(column(0, 6, &isnull))))
		request_id_used(args->client_id, answer->request_id);
	status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 7);
	strlcpy(answer->status, status, sizeof(answer->status));
	/* how many are ahead means something only while it waits */
	answer->ahead_known = strcmp(status, "waiting") == 0;
	answer->ahead = answer->ahead_known
		? waiting_ahead(journey->run_id, journey->served_up_to, answer->position, PG_INT32_MAX)
		: 0;
	return true;
}

/*
 * Sold out, but the maps may count expired holds not swept yet as taken:
 * with any on the run a seat may yet be found, so the request is queued.
 */
static bool
run_has_expired_holds(int64 run_id)
{
	Oid			run_type[1] = {INT8OID};
	Datum		value = Int64GetDatum(run_id);
	bool		isnull;

	run_plan(keep_plan(&stale_holds_plan,
					   "SELECT EXISTS (SELECT 1 FROM ticket.tickets t WHERE t.run_id = $1 "
					   "AND t.status = 'held' AND t.hold_until <= now())",
					   1, run_type),
			 &value, NULL, true);
	return DatumGetBool(column(0, 1, &isnull));
}

/*
 * TK012 as grab raises it: ticket.raise_sales_not_open() holds the one
 * wording of that error.  A rare path, so no kept plan.
 */
static void
raise_sales_not_open(const EnqueueArgs *args)
{
	Oid			types[2] = {TEXTOID, DATEOID};
	Datum		values[2] = {CStringGetTextDatum(upper_text(args->train)),
	DateADTGetDatum(args->service_date)};

	SPI_execute_with_args("SELECT ticket.raise_sales_not_open($1, $2)", 2, types, values, NULL, true, 0);
	elog(ERROR, "ticket.raise_sales_not_open() returned");
}

/*
 * Step 5, admission: a request that can only fail is refused now rather
 * than queued, and the client learns it at once.  Sales not open (TK012),
 * then sold out (TK001), in the order of the 1.2 enqueue.  The queue's cap
 * is checked where the request is kept (step 6), under that place's lock.
 */
static void
check_admission(const EnqueueArgs *args, const EnqueueJourney *journey)
{
	if (!journey->sales_open)
		raise_sales_not_open(args);
	if (journey->free_seats == 0 && !run_has_expired_holds(journey->run_id))
		ereport(ERROR,
				(errcode(ERRCODE_TICKET_SOLD_OUT),
				 errmsg("sold out: no %s seat on train %s on %s from %s to %s",
						args->seat_class ? text_to_cstring(args->seat_class) : "free",
						upper_text(args->train), date_text(args->service_date),
						text_to_cstring(args->from_station), text_to_cstring(args->to_station)),
				 errhint("Join the waitlist with ticket.join_waitlist().")));
}

/*
 * Request ids for the ring, QUEUE_RING_ID_BLOCK at a time, reserved on disk
 * before the ring hands out any of them: a client keeps its request id
 * across a crash, so an id must never be handed out again, and the ring's
 * own count dies with the server.  The database's request id sequence is
 * moved past the block (nextval, then setval to the block's end; a
 * sequence is not transactional, so the move stands whatever becomes of
 * this transaction) and the WAL is flushed up to that move (and sent to
 * synchronous standbys, as a commit is) before the ring learns of the
 * block.  After a restart, or on a promoted standby that replayed it,
 * numbering goes on past the block.  One flush per block: a sliver of an
 * enqueue's cost.
 *
 * Reservers of a database take turns on a lock of the sequence that only
 * they take (SHARE UPDATE EXCLUSIVE: it does not stop nextval(), and no
 * role but its owner can take it), so a block is never cut into; each
 * looks again under the lock, so a block reserved meanwhile serves them
 * all.  False when the ring numbers as many databases as it can.
 */
static bool
reserve_request_ids(void)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		values[2];
	Oid			sequence;
	int64		last_id;
	int64		reserved_to;
	int64		position_base = 0;
	bool		new_counter;
	bool		added;

	sequence = get_relname_relid("queue_request_request_id_seq", get_namespace_oid("ticket", false));
	if (!OidIsValid(sequence))
		elog(ERROR, "ticket.enqueue: sequence ticket.queue_request_request_id_seq is missing");
	LockRelationOid(sequence, ShareUpdateExclusiveLock);
	if (!queue_ring_ids_needed(&last_id, &new_counter))
	{
		UnlockRelationOid(sequence, ShareUpdateExclusiveLock);
		return true;
	}

	/* past both the sequence and what the ring handed out (an extension dropped and created again) */
	values[0] = Int64GetDatum(last_id);
	values[1] = Int64GetDatum(QUEUE_RING_ID_BLOCK);
	run_plan(keep_plan(&request_id_plan,
					   "SELECT pg_catalog.setval('ticket.queue_request_request_id_seq', "
					   "  GREATEST(n.v, $1) + $2) "
					   "FROM (SELECT pg_catalog.nextval('ticket.queue_request_request_id_seq') AS v) n",
					   2, types),
			 values, NULL, false);
	reserved_to = column_int8(0, 1);
	if (new_counter)
		position_base = next_value(&position_plan, "SELECT nextval('ticket.queue_position_seq')");

	/* on disk (and on synchronous standbys) before any id of the block is handed out */
	XLogFlush(XactLastRecEnd);
	SyncRepWaitForLSN(XactLastRecEnd, false);

	added = queue_ring_add_ids(reserved_to - QUEUE_RING_ID_BLOCK, reserved_to, position_base);
	UnlockRelationOid(sequence, ShareUpdateExclusiveLock);
	return added;
}

/*
 * Step 6a, preloaded: the request goes into the ring in shared memory and
 * no table row is written (queue_ring.c says why).  The ring checks the cap
 * and "one waiting request per user and run" under its lock, so both are
 * exact.  The answer is a new request, or the one a concurrent call with
 * the same client id got there first with.  The worker is woken once a new
 * request is ready to serve, when this transaction commits (queue_ring.c).
 */
static void
enqueue_into_ring(const EnqueueArgs *args, const EnqueueJourney *journey, int32 cap, EnqueueAnswer *answer)
{
	QueueRingRequest req;
	QueueRingAnswer accepted;
	QueueRingOutcome outcome;

	memset(&req, 0, sizeof(req));
	req.run_id = journey->run_id;
	req.user_id = args->user_id;
	req.from_stop = journey->from_stop;
	req.to_stop = journey->to_stop;
	req.served_when = journey->served_so_far;
	req.seat_class = args->class_no;
	req.n_passengers = args->n_passengers;
	memcpy(req.passenger_ids, args->passenger_ids, sizeof(req.passenger_ids));
	memcpy(req.seat_letters, args->seat_letters, sizeof(req.seat_letters));
	req.end_client_len = -1;
	if (args->end_client != NULL)
	{
		req.end_client_len = Min((int) strlen(args->end_client), QUEUE_RING_END_CLIENT_MAX);
		memcpy(req.end_client, args->end_client, req.end_client_len);
	}
	req.client_id_len = -1;
	if (args->client_id != NULL)
	{
		int			len = VARSIZE_ANY_EXHDR(args->client_id);

		if (len > QUEUE_RING_CLIENT_ID_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_TICKET_INVALID_ARGUMENT),
					 errmsg("request id is too long for the queue: %d bytes", len),
					 errdetail("The queue keeps request ids of at most %d bytes.", QUEUE_RING_CLIENT_ID_MAX)));
		memcpy(req.client_id, VARDATA_ANY(args->client_id), len);
		req.client_id_len = len;
	}

	/* no request id left that is reserved on disk: reserve some, and ask again */
	while ((outcome = queue_ring_accept(&req, cap, &accepted)) == QUEUE_RING_NEEDS_IDS)
	{
		if (!reserve_request_ids())
		{
			outcome = QUEUE_RING_FULL;
			break;
		}
	}
	switch (outcome)
	{
		case QUEUE_RING_ACCEPTED:
		case QUEUE_RING_NEEDS_IDS:
			break;
		case QUEUE_RING_SAME_CLIENT_ID:
			if (!same_request(args, journey, accepted.run_id, accepted.from_stop, accepted.to_stop,
							  accepted.seat_class))
				request_id_used(args->client_id, accepted.request_id);
			answer_waiting(answer, accepted.request_id, accepted.position, accepted.ahead);
			return;
		case QUEUE_RING_USER_WAITING:
			already_waiting(args->user_id);
			break;
		case QUEUE_RING_RUN_FULL:
		case QUEUE_RING_FULL:
			queue_full(args, outcome == QUEUE_RING_FULL, accepted.ahead, cap);
			break;
	}
	answer_waiting(answer, accepted.request_id, accepted.position, accepted.ahead);
}

/* whether ticket.queue_request has the columns of 1.7 (a syscache lookup) */
static bool
queue_request_has_passengers(void)
{
	Oid			rel = get_relname_relid("queue_request", get_namespace_oid("ticket", false));

	return OidIsValid(rel) && get_attnum(rel, "passenger_ids") != InvalidAttrNumber;
}

/*
 * Step 6b, not preloaded: the request is a row of ticket.queue_request, as
 * in 1.2.  Share the run's queue lock to commit (a server takes it
 * exclusively for an instant, so it never serves past a request still
 * being accepted), count who is ahead and take a number.  The cap is
 * checked against requests committed before this one; ones accepted at the
 * same instant do not see each other, so a queue may pass the cap by at
 * most the number of concurrent enqueue calls.
 */
static void
enqueue_into_table(const EnqueueArgs *args, const EnqueueJourney *journey, int32 cap, EnqueueAnswer *answer)
{
	Oid			insert_types[11] = {INT8OID, INT8OID, TEXTOID, TEXTOID, INT4OID, INT4OID, INT8OID, INT8OID,
	INT8ARRAYOID, TEXTOID, TEXTOID};
	Datum		values[11];
	char		nulls[11];
	int64		ahead;

	ticket_lock_xact(TICKET_LOCK_QUEUE, journey->run_id, true);
	ahead = waiting_ahead(journey->run_id, journey->served_up_to, PG_INT64_MAX, cap);
	if (ahead >= cap)
		queue_full(args, false, ahead, cap);

	/* no conflict target: a conflict on either unique key is told apart below */
	values[0] = Int64GetDatum(journey->run_id);
	values[1] = Int64GetDatum(args->user_id);
	values[2] = args->client_id ? PointerGetDatum(args->client_id) : (Datum) 0;
	values[3] = args->seat_class ? PointerGetDatum(args->seat_class) : (Datum) 0;
	values[4] = Int32GetDatum(journey->from_stop);
	values[5] = Int32GetDatum(journey->to_stop);
	values[6] = Int64GetDatum(ahead);
	values[7] = Int64GetDatum(journey->served_so_far);
	memcpy(nulls, "           ", 11);
	nulls[2] = args->client_id ? ' ' : 'n';
	nulls[3] = args->seat_class ? ' ' : 'n';
	if (args->n_passengers > 0)
	{
		Datum		ids[QUEUE_RING_PASSENGERS_MAX];

		for (int i = 0; i < args->n_passengers; i++)
			ids[i] = Int64GetDatum(args->passenger_ids[i]);
		values[8] = PointerGetDatum(construct_array(ids, args->n_passengers, INT8OID, sizeof(int64),
													FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	}
	else
		nulls[8] = 'n';
	values[9] = CStringGetTextDatum(args->seat_letters);
	nulls[9] = args->seat_letters[0] == '\0' ? 'n' : ' ';
	values[10] = args->end_client ? CStringGetTextDatum(args->end_client) : (Datum) 0;
	nulls[10] = args->end_client ? ' ' : 'n';
	/*
	 * The passengers, letters and client go to the columns of 1.7; under the
	 * tables of 1.6 (this library runs before ALTER EXTENSION UPDATE, and
	 * 1.6 has no passenger form) a request is written as 1.6 writes it.
	 */
	if (queue_request_has_passengers())
		run_plan(keep_plan(&insert_named_plan,
						   "INSERT INTO ticket.queue_request (run_id, user_id, client_request_id, seat_class, legs, "
						   "  ahead_when_accepted, served_when_accepted, passenger_ids, seat_letters, client) "
						   "VALUES ($1, $2, $3, $4::ticket.seat_class, ticket.segrange($5, $6), $7, $8, $9, $10, $11) "
						   "ON CONFLICT DO NOTHING RETURNING request_id, queue_position",
						   11, insert_types),
				 values, nulls, false);
	else
		run_plan(keep_plan(&insert_plan,
						   "INSERT INTO ticket.queue_request (run_id, user_id, client_request_id, seat_class, legs, "
						   "  ahead_when_accepted, served_when_accepted) "
						   "VALUES ($1, $2, $3, $4::ticket.seat_class, ticket.segrange($5, $6), $7, $8) "
						   "ON CONFLICT DO NOTHING RETURNING request_id, queue_position",
						   8, insert_types),
				 values, nulls, false);
	/* a conflict: the user waits on this run already, or a concurrent call took the client id */
	if (SPI_processed != 1)
		already_waiting(args->user_id);
	answer_waiting(answer, column_int8(0, 1), column_int8(0, 2), ahead);

	/*
	 * The request id is the client's once the caller commits.  A caller
	 * committing asynchronously (synchronous_commit = off) may lose the
	 * request in a crash; the id must not go with it, or the sequence would
	 * hand it out again: the WAL up to this row, and so up to the sequence's
	 * move past the id, goes to disk now.  (A synchronous commit does that
	 * anyway.)
	 */
	if (synchronous_commit == SYNCHRONOUS_COMMIT_OFF)
		XLogFlush(XactLastRecEnd);
}

/*
 * enqueue(user_id bigint, train text, service_date date, from_station text,
 *		   to_station text, seat_class text, request_id text) returns queue_entry
 *
 * The steps, in the order whose errors callers see: arguments, seat class,
 * journey, a repeated client request id, admission, then the ring or the
 * table.
 */
static Datum
enqueue_request(FunctionCallInfo fcinfo, bool named)
{
	EnqueueArgs args;
	EnqueueJourney journey;
	EnqueueAnswer answer;
	int32		cap = queue_max_waiting_setting();

	ticket_check_primary();
	read_arguments(fcinfo, &args, named);
	SPI_connect();
	if (named)
		resolve_passengers(fcinfo, &args);
	else
		check_real_names();
	check_risk(&args);
	resolve_seat_class(&args);
	resolve_journey(&args, &journey);
	if (args.client_id == NULL || !find_repeated_request(&args, &journey, &answer))
	{
		/*
		 * The request commits with the caller's transaction and settings:
		 * whatever else the transaction wrote is as durable as the caller
		 * asked.  (Preloaded, the request itself writes nothing a commit
		 * would flush: it waits in shared memory, and a crash forgets it.)
		 */
		check_admission(&args, &journey);
		if (queue_ring_available())
			enqueue_into_ring(&args, &journey, cap, &answer);
		else
			enqueue_into_table(&args, &journey, cap, &answer);
	}
	SPI_finish();
	PG_RETURN_DATUM(queue_entry(fcinfo, &answer));
}

Datum
ticket_enqueue(PG_FUNCTION_ARGS)
{
	return enqueue_request(fcinfo, false);
}

/*
 * enqueue(user_id bigint, train text, service_date date, from_station text,
 *		   to_station text, seat_class text, passengers text[],
 *		   seat_letters text) returns queue_entry
 *
 * The passenger form, with the arguments of the passenger form of grab:
 * the passengers are checked now (TK044, TK042, seat letters TK045/TK046)
 * and kept with the request; a server serves it as that grab would
 * (ticket.grab_named()), in the run's order.
 */
Datum
ticket_enqueue_named(PG_FUNCTION_ARGS)
{
	return enqueue_request(fcinfo, true);
}

PG_FUNCTION_INFO_V1(ticket_queue_wait);

static SPIPlanPtr wait_row_plan = NULL;
static SPIPlanPtr answer_plan = NULL;
static SPIPlanPtr status_plan = NULL;

/* queue_status(request_id), whole, as this function's result */
static Datum
status_of(FunctionCallInfo fcinfo, int64 request_id)
{
	Oid			types[1] = {INT8OID};
	Datum		value = Int64GetDatum(request_id);
	TupleDesc	tupdesc;
	HeapTuple	tuple;

	run_plan(keep_plan(&status_plan, "SELECT * FROM ticket.queue_status($1)", 1, types), &value, NULL, false);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "ticket.queue_wait must return a composite type");
	tuple = SPI_copytuple(SPI_tuptable->vals[0]);
	SPI_finish();
	return heap_copy_tuple_as_datum(tuple, BlessTupleDesc(tupdesc));
}

/* an answer its server left in shared memory, as the table would give it */
static Datum
served_answer(FunctionCallInfo fcinfo, QueueRingServed *served)
{
	TupleDesc	tupdesc;
	Datum		values[10];
	bool		nulls[10];

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "ticket.queue_wait must return a composite type");
	memset(nulls, true, sizeof(nulls));
	values[0] = CStringGetTextDatum(served->done ? "done" : "failed");
	values[1] = Int64GetDatum(served->position);
	nulls[0] = nulls[1] = false;
	if (served->done)
	{
		values[4] = Int64GetDatum(served->order_id);
		values[5] = Int32GetDatum(served->carriage);
		values[6] = CStringGetTextDatum(served->seat_no);
		values[7] = TimestampTzGetDatum(served->hold_until);
		nulls[4] = nulls[5] = nulls[6] = nulls[7] = false;
	}
	else
	{
		values[8] = CStringGetTextDatum(served->sqlstate);
		values[9] = CStringGetTextDatum(served->message);
		nulls[8] = nulls[9] = false;
	}
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls));
}

/*
 * TK025: the request waits for the commit of the caller's own transaction
 * (its enqueue, or the batch that gave it back); waiting for it there
 * would only wait out the timeout.
 */
static void
queued_in_this_transaction(int64 request_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_TICKET_QUEUED_IN_THIS_TRANSACTION),
			 errmsg("queued request %lld cannot be served before this transaction commits",
					(long long) request_id),
			 errdetail("It was queued in this transaction; no server sees it before the commit."),
			 errhint("Commit after ticket.enqueue(), then call ticket.queue_wait().")));
}

/*
 * queue_wait(request_id bigint, timeout interval): the answer once the
 * request is served, or its status at the timeout.  In C, as enqueue: a
 * waiter costs a sleep and one query for its answer.
 */
Datum
ticket_queue_wait(PG_FUNCTION_ARGS)
{
	Oid			types[1] = {INT8OID};
	int64		request_id;
	QueueRingServed served;
	Interval   *timeout;
	Interval	longest = {.time = 0, .day = 1, .month = 0};
	TimestampTz until;
	Datum		value;

	timeout = PG_ARGISNULL(1) ? NULL : PG_GETARG_INTERVAL_P(1);
	if (timeout == NULL || timeout->time < 0 || timeout->day < 0 || timeout->month < 0)
		ereport(ERROR,
				(errcode(ERRCODE_TICKET_INVALID_ARGUMENT),
				 errmsg("timeout must be a non-negative interval")));
	if (DatumGetBool(DirectFunctionCall2(interval_gt, IntervalPGetDatum(timeout),
										 IntervalPGetDatum(&longest))))
		ereport(ERROR,
				(errcode(ERRCODE_TICKET_INVALID_ARGUMENT),
				 errmsg("timeout must be at most 1 day"),
				 errhint("Call ticket.queue_wait() again to wait longer.")));
	until = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													TimestampTzGetDatum(GetCurrentTimestamp()),
													IntervalPGetDatum(timeout)));
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_TICKET_NO_SUCH_QUEUED_REQUEST),
				 errmsg("no such queued request: <NULL>")));
	request_id = PG_GETARG_INT64(0);
	value = Int64GetDatum(request_id);

	/* queued by this very transaction: no server sees it before the commit */
	if (queue_ring_queued_here(request_id))
		queued_in_this_transaction(request_id);

	/* waiting in shared memory: sleep there until a batch has served it */
	if (!queue_ring_wait_for(request_id, until))
	{
		SPI_connect();
		return status_of(fcinfo, request_id);
	}
	/* its server left the answer there too */
	if (queue_ring_answer_of(request_id, &served))
		return served_answer(fcinfo, &served);

	SPI_connect();
	/* waiting in the table (not preloaded, or left there by a batch): until a batch of its run commits */
	for (;;)
	{
		int64		run_id;
		bool		isnull;
		char	   *status;
		uint64		seen = 0;
		bool		signals = queue_signal_available();

		run_plan(keep_plan(&wait_row_plan,
						   "SELECT q.run_id, q.status, q.xmin FROM ticket.queue_request q WHERE q.request_id = $1",
						   1, types),
				 &value, NULL, false);
		if (SPI_processed != 1)
			break;
		run_id = DatumGetInt64(column(0, 1, &isnull));
		status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		if (strcmp(status, "waiting") != 0)
			break;
		/* written by this very transaction (enqueued, or given back by a batch it ran) */
		if (TransactionIdIsCurrentTransactionId(DatumGetTransactionId(column(0, 3, &isnull))))
			queued_in_this_transaction(request_id);
		if (GetCurrentTimestamp() >= until)
			break;
		if (signals)
		{
			/* counted, then looked at again: a batch committing after the look wakes us */
			seen = queue_signal_batches(run_id);
			run_plan(wait_row_plan, &value, NULL, false);
			if (SPI_processed != 1
				|| strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2), "waiting") != 0)
				break;
			(void) queue_signal_sleep(run_id, seen, until);
		}
		else
		{
			/* the batch lock of the run: held by a batch under way until it commits */
			TimestampTz asked = GetCurrentTimestamp();

			ticket_lock_session(TICKET_LOCK_QUEUE_BATCH, run_id, true);
			ticket_unlock_session(TICKET_LOCK_QUEUE_BATCH, run_id, true);
			if (TimestampDifferenceExceeds(asked, GetCurrentTimestamp(), 1) == false)
			{
				/* no batch was under way: the server has yet to start one */
				(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 5,
								 PG_WAIT_EXTENSION);
				ResetLatch(MyLatch);
			}
		}
		CHECK_FOR_INTERRUPTS();
	}

	/* the answer in one statement (what queue_status() tells of a served request) */
	run_plan(keep_plan(&answer_plan,
					   "SELECT q.status, q.queue_position, NULL::bigint, NULL::interval, o.order_id, "
					   "  k.carriage_no, k.seat_no, o.hold_until, q.error_sqlstate, q.error_message "
					   "FROM ticket.queue_request q "
					   "LEFT JOIN ticket.orders o ON o.order_id = q.order_id "
					   "LEFT JOIN LATERAL (SELECT t.seat_id FROM ticket.tickets t WHERE t.order_id = o.order_id "
					   "                   ORDER BY t.ticket_id DESC LIMIT 1) t ON true "
					   "LEFT JOIN ticket.seat k ON k.seat_id = t.seat_id "
					   "WHERE q.request_id = $1 AND q.status <> 'waiting'",
					   1, types),
			 &value, NULL, false);
	if (SPI_processed == 1)
	{
		TupleDesc	tupdesc;
		HeapTuple	tuple = SPI_copytuple(SPI_tuptable->vals[0]);

		SPI_finish();
		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "ticket.queue_wait must return a composite type");
		return heap_copy_tuple_as_datum(tuple, BlessTupleDesc(tupdesc));
	}
	/* unknown (TK019), or still waiting at the timeout */
	return status_of(fcinfo, request_id);
}
