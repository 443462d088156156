/*-------------------------------------------------------------------------
 *
 * queue_ring.h
 *	  Queued requests accepted into shared memory (when preloaded): enqueue
 *	  writes no table row; a server copies the requests it serves into
 *	  ticket.queue_request.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TICKET_QUEUE_RING_H
#define TICKET_QUEUE_RING_H

#include "datatype/timestamp.h"

/* longest client request id the ring keeps (longer ones are refused) */
#define QUEUE_RING_CLIENT_ID_MAX 128

/* a request with passengers names 1 to this many (as grab) */
#define QUEUE_RING_PASSENGERS_MAX 5
/* the end client (ticket.client) the ring keeps: ticket.h's TICKET_CLIENT_MAX */
#define QUEUE_RING_END_CLIENT_MAX 64

typedef struct QueueRingRequest
{
	int64		run_id;
	int64		user_id;
	int32		from_stop;
	int32		to_stop;
	int32		seat_class;		/* position in the enum, 0: any */
	int64		served_when;	/* queue_head.served at acceptance */
	int			client_id_len;	/* -1: no client request id */
	char		client_id[QUEUE_RING_CLIENT_ID_MAX];
	/* the passenger form (enqueue with passengers): 0 passengers: one seat, no names */
	int32		n_passengers;
	int64		passenger_ids[QUEUE_RING_PASSENGERS_MAX];	/* ticket.passenger ids, in order */
	char		seat_letters[QUEUE_RING_PASSENGERS_MAX + 1];	/* "": none asked */
	int			end_client_len; /* -1: no end client (ticket.client) */
	char		end_client[QUEUE_RING_END_CLIENT_MAX];
} QueueRingRequest;

typedef enum QueueRingOutcome
{
	QUEUE_RING_ACCEPTED,
	QUEUE_RING_USER_WAITING,	/* the user already waits on the run: TK020 */
	QUEUE_RING_RUN_FULL,		/* the run's queue is at its cap: TK018 */
	QUEUE_RING_FULL,			/* the ring itself is full: TK018 */
	QUEUE_RING_SAME_CLIENT_ID,	/* the client id names a waiting request */
	QUEUE_RING_NEEDS_IDS		/* no request id reserved on disk is left: reserve, ask again */
} QueueRingOutcome;

/* what accept found or made */
typedef struct QueueRingAnswer
{
	int64		request_id;
	int64		position;
	int64		ahead;
	int64		run_id;			/* of a request found by its client id */
	int32		from_stop;
	int32		to_stop;
	int32		seat_class;
} QueueRingAnswer;

/* longest seat number and error message an answer in shared memory keeps */
#define QUEUE_RING_SEAT_NO_MAX 16
#define QUEUE_RING_MESSAGE_MAX 256

/* the outcome of a served request, as queue_status() tells it */
typedef struct QueueRingServed
{
	bool		done;			/* false: failed */
	int64		position;
	/* done: */
	int64		order_id;
	int32		carriage;
	TimestampTz hold_until;
	char		seat_no[QUEUE_RING_SEAT_NO_MAX];
	/* failed: */
	char		sqlstate[6];
	char		message[QUEUE_RING_MESSAGE_MAX];
} QueueRingServed;

extern bool queue_ring_answer_of(int64 request_id, QueueRingServed *served);
extern bool queue_ring_available(void);
extern bool queue_ring_wait_for(int64 request_id, TimestampTz until);
extern bool queue_ring_queued_here(int64 request_id);
extern bool queue_ring_find_client(int64 user_id, const char *client_id, int client_id_len,
								   QueueRingAnswer *answer);
extern QueueRingOutcome queue_ring_accept(const QueueRingRequest *req, int32 cap, QueueRingAnswer *answer);

/*
 * Request ids are handed out from blocks reserved on disk (queue_enqueue.c
 * moves the database's sequence past a block and flushes that to the WAL
 * first), so that no id is ever handed out twice, whatever restarts or
 * crashes in between.
 */
#define QUEUE_RING_ID_BLOCK 1024
extern bool queue_ring_ids_needed(int64 *last_id, bool *new_counter);
extern bool queue_ring_add_ids(int64 last_id, int64 reserved_to, int64 position_base);

#endif							/* TICKET_QUEUE_RING_H */
