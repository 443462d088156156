/*-------------------------------------------------------------------------
 *
 * queue_worker.c
 *	  The background worker that serves the order queue (ticket.enqueue).
 *
 * Requests of a run are served in the order they were accepted, many per
 * transaction, by ticket.serve_queue(run_id, batch_size).  This worker calls
 * it in a loop, one transaction per run with waiting requests, in the
 * database named by ticket.queue_database.  It starts when the library is in
 * shared_preload_libraries (as pg_cron does); without it, anything that
 * calls ticket.serve_queue() in a loop serves the queue just as well.
 *
 * Idle, it costs nothing: with no request waiting it sleeps on its latch,
 * which a committed enqueue sets (queue_signal.c), and looks on its own
 * only once a minute.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
#include "catalog/pg_type_d.h"

#include "queue_signal.h"
#include "queue_worker.h"

/* empty: no worker */
static char *queue_database = NULL;

/*
 * pause after a round that found requests waiting but could serve none (a
 * run another server is busy with, a batch rolled back), in milliseconds
 */
static int	queue_naptime_ms = 10;

/* most requests of one run served in one transaction */
static int	queue_batch_size = 500;

/* most requests one run's queue may hold unserved; more are refused */
static int	queue_max_waiting = 10000;

/* pause while the extension is not installed in queue_database */
#define NOT_INSTALLED_NAPTIME_MS 10000

/*
 * Longest sleep of an idle worker.  Whatever makes a request ready to serve
 * sets its latch (a committed enqueue, a batch that gave its requests back:
 * queue_signal.c), so an idle worker costs nothing until then; it looks
 * anyway once a minute, should a wake-up ever be lost.
 */
#define IDLE_NAPTIME_MS 60000

PGDLLEXPORT void ticket_queue_worker_main(Datum main_arg);

PG_FUNCTION_INFO_V1(ticket_queue_max_waiting);

void
queue_worker_init(void)
{
	BackgroundWorker worker;

	/* a server-start setting can only be defined while the server starts */
	if (process_shared_preload_libraries_in_progress)
		DefineCustomStringVariable("ticket.queue_database",
								   "Database whose order queue the ticket queue worker serves.",
								   "Empty: no worker is started.  Takes effect at server start, "
								   "with ticket in shared_preload_libraries.",
								   &queue_database,
								   "postgres",
								   PGC_POSTMASTER,
								   0,
								   NULL, NULL, NULL);
	DefineCustomIntVariable("ticket.queue_naptime",
							"How long the queue worker pauses when requests wait but none could be served.",
							"With no request waiting it sleeps until an enqueue wakes it.",
							&queue_naptime_ms,
							10,
							1,
							60 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("ticket.queue_batch_size",
							"Most queued requests of one run the worker serves in one transaction.",
							NULL,
							&queue_batch_size,
							500,
							1,
							100000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("ticket.queue_max_waiting",
							"Most requests one run's queue may hold unserved.",
							"ticket.enqueue() refuses more with SQLSTATE TK018 (queue full, try later).",
							&queue_max_waiting,
							10000,
							1,
							INT_MAX,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	if (!process_shared_preload_libraries_in_progress
		|| queue_database == NULL || queue_database[0] == '\0')
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	/* after an error (say the database does not exist yet), try again soon */
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "ticket");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "ticket_queue_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "ticket queue worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "ticket queue worker");
	RegisterBackgroundWorker(&worker);
}

/*
 * The worker's queries, prepared once and kept: a round runs them again and
 * again, and the plan cache replans them only when what they read changes.
 */
static SPIPlanPtr installed_plan = NULL;
static SPIPlanPtr queued_runs_plan = NULL;
static SPIPlanPtr serve_plan = NULL;

/*
 * Run one query in a transaction of its own and return the first column of
 * its rows as int8 values (palloc'd in the caller's context).
 */
static int64 *
run_in_transaction(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes, Datum *args,
				   int *nrows)
{
	MemoryContext caller = CurrentMemoryContext;
	int64	   *result = NULL;
	int			ret;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, sql);

	if (*plan == NULL)
	{
		SPIPlanPtr	prepared = SPI_prepare(sql, nargs, argtypes);

		if (prepared == NULL)
			elog(ERROR, "ticket queue worker: could not prepare: %s", sql);
		SPI_keepplan(prepared);
		*plan = prepared;
	}
	ret = SPI_execute_plan(*plan, args, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "ticket queue worker: query failed: %s", sql);

	*nrows = (int) SPI_processed;
	if (SPI_processed > 0)
	{
		result = MemoryContextAlloc(caller, sizeof(int64) * SPI_processed);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			Datum		value = SPI_getbinval(SPI_tuptable->vals[i],
											  SPI_tuptable->tupdesc, 1, &isnull);

			result[i] = isnull ? 0 : DatumGetInt64(value);
		}
	}

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return result;
}

