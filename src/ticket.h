/*-------------------------------------------------------------------------
 *
 * ticket.h
 *	  What the module's entry point (ticket.c) offers the other files.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TICKET_H
#define TICKET_H

/* error TK063 when this server is a standby: writes go to the primary */
extern void ticket_check_primary(void);

#endif							/* TICKET_H */
