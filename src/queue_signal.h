/*-------------------------------------------------------------------------
 *
 * queue_signal.h
 *	  Wake-ups for the order queue: waiters sleep until a batch of their run
 *	  commits, the queue worker sleeps until a request is accepted.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TICKET_QUEUE_SIGNAL_H
#define TICKET_QUEUE_SIGNAL_H

/* from _PG_init: asks for the shared memory when preloaded */
extern void queue_signal_init(void);

/* the queue worker: enqueue commits set this process's latch */
extern void queue_signal_register_worker(void);

/* when this transaction commits, wake the queue worker */
extern void queue_signal_accepted(void);

#endif							/* TICKET_QUEUE_SIGNAL_H */
