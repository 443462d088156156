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
#include "utils/builtins.h"
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
 * The end client of a call (an IP address or a device id), named by the
 * application in the transaction of each call with
 * set_config('ticket.client', '<id>', true): the database cannot see the
 * end user's address.  The per-client limit (setting
 * max_orders_per_client_run) counts live orders by it, and the
 * risk signals (risk.c) count per client.  Empty: the call is
 * its own client.  PGC_USERSET: it is the application's to say, per call.
 */
static char *client_id = NULL;

void		_PG_init(void);

PG_FUNCTION_INFO_V1(ticket_hold_timeout);
PG_FUNCTION_INFO_V1(ticket_client);
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
							   "The end client (IP address or device id) of the calls of this transaction.",
							   "Set by the application with set_config('ticket.client', id, true) in the "
							   "transaction of each call; per-client limits and risk signals count by it.  "
							   "Empty: each call is its own client.",
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

/*
 * The setting ticket.client, NULL when empty (the call is its own client);
 * TK073 when longer than TICKET_CLIENT_MAX bytes (the queue keeps it in
 * shared memory).  SQL calls ticket.client(), as hold_timeout(), so that the
 * library is loaded.
 */
const char *
ticket_current_client(void)
{
	size_t		len;

	if (client_id == NULL || client_id[0] == '\0')
		return NULL;
	len = strlen(client_id);
	if (len > TICKET_CLIENT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_TICKET_INVALID_CLIENT),
				 errmsg("client id is too long: %d bytes", (int) len),
				 errdetail("A client id (the setting ticket.client) is at most %d bytes.", TICKET_CLIENT_MAX),
				 errhint("Name the client by its IP address or a short device id.")));
	return client_id;
}

Datum
ticket_client(PG_FUNCTION_ARGS)
{
	const char *c = ticket_current_client();

	if (c == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(c));
}
