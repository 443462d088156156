/*-------------------------------------------------------------------------
 *
 * ticket.c
 *	  Module entry point of the ticket extension.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

PG_MODULE_MAGIC;
