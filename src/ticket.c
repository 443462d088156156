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

/* How long a grabbed seat stays reserved for payment, in seconds. */
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
							PGC_USERSET,
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
