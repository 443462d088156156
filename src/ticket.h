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

/* longest client id (the setting ticket.client) taken: TK073 beyond */
#define TICKET_CLIENT_MAX 64

/* the setting ticket.client, NULL when empty; TK073 when too long */
extern const char *ticket_current_client(void);

#endif							/* TICKET_H */
