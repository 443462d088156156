/*-------------------------------------------------------------------------
 *
 * ticket.c
 *	  Module entry point of the ticket extension: settings, the queue worker,
 *	  and the check that refuses writes on a standby.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "queue_worker.h"
#include "shmem.h"
#include "ticket.h"
#include "ticket_errcodes.h"
#include "ticket_locks.h"

PG_MODULE_MAGIC;

/*
 * How long a grabbed seat stays reserved for payment, in seconds.  The
 * operator's policy, not the application's: PGC_SUSET, so only a superuser
 * (or a role granted SET ON PARAMETER ticket.hold_timeout) can change it,
 * per cluster (postgresql.conf, ALTER SYSTEM), database or role (ALTER
 * DATABASE / ROLE ... SET).  A client's SET is refused; one made before the
 * library was loaded, on the placeholder, is dropped with a WARNING when the
 * library defines the setting (PostgreSQL re-checks it with the role that
 * made it), so behind a pooler no client's setting reaches another's grab.
 */
static int	hold_timeout_s = 15 * 60;

/*
 * The end client of a call (an IP address or device id), named by the
 * application in each transaction with set_config('ticket.client', ...,
 * true); empty: the call names none.  Risk signals (risk.c) count per
 * client.  (Issue 14 defines it once for the per-client limits and the risk
 * signals alike.)
 */
static char *client_id = NULL;

void		_PG_init(void);

PG_FUNCTION_INFO_V1(ticket_hold_timeout);
PG_FUNCTION_INFO_V1(ticket_require_primary);

void
_PG_init(void)
{
	DefineCustomIntVariable("ticket.hold_timeout",
							"How long a grabbed seat is held for payment.",
							"An unpaid hold older than this no longer blocks a sale, "
							"and ticket.expire_holds() releases it.",
							&hold_timeout_s,
							15 * 60,
							1,
							7 * 24 * 60 * 60,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomStringVariable("ticket.client",
							   "The end client of this call (an IP address or device id), as the application names it.",
							   "Set it in each transaction: SELECT set_config('ticket.client', '<id>', true).  "
							   "Risk signals count per client; empty, the call names no client.",
							   &client_id,
							   "",
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);
	/* shared memory, and the settings that size it, only when preloaded */
	if (process_shared_preload_libraries_in_progress)
		ticket_shmem_preload();
	queue_worker_init();
	ticket_locks_init();
	MarkGUCPrefixReserved("ticket");
}

/*
 * The setting as an interval.  SQL code calls this rather than
 * current_setting() so that the library, and with it the setting, is always
 * loaded, whatever the session did before.
 */
Datum
ticket_hold_timeout(PG_FUNCTION_ARGS)
{
	Interval   *result = palloc0(sizeof(Interval));

	result->time = (TimeOffset) hold_timeout_s * USECS_PER_SEC;
	PG_RETURN_INTERVAL_P(result);
}

/*
 * Writes go to the primary.  A hot standby runs ticket's reads as the
 * primary does, but every function that writes calls this first (SQL ones
 * through ticket.require_primary()), so that a write sent to a standby fails
 * at once with TK063 and says where to go, not with 25006 from whatever
 * statement inside it first tried to write.
 */
void
ticket_check_primary(void)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_TICKET_STANDBY),
				 errmsg("this server is a standby: writes go to the primary"),
				 errdetail("The server is in recovery (a hot standby): it answers reads such as "
						   "ticket.remaining(), but sells, pays and changes nothing."),
				 errhint("Connect to the primary: list every node in the connection string "
						 "and add target_session_attrs=read-write.")));
}

Datum
ticket_require_primary(PG_FUNCTION_ARGS)
{
	ticket_check_primary();
	PG_RETURN_VOID();
}