/*
 * run_in_transaction(), but an error there is logged and its transaction
 * rolled back: the worker goes on rather than exit and leave every queue
 * waiting for its restart.  (Say the extension is dropped under a round.)
 * *failed tells an error from no rows.
 */
static int64 *
run_guarded(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes, Datum *args,
			int *nrows, bool *failed, MemoryContext round_context)
{
	int64	   *volatile result = NULL;

	*failed = false;
	*nrows = 0;
	PG_TRY();
	{
		result = run_in_transaction(plan, sql, nargs, argtypes, args, nrows);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(round_context);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		ereport(LOG,
				(errmsg("ticket queue worker: \"%s\" failed: %s", sql, edata->message)));
		FreeErrorData(edata);
		pgstat_report_activity(STATE_IDLE, NULL);
		*failed = true;
		*nrows = 0;
		result = NULL;
	}
	PG_END_TRY();
	return result;
}

/*
 * Serve one run's queue in a transaction of its own.  An error there (which
 * serve_queue() itself avoids: it records failures on the requests) is
 * logged; the worker goes on with the next run.
 */
static int64
serve_run(int64 run_id, MemoryContext round_context)
{
	Oid			argtypes[2] = {INT8OID, INT4OID};
	Datum		args[2] = {Int64GetDatum(run_id), Int32GetDatum(queue_batch_size)};
	int			n;
	bool		failed;
	int64	   *count = run_guarded(&serve_plan, "SELECT ticket.serve_queue($1, $2)::int8",
									2, argtypes, args, &n, &failed, round_context);

	return n > 0 ? count[0] : 0;
}

void
ticket_queue_worker_main(Datum main_arg pg_attribute_unused())
{
	MemoryContext round_context;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(queue_database, NULL, 0);
	pgstat_report_appname("ticket queue worker");
	/* committed enqueues set our latch: no need to look every naptime */
	queue_signal_register_worker();

	round_context = AllocSetContextCreate(TopMemoryContext, "ticket queue worker",
										  ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		int			nruns;
		int64	   *runs;
		int64	   *installed;
		int			n;
		int64		served = 0;
		bool		failed;
		long		nap_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		MemoryContextReset(round_context);
		MemoryContextSwitchTo(round_context);

		installed = run_guarded(&installed_plan,
								"SELECT 1::int8 FROM pg_catalog.pg_extension WHERE extname = 'ticket' "
								"AND pg_catalog.to_regprocedure('ticket.serve_queue(bigint,integer)') IS NOT NULL",
								0, NULL, NULL, &n, &failed, round_context);
		if (installed == NULL)
			nap_ms = NOT_INSTALLED_NAPTIME_MS;
		else
		{
			runs = run_guarded(&queued_runs_plan, "SELECT run_id FROM ticket.queued_runs()",
							   0, NULL, NULL, &nruns, &failed, round_context);
			/* one transaction per run: a run's locks are held only while it is served */
			for (int i = 0; i < nruns; i++)
			{
				served += serve_run(runs[i], round_context);
				CHECK_FOR_INTERRUPTS();
			}
			/*
			 * Requests arrived while serving: serve them at once.  Requests
			 * wait that none could serve (another server busy with the run,
			 * a batch rolled back): look again after the naptime.  Nothing
			 * waits: sleep until an enqueue wakes us.
			 */
			if (served > 0)
				nap_ms = 0;
			else if (failed)
				nap_ms = NOT_INSTALLED_NAPTIME_MS / 10;
			else if (nruns > 0)
				nap_ms = queue_naptime_ms;
			else
				nap_ms = IDLE_NAPTIME_MS;
		}

		MemoryContextSwitchTo(TopMemoryContext);
		if (nap_ms > 0)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 nap_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}
}

/*
 * The admission cap, for ticket.enqueue().  A function rather than
 * current_setting() so that the library, and with it the setting, is loaded
 * whatever the session did before.
 */
int
queue_max_waiting_setting(void)
{
	return queue_max_waiting;
}

Datum
ticket_queue_max_waiting(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(queue_max_waiting);
}
