/*-------------------------------------------------------------------------
 *
 * breaker.c
 *	  The overload breaker (降级熔断): while it is tripped, the non-core calls
 *	  (search_transfers, remaining_matrix for the application, seat letters,
 *	  a group spread over carriages) answer TK081 or a cheaper answer, so that
 *	  grab, the queue, confirm and refund keep the server's time.
 *
 * The administrator sets the mode (ticket.set_breaker(): off, auto, on) and
 * the levels in ticket.setting; the SQL side reads them and passes them to
 * ticket.breaker_check() here.  In mode auto the breaker watches one
 * measured signal: how many other client backends of this database are
 * active (running a statement or waiting for a lock), as pg_stat_activity
 * shows them.  It trips when that reaches breaker_trip_backends and recovers
 * once every sample for breaker_hold_seconds has been below half of that
 * (hysteresis: a load that hovers around the level does not flap).  The
 * hold counts from the first sample seen below: with no call in between, the
 * breaker cannot know the load fell earlier, and stays tripped the hold
 * longer rather than recover too soon.
 *
 * The state lives in shared memory, one slot per database, when the library
 * is preloaded.  The signal is sampled at most every BREAKER_SAMPLE_MS by
 * whichever call asks (reading pg_stat_activity copies every backend's
 * entry), so under a rush the check costs a spinlock.  Not preloaded, there
 * is no state to keep: mode auto trips exactly while the signal is at or
 * over the level, without hysteresis.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "shmem.h"

#define BREAKER_SLOTS 16
#define BREAKER_SAMPLE_MS 100

/* the modes, as ticket.setting('breaker_mode') holds them */
#define BREAKER_OFF 0
#define BREAKER_AUTO 1
#define BREAKER_ON 2

typedef struct BreakerSlot
{
	Oid			dbid;			/* InvalidOid: free */
	bool		tripped;		/* tripped automatically (mode auto) */
	int			signal;			/* the last sample */
	TimestampTz sampled_at;		/* 0: never */
	TimestampTz tripped_at;		/* when it last tripped */
	TimestampTz recovered_at;	/* when it last recovered */
	TimestampTz low_since;		/* first of the samples in a row under the
								 * recovery level (0: the last one was not) */
	int64		trips;			/* how often it tripped automatically */
} BreakerSlot;

typedef struct BreakerShared
{
	slock_t		mutex;
	BreakerSlot slots[BREAKER_SLOTS];
} BreakerShared;

static BreakerShared *breaker = NULL;

PG_FUNCTION_INFO_V1(ticket_breaker_check);
PG_FUNCTION_INFO_V1(ticket_breaker_state);

Size
breaker_shmem_size(void)
{
	return sizeof(BreakerShared);
}

void
breaker_shmem_init(void *ptr, bool found)
{
	breaker = (BreakerShared *) ptr;
	if (!found)
		SpinLockInit(&breaker->mutex);
}

/*
 * Other client backends of this database that are active: running a
 * statement (or waiting for a lock inside one), as pg_stat_activity's state
 * 'active' and 'fastpath function call'.  The caller itself does not count.
 */
static int
active_backends(void)
{
	int			n = pgstat_fetch_stat_numbackends();
	int			active = 0;

	for (int i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(i);
		PgBackendStatus *be;

		if (local == NULL)
			continue;
		be = &local->backendStatus;
		if (be->st_procpid == MyProcPid || be->st_backendType != B_BACKEND
			|| be->st_databaseid != MyDatabaseId)
			continue;
		if (be->st_state == STATE_RUNNING || be->st_state == STATE_FASTPATH)
			active++;
	}
	return active;
}

/* this database's slot, taken if it has none; NULL if all are taken (mutex held) */
static BreakerSlot *
slot_of_database(void)
{
	BreakerSlot *free_slot = NULL;

	for (int i = 0; i < BREAKER_SLOTS; i++)
	{
		if (breaker->slots[i].dbid == MyDatabaseId)
			return &breaker->slots[i];
		if (breaker->slots[i].dbid == InvalidOid && free_slot == NULL)
			free_slot = &breaker->slots[i];
	}
	if (free_slot != NULL)
	{
		memset(free_slot, 0, sizeof(BreakerSlot));
		free_slot->dbid = MyDatabaseId;
	}
	return free_slot;
}

