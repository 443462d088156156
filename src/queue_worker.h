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

/* the setting ticket.queue_max_waiting */
extern int	queue_max_waiting_setting(void);

#endif							/* TICKET_QUEUE_WORKER_H */
