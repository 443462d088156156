/*-------------------------------------------------------------------------
 *
 * ticket.c
 *	  Module entry point of the ticket extension: settings and the queue worker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "queue_worker.h"
#include "shmem.h"
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

void		_PG_init(void);

PG_FUNCTION_INFO_V1(ticket_hold_timeout);

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
