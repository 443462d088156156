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

#include "datatype/timestamp.h"

/* the queue worker: enqueue commits set this process's latch */
extern void queue_signal_register_worker(void);

/* wake the queue worker now (requests of this database are ready to serve) */
extern void queue_signal_wake_worker(void);

/* C-level forms of queue_batch_count(), queue_sleep() and a batch's signal */
extern bool queue_signal_available(void);
extern uint64 queue_signal_batches(int64 run_id);
extern bool queue_signal_sleep(int64 run_id, uint64 seen, TimestampTz until);
extern uint64 queue_signal_slot_bit(int64 run_id);
extern void queue_signal_batches_done(uint64 slots);

/* the journeys enqueue keeps: changes of the timetable */
extern uint64 queue_signal_timetable_changes(void);
extern void queue_signal_timetable_changed(void);

#endif							/* TICKET_QUEUE_SIGNAL_H */
