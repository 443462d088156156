/*-------------------------------------------------------------------------
 *
 * ticket_locks.c
 *	  The extension's own locks, out of reach of every other role.
 *
 * Up to 1.6 the extension serialised with advisory locks
 * (pg_advisory_xact_lock(hashtext('ticket.queue'), hashint8(run_id)), ...).
 * Advisory locks are one namespace for the whole database, and every login
 * role may take any of them: a role with no grants at all could take a
 * run's queue lock and stall the queue worker, or a user's lock and stall
 * that user's grabs.  These locks are heavyweight locks with an advisory
 * lock tag, as pg_advisory_*() take them, but with a fourth field no SQL
 * function produces: pg_advisory_*() set it to 1 (one bigint key) or 2 (two
 * integer keys); ours is TICKET_LOCK_OBJSUBID_BASE + the kind of lock
 * (12301 to 12306).  So no SQL call can take, wait for or release one of
 * them, and pg_locks still shows them, as advisory locks of the database
 * with that objsubid and the key in classid (high 32 bits) and objid (low
 * 32 bits).
 *
 * The SQL functions below are internal: EXECUTE is revoked from PUBLIC and
 * granted to no role, so only the extension's SECURITY DEFINER functions
 * (and superusers) call them.  C code calls the functions of ticket_locks.h.
 * Semantics are those of the advisory functions they replace: shared or
 * exclusive, held to the end of the transaction (released with a
 * subtransaction that aborts) or for the session until released, waited for
 * (subject to lock_timeout and the deadlock detector) or only tried.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "ticket_locks.h"

PG_FUNCTION_INFO_V1(ticket_queue_lock_timeout);
PG_FUNCTION_INFO_V1(ticket_lock_xact_sql);
PG_FUNCTION_INFO_V1(ticket_try_lock_xact_sql);
PG_FUNCTION_INFO_V1(ticket_lock_session_sql);
PG_FUNCTION_INFO_V1(ticket_unlock_session_sql);

static const char *const kind_names[] = {
	[TICKET_LOCK_QUEUE] = "queue",
	[TICKET_LOCK_SERVE_QUEUE] = "serve_queue",
	[TICKET_LOCK_QUEUE_BATCH] = "queue_batch",
	[TICKET_LOCK_WAITLIST] = "waitlist",
	[TICKET_LOCK_USER] = "user",
	[TICKET_LOCK_USER_RUN] = "user_run",
	[TICKET_LOCK_PERSON] = "person",
	[TICKET_LOCK_CLIENT_RUN] = "client_run",
};

/*
 * How long serve_queue() waits for any lock of a run (its queue, its
 * carriages, its waitlist) before it leaves the run for the next call: one
 * stuck run must not hold up the queues of the others.
 */
static int	queue_lock_timeout_ms = 100;

void
ticket_locks_init(void)
{
	DefineCustomIntVariable("ticket.queue_lock_timeout",
							"How long ticket.serve_queue() waits for a lock of a run before it leaves the run for later.",
							"A run whose queue, carriages or waitlist stay locked longer (by a client's open "
							"transaction, say) is served by a later call; the queues of other runs go on.",
							&queue_lock_timeout_ms,
							100,
							1,
							10 * 60 * 1000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
}

/* the setting in milliseconds, for serve_queue() (a function, so the library is loaded) */
Datum
ticket_queue_lock_timeout(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(queue_lock_timeout_ms);
}

static void
set_tag(LOCKTAG *tag, TicketLockKind kind, int64 key)
{
	/* as the lock manager may not be used in a parallel worker for these */
	if (IsInParallelMode())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("cannot take ticket locks during a parallel operation")));
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) (((uint64) key) >> 32), (uint32) key,
						 (uint16) (TICKET_LOCK_OBJSUBID_BASE + kind));
}

static LOCKMODE
mode_of(bool shared)
{
	return shared ? ShareLock : ExclusiveLock;
}

void
ticket_lock_xact(TicketLockKind kind, int64 key, bool shared)
{
	LOCKTAG		tag;

	set_tag(&tag, kind, key);
	(void) LockAcquire(&tag, mode_of(shared), false, false);
}

void
ticket_lock_session(TicketLockKind kind, int64 key, bool shared)
{
	LOCKTAG		tag;

	set_tag(&tag, kind, key);
	(void) LockAcquire(&tag, mode_of(shared), true, false);
}

bool
ticket_unlock_session(TicketLockKind kind, int64 key, bool shared)
{
	LOCKTAG		tag;

	set_tag(&tag, kind, key);
	return LockRelease(&tag, mode_of(shared), true);
}

/* the kind named in SQL */
static TicketLockKind
kind_arg(FunctionCallInfo fcinfo)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	for (int k = TICKET_LOCK_QUEUE; k <= TICKET_LOCK_CLIENT_RUN; k++)
		if (strcmp(name, kind_names[k]) == 0)
			return (TicketLockKind) k;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown ticket lock \"%s\"", name),
			 errhint("The locks are queue, serve_queue, queue_batch, waitlist, user, user_run, person and client_run.")));
	pg_unreachable();
}

/* lock_xact(kind text, key bigint, shared boolean): wait for it, hold it to the end of the transaction */
Datum
ticket_lock_xact_sql(PG_FUNCTION_ARGS)
{
	ticket_lock_xact(kind_arg(fcinfo), PG_GETARG_INT64(1), PG_GETARG_BOOL(2));
	PG_RETURN_VOID();
}

/* try_lock_xact(kind text, key bigint, shared boolean): take it if free now, to the end of the transaction */
Datum
ticket_try_lock_xact_sql(PG_FUNCTION_ARGS)
{
	TicketLockKind kind = kind_arg(fcinfo);
	LOCKTAG		tag;

	set_tag(&tag, kind, PG_GETARG_INT64(1));
	PG_RETURN_BOOL(LockAcquire(&tag, mode_of(PG_GETARG_BOOL(2)), false, true) != LOCKACQUIRE_NOT_AVAIL);
}

/* lock_session(kind text, key bigint, shared boolean): wait for it, hold it until unlock_session() */
Datum
ticket_lock_session_sql(PG_FUNCTION_ARGS)
{
	ticket_lock_session(kind_arg(fcinfo), PG_GETARG_INT64(1), PG_GETARG_BOOL(2));
	PG_RETURN_VOID();
}

/* unlock_session(kind text, key bigint, shared boolean): false (and a warning) if not held */
Datum
ticket_unlock_session_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(ticket_unlock_session(kind_arg(fcinfo), PG_GETARG_INT64(1), PG_GETARG_BOOL(2)));
}