/*
 * breaker_check(mode, trip_level, hold_seconds): is the breaker open (calls
 * degraded) now?  Samples the signal if the last sample is old and moves the
 * automatic state.  Internal: the levels come from ticket.setting, read by
 * ticket.degraded(), which alone may call this.
 */
Datum
ticket_breaker_check(PG_FUNCTION_ARGS)
{
	int32		mode = PG_GETARG_INT32(0);
	int32		trip = PG_GETARG_INT32(1);
	int32		hold_s = PG_GETARG_INT32(2);
	TimestampTz now;
	BreakerSlot *slot;
	bool		sample;
	bool		result;
	int			signal = 0;

	if (mode == BREAKER_ON)
		PG_RETURN_BOOL(true);
	if (mode != BREAKER_AUTO || trip <= 0)
	{
		/* off, or no level: closed, and an automatic trip is forgotten */
		if (breaker != NULL)
		{
			SpinLockAcquire(&breaker->mutex);
			slot = slot_of_database();
			if (slot != NULL && slot->tripped)
			{
				slot->tripped = false;
				slot->recovered_at = GetCurrentTimestamp();
			}
			SpinLockRelease(&breaker->mutex);
		}
		PG_RETURN_BOOL(false);
	}
	if (breaker == NULL)
		PG_RETURN_BOOL(active_backends() >= trip);

	now = GetCurrentTimestamp();
	SpinLockAcquire(&breaker->mutex);
	slot = slot_of_database();
	sample = slot == NULL || slot->sampled_at == 0
		|| TimestampDifferenceExceeds(slot->sampled_at, now, BREAKER_SAMPLE_MS);
	result = slot != NULL && slot->tripped;
	SpinLockRelease(&breaker->mutex);
	if (slot == NULL)
		PG_RETURN_BOOL(active_backends() >= trip);
	if (!sample)
		PG_RETURN_BOOL(result);

	/* outside the spinlock: this reads every backend's entry */
	signal = active_backends();

	SpinLockAcquire(&breaker->mutex);
	slot = slot_of_database();
	if (slot != NULL)
	{
		slot->signal = signal;
		slot->sampled_at = now;
		/* recovery level: half the trip level */
		if (signal * 2 >= trip)
			slot->low_since = 0;
		else if (slot->low_since == 0)
			slot->low_since = now;
		if (!slot->tripped && signal >= trip)
		{
			slot->tripped = true;
			slot->tripped_at = now;
			slot->trips++;
		}
		else if (slot->tripped && slot->low_since != 0
				 && TimestampDifferenceExceeds(slot->low_since, now, hold_s * 1000))
		{
			slot->tripped = false;
			slot->recovered_at = now;
		}
		result = slot->tripped;
	}
	else
		result = signal >= trip;
	SpinLockRelease(&breaker->mutex);
	PG_RETURN_BOOL(result);
}

/*
 * breaker_state(): the automatic state of this database's breaker as the
 * last check left it (no sampling here): tripped, signal, sampled_at,
 * tripped_at, recovered_at, trips.  All NULL when not preloaded.
 */
Datum
ticket_breaker_state(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};
	BreakerSlot copy;
	bool		have = false;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "ticket: breaker_state must return a record");
	tupdesc = BlessTupleDesc(tupdesc);
	memset(&copy, 0, sizeof(copy));
	if (breaker != NULL)
	{
		BreakerSlot *slot;

		SpinLockAcquire(&breaker->mutex);
		slot = slot_of_database();
		if (slot != NULL)
		{
			copy = *slot;
			have = true;
		}
		SpinLockRelease(&breaker->mutex);
	}
	if (!have)
	{
		for (int i = 0; i < 6; i++)
			nulls[i] = true;
	}
	else
	{
		values[0] = BoolGetDatum(copy.tripped);
		values[1] = Int32GetDatum(copy.signal);
		values[2] = TimestampTzGetDatum(copy.sampled_at);
		nulls[2] = copy.sampled_at == 0;
		values[3] = TimestampTzGetDatum(copy.tripped_at);
		nulls[3] = copy.tripped_at == 0;
		values[4] = TimestampTzGetDatum(copy.recovered_at);
		nulls[4] = copy.recovered_at == 0;
		values[5] = Int64GetDatum(copy.trips);
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
