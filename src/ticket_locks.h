/*-------------------------------------------------------------------------
 *
 * ticket_locks.h
 *	  The extension's own heavyweight locks: advisory-style lock tags that no
 *	  SQL function can produce, so no outside role can take them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TICKET_LOCKS_H
#define TICKET_LOCKS_H

/*
 * What a lock guards.  A lock's tag is (database, key >> 32, key & 0xffffffff,
 * TICKET_LOCK_OBJSUBID_BASE + kind): pg_locks shows it as an advisory lock
 * whose objsubid tells the kind (pg_advisory_* use objsubid 1 and 2 only).
 */
typedef enum TicketLockKind
{
	TICKET_LOCK_QUEUE = 1,		/* key run_id: a run's queue (table path enqueuers share it, a server's horizon takes it) */
	TICKET_LOCK_SERVE_QUEUE = 2,	/* key run_id: one server per run */
	TICKET_LOCK_QUEUE_BATCH = 3,	/* key run_id: a batch under way on the run */
	TICKET_LOCK_WAITLIST = 4,	/* key run_id: one waitlist pass per run */
	TICKET_LOCK_USER = 5,		/* key user_id: an account's passengers and daily counters */
	TICKET_LOCK_USER_RUN = 6,	/* key hashint8extended(user_id, run_id): one user's grabs on a run */
	TICKET_LOCK_PERSON = 7,		/* key hashtextextended(document_key, day): one person's tickets of a service day */
	TICKET_LOCK_CLIENT_RUN = 8	/* key hashtextextended(client, run_id): one client's orders on a run */
} TicketLockKind;

#define TICKET_LOCK_OBJSUBID_BASE 12300

/* the setting ticket.queue_lock_timeout, from _PG_init() */
extern void ticket_locks_init(void);

/* transaction-level, waiting (subject to lock_timeout) */
extern void ticket_lock_xact(TicketLockKind kind, int64 key, bool shared);

/* session-level, waiting; and its release */
extern void ticket_lock_session(TicketLockKind kind, int64 key, bool shared);
extern bool ticket_unlock_session(TicketLockKind kind, int64 key, bool shared);

#endif							/* TICKET_LOCKS_H */
