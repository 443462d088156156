/*-------------------------------------------------------------------------
 *
 * run_live.c
 *	  A run's sales status, free seats for a journey and queue head, read by
 *	  run id through the primary keys of ticket.run, ticket.run_carriage and
 *	  ticket.queue_head.
 *
 * enqueue reads these on every call.  As a query they were the larger part
 * of its cost: its plan is thrown away whenever autovacuum visits one of
 * those tables, which in a rush (every sale rewrites a seat map) is every
 * few seconds, and then every session plans it again.  Read here there is
 * nothing to plan: three index scans under the statement's snapshot, as
 * the query read them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type_d.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "parser/parse_relation.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "run_live.h"
#include "seatmap_sql.h"

typedef struct RunScan
{
	Relation	rel;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
} RunScan;

static AttrNumber
column_of(Relation rel, const char *name)
{
	AttrNumber	attnum = attnameAttNum(rel, name, false);

	if (attnum == InvalidAttrNumber)
		elog(ERROR, "ticket: column %s.%s is missing", RelationGetRelationName(rel), name);
	return attnum;
}

/*
 * the rows of ticket.<relname> whose primary key starts with run_id, as the
 * snapshot sees them
 */
static void
begin_run_scan_snapshot(RunScan *rs, const char *relname, int64 run_id, Snapshot snapshot)
{
	Oid			relid = get_relname_relid(relname, get_namespace_oid("ticket", false));
	Oid			indexid;
	ScanKeyData key;

	if (!OidIsValid(relid))
		elog(ERROR, "ticket: table %s is missing", relname);
	rs->rel = table_open(relid, AccessShareLock);
	indexid = RelationGetPrimaryKeyIndex(rs->rel);
	if (!OidIsValid(indexid))
		elog(ERROR, "ticket: table %s has no primary key", relname);
	rs->index = index_open(indexid, AccessShareLock);
	if (rs->index->rd_index->indkey.values[0] != column_of(rs->rel, "run_id")
		|| TupleDescAttr(RelationGetDescr(rs->rel), column_of(rs->rel, "run_id") - 1)->atttypid != INT8OID)
		elog(ERROR, "ticket: the primary key of %s does not start with run_id", relname);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(run_id));
	rs->scan = index_beginscan(rs->rel, rs->index, snapshot, 1, 0);
	index_rescan(rs->scan, &key, 1, NULL, 0);
	rs->slot = table_slot_create(rs->rel, NULL);
}

/* the same under the statement's snapshot */
static void
begin_run_scan(RunScan *rs, const char *relname, int64 run_id)
{
	begin_run_scan_snapshot(rs, relname, run_id, GetActiveSnapshot());
}

static bool
next_run_row(RunScan *rs)
{
	return index_getnext_slot(rs->scan, ForwardScanDirection, rs->slot);
}

static void
end_run_scan(RunScan *rs)
{
	ExecDropSingleTupleTableSlot(rs->slot);
	index_endscan(rs->scan);
	index_close(rs->index, AccessShareLock);
	table_close(rs->rel, AccessShareLock);
}

static int64
int8_column(RunScan *rs, const char *name)
{
	bool		isnull;
	Datum		d = slot_getattr(rs->slot, column_of(rs->rel, name), &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/*
 * Read what may change under a journey: false if the run is not there.
 * seat_class: a class name (already checked), NULL for any.
 */
bool
run_live_read(int64 run_id, int32 from_stop, int32 to_stop, const char *seat_class, RunLive *live)
{
	RunScan		rs;
	bool		found;
	Segment		legs = {from_stop, to_stop};

	memset(live, 0, sizeof(RunLive));

	begin_run_scan(&rs, "run", run_id);
	found = next_run_row(&rs);
	if (found)
	{
		bool		isnull;
		Datum		status = slot_getattr(rs.slot, column_of(rs.rel, "status"), &isnull);

		live->open = !isnull && strcmp(TextDatumGetCString(status), "open") == 0;
	}
	end_run_scan(&rs);
	if (!found)
		return false;

	begin_run_scan(&rs, "run_carriage", run_id);
	{
		AttrNumber	class_column = column_of(rs.rel, "seat_class");
		AttrNumber	map_column = column_of(rs.rel, "map");
		Oid			wanted = InvalidOid;

		if (seat_class != NULL)
			wanted = DatumGetObjectId(DirectFunctionCall2(enum_in, CStringGetDatum(seat_class),
														  ObjectIdGetDatum(TupleDescAttr(RelationGetDescr(rs.rel), class_column - 1)->atttypid)));
		while (next_run_row(&rs))
		{
			bool		isnull;
			Datum		d;
			const SeatMap *map;

			if (seat_class != NULL)
			{
				d = slot_getattr(rs.slot, class_column, &isnull);
				if (isnull || DatumGetObjectId(d) != wanted)
					continue;
			}
			d = slot_getattr(rs.slot, map_column, &isnull);
			if (isnull)
				continue;
			map = seatmap_checked(DatumGetByteaPP(d));
			seatmap_check_legs(map, legs);
			live->free_seats += seatmap_count_free(map, legs);
		}
	}
	end_run_scan(&rs);

	begin_run_scan(&rs, "queue_head", run_id);
	if (next_run_row(&rs))
	{
		live->served = int8_column(&rs, "served");
		live->last_position = int8_column(&rs, "last_position");
	}
	end_run_scan(&rs);
	return true;
}

/*
 * ticket.run_hot(run_id): is the run marked hot (ticket.hot_run) now?  Read
 * under the latest snapshot, not the caller's: a mark counts for every grab
 * that checks after the mark committed, whatever the caller's isolation
 * level, and costs one index probe of a small table.  An automatic mark
 * counts until its deadline; an administrator's (until NULL) until removed.
 */
PG_FUNCTION_INFO_V1(ticket_run_hot);

Datum
ticket_run_hot(PG_FUNCTION_ARGS)
{
	int64		run_id = PG_GETARG_INT64(0);
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	RunScan		rs;
	bool		hot = false;

	begin_run_scan_snapshot(&rs, "hot_run", run_id, snapshot);
	if (next_run_row(&rs))
	{
		bool		isnull;
		Datum		until = slot_getattr(rs.slot, column_of(rs.rel, "until"), &isnull);

		hot = isnull || DatumGetTimestampTz(until) > GetCurrentTimestamp();
	}
	end_run_scan(&rs);
	UnregisterSnapshot(snapshot);
	PG_RETURN_BOOL(hot);
}
