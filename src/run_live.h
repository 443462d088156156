/*-------------------------------------------------------------------------
 *
 * run_live.h
 *	  What enqueue reads of a run on every call, by run id, through the
 *	  primary keys: no query to plan.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TICKET_RUN_LIVE_H
#define TICKET_RUN_LIVE_H

typedef struct RunLive
{
	bool		open;			/* sales are open */
	int64		free_seats;		/* seats free for the journey (of the class) */
	int64		served;			/* queue_head.served, 0 without a head */
	int64		last_position;	/* queue_head.last_position, 0 without a head */
} RunLive;

extern bool run_live_read(int64 run_id, int32 from_stop, int32 to_stop, const char *seat_class,
						  RunLive *live);

#endif							/* TICKET_RUN_LIVE_H */
