/*-------------------------------------------------------------------------
 *
 * risk.h
 *	  Risk signals counted in shared memory (risk.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef TICKET_RISK_H
#define TICKET_RISK_H

/* startup setting (PGC_POSTMASTER): slots of the risk counters */
extern int	ticket_risk_entries;

/* the slots the setting asks for, rounded to whole partitions */
extern int	risk_slots(void);

/* whether risk checks are on (setting risk_checks; preloaded only) */
extern bool risk_checks_on(void);

#endif							/* TICKET_RISK_H */
