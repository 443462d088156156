/*-------------------------------------------------------------------------
 *
 * queue_worker.h
 *	  The background worker that serves the order queue.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TICKET_QUEUE_WORKER_H
#define TICKET_QUEUE_WORKER_H

extern void queue_worker_init(void);

#endif							/* TICKET_QUEUE_WORKER_H */
