/*-------------------------------------------------------------------------
 *
 * ticket_errcodes.h
 *	  The SQLSTATEs of class TK, one macro each, named after what they mean.
 *
 * The SQL functions raise these by their five characters (ERRCODE = 'TK001');
 * C code uses the names, so that a code means the same thing wherever it is
 * raised and a grep finds every place.  README.md, "Errors", is the table
 * callers read; keep the two in step.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TICKET_ERRCODES_H
#define TICKET_ERRCODES_H

#include "utils/elog.h"

/* TK001: sold out: no seat of that class is free on every leg */
#define ERRCODE_TICKET_SOLD_OUT MAKE_SQLSTATE('T','K','0','0','1')
/* TK002: the user already has an unpaid order on this run */
#define ERRCODE_TICKET_UNPAID_ORDER_EXISTS MAKE_SQLSTATE('T','K','0','0','2')
/* TK003: the hold has expired */
#define ERRCODE_TICKET_HOLD_EXPIRED MAKE_SQLSTATE('T','K','0','0','3')
/* TK004: the order is already paid (use refund) */
#define ERRCODE_TICKET_ORDER_ALREADY_PAID MAKE_SQLSTATE('T','K','0','0','4')
/* TK005: the order is not paid (use cancel) */
#define ERRCODE_TICKET_ORDER_NOT_PAID MAKE_SQLSTATE('T','K','0','0','5')
/* TK006: no such order */
#define ERRCODE_TICKET_NO_SUCH_ORDER MAKE_SQLSTATE('T','K','0','0','6')
/* TK007: no such train */
#define ERRCODE_TICKET_NO_SUCH_TRAIN MAKE_SQLSTATE('T','K','0','0','7')
/* TK008: no such run (sales never opened for that date) */
#define ERRCODE_TICKET_NO_SUCH_RUN MAKE_SQLSTATE('T','K','0','0','8')
/* TK009: no such station */
#define ERRCODE_TICKET_NO_SUCH_STATION MAKE_SQLSTATE('T','K','0','0','9')
/* TK010: station not on this train's route */
#define ERRCODE_TICKET_STATION_NOT_ON_ROUTE MAKE_SQLSTATE('T','K','0','1','0')
/* TK011: from station not before to station */
#define ERRCODE_TICKET_STATIONS_OUT_OF_ORDER MAKE_SQLSTATE('T','K','0','1','1')
/* TK012: sales are not open for this run */
#define ERRCODE_TICKET_SALES_NOT_OPEN MAKE_SQLSTATE('T','K','0','1','2')
/* TK013: request id already used for another request */
#define ERRCODE_TICKET_REQUEST_ID_REUSED MAKE_SQLSTATE('T','K','0','1','3')
/* TK014: invalid seat class */
#define ERRCODE_TICKET_INVALID_SEAT_CLASS MAKE_SQLSTATE('T','K','0','1','4')
/* TK015: the order was cancelled */
#define ERRCODE_TICKET_ORDER_CANCELLED MAKE_SQLSTATE('T','K','0','1','5')
/*
 * TK016: invalid timetable or layout (bad code, duplicate, times going
 * backwards, no seats)
 */
#define ERRCODE_TICKET_INVALID_TIMETABLE MAKE_SQLSTATE('T','K','0','1','6')
/*
 * TK017: a required argument is null (or out of range: a negative timeout,
 * a queue request id over 128 bytes)
 */
#define ERRCODE_TICKET_INVALID_ARGUMENT MAKE_SQLSTATE('T','K','0','1','7')
/*
 * TK018: queue full for this run (or, preloaded, the shared queue memory
 * full): try later
 */
#define ERRCODE_TICKET_QUEUE_FULL MAKE_SQLSTATE('T','K','0','1','8')
/*
 * TK019: no such queued request (or one forgotten: still waiting when the
 * server crashed or restarted, or a request id used twice at once)
 */
#define ERRCODE_TICKET_NO_SUCH_QUEUED_REQUEST MAKE_SQLSTATE('T','K','0','1','9')
/* TK020: the user already waits in this run's queue */
#define ERRCODE_TICKET_ALREADY_QUEUED MAKE_SQLSTATE('T','K','0','2','0')
/*
 * TK021: seats are available on this journey (for every passenger named):
 * grab them instead
 */
#define ERRCODE_TICKET_SEATS_AVAILABLE MAKE_SQLSTATE('T','K','0','2','1')
/* TK022: invalid waitlist deadline (past, or after the departure) */
#define ERRCODE_TICKET_INVALID_WAITLIST_DEADLINE MAKE_SQLSTATE('T','K','0','2','2')
/* TK023: the user is already on this run's waitlist */
#define ERRCODE_TICKET_ALREADY_ON_WAITLIST MAKE_SQLSTATE('T','K','0','2','3')
/* TK024: no such waitlist request */
#define ERRCODE_TICKET_NO_SUCH_WAITLIST_REQUEST MAKE_SQLSTATE('T','K','0','2','4')
/*
 * TK025: the request was queued by the caller's own transaction, which has
 * not committed: nobody can serve it before that (commit, then wait)
 */
#define ERRCODE_TICKET_QUEUED_IN_THIS_TRANSACTION MAKE_SQLSTATE('T','K','0','2','5')
/* TK030: from and to are the same station (by code or name) */
#define ERRCODE_TICKET_SAME_STATION MAKE_SQLSTATE('T','K','0','3','0')
/*
 * TK031: invalid connection window: min_connection < 0, max_connection <
 * min_connection, max_connection > 1 day, or min_city_connection < 0
 */
#define ERRCODE_TICKET_INVALID_CONNECTION_WINDOW MAKE_SQLSTATE('T','K','0','3','1')
/* TK032: max_results not between 1 and 1000 */
#define ERRCODE_TICKET_INVALID_MAX_RESULTS MAKE_SQLSTATE('T','K','0','3','2')
/* TK033: invalid city (empty or blank; use NULL to go back to the rule) */
#define ERRCODE_TICKET_INVALID_CITY MAKE_SQLSTATE('T','K','0','3','3')
/*
 * TK040: invalid document number (an ID card number's format, birth date or
 * check digit; another document's format)
 */
#define ERRCODE_TICKET_INVALID_DOCUMENT_NUMBER MAKE_SQLSTATE('T','K','0','4','0')
/* TK041: too many passengers on the account */
#define ERRCODE_TICKET_TOO_MANY_PASSENGERS MAKE_SQLSTATE('T','K','0','4','1')
/* TK042: no such passenger on the account */
#define ERRCODE_TICKET_NO_SUCH_PASSENGER MAKE_SQLSTATE('T','K','0','4','2')
/*
 * TK043: a passenger is already travelling then (another live ticket
 * overlaps in time)
 */
#define ERRCODE_TICKET_PASSENGER_ALREADY_TRAVELLING MAKE_SQLSTATE('T','K','0','4','3')
/* TK044: invalid passenger list: not 1 to 5, a duplicate or a null */
#define ERRCODE_TICKET_INVALID_PASSENGER_LIST MAKE_SQLSTATE('T','K','0','4','4')
/*
 * TK045: invalid seat letters: not in the row layout, repeated, or more
 * than passengers
 */
#define ERRCODE_TICKET_INVALID_SEAT_LETTERS MAKE_SQLSTATE('T','K','0','4','5')
/*
 * TK046: seat choice not offered (only G, D, C trains in business, first,
 * second)
 */
#define ERRCODE_TICKET_SEAT_CHOICE_NOT_OFFERED MAKE_SQLSTATE('T','K','0','4','6')
/* TK047: daily cancel limit reached */
#define ERRCODE_TICKET_DAILY_CANCEL_LIMIT MAKE_SQLSTATE('T','K','0','4','7')
/* TK048: daily order limit reached */
#define ERRCODE_TICKET_DAILY_ORDER_LIMIT MAKE_SQLSTATE('T','K','0','4','8')
/* TK049: change not allowed twice */
#define ERRCODE_TICKET_ALREADY_CHANGED MAKE_SQLSTATE('T','K','0','4','9')
/* TK050: ticket cannot be changed (not paid, no passenger, train has left) */
#define ERRCODE_TICKET_NOT_CHANGEABLE MAKE_SQLSTATE('T','K','0','5','0')
/* TK051: no such ticket */
#define ERRCODE_TICKET_NO_SUCH_TICKET MAKE_SQLSTATE('T','K','0','5','1')
/* TK052: passenger already on the account */
#define ERRCODE_TICKET_PASSENGER_EXISTS MAKE_SQLSTATE('T','K','0','5','2')
/* TK053: passenger has live tickets */
#define ERRCODE_TICKET_PASSENGER_HAS_TICKETS MAKE_SQLSTATE('T','K','0','5','3')
/* TK054: invalid passenger type or document type */
#define ERRCODE_TICKET_INVALID_PASSENGER_TYPE MAKE_SQLSTATE('T','K','0','5','4')
/* TK055: invalid fare, setting or refund rule */
#define ERRCODE_TICKET_INVALID_FARE_RULE MAKE_SQLSTATE('T','K','0','5','5')
/* TK056: nothing to change: same train, journey and class */
#define ERRCODE_TICKET_NOTHING_TO_CHANGE MAKE_SQLSTATE('T','K','0','5','6')
/*
 * TK057: no such order, ticket or waitlist request for this user (unknown,
 * or another user's: the forms that take the user id do not tell which)
 */
#define ERRCODE_TICKET_NOT_THIS_USERS MAKE_SQLSTATE('T','K','0','5','7')
/*
 * TK075: the account (or its end client, or a document it names) is blocked
 * by risk control: a signal is at or above its blocking threshold
 */
#define ERRCODE_TICKET_RISK_BLOCKED MAKE_SQLSTATE('T','K','0','7','5')
/*
 * TK063: this server is a standby (in recovery): writes go to the primary
 * (connect with target_session_attrs=read-write)
 */
#define ERRCODE_TICKET_STANDBY MAKE_SQLSTATE('T','K','0','6','3')
/*
 * TK070: real names required: an anonymous grab, enqueue or waitlist request
 * is refused (setting real_names_required); the hint names the passenger form
 */
#define ERRCODE_TICKET_REAL_NAMES_REQUIRED MAKE_SQLSTATE('T','K','0','7','0')
/*
 * TK071: per-person limit reached: the identity document has as many live
 * tickets on that service day as allowed (max_tickets_per_person_day)
 */
#define ERRCODE_TICKET_PERSON_DAY_LIMIT MAKE_SQLSTATE('T','K','0','7','1')
/*
 * TK072: per-client limit reached: the client (ticket.client) has as many
 * live orders on this run as allowed (max_orders_per_client_run)
 */
#define ERRCODE_TICKET_CLIENT_RUN_LIMIT MAKE_SQLSTATE('T','K','0','7','2')
/* TK073: invalid client id: the setting ticket.client is over 64 bytes */
#define ERRCODE_TICKET_INVALID_CLIENT MAKE_SQLSTATE('T','K','0','7','3')
/*
 * TK080: the run is hot: sold through the queue only (direct grabs refused;
 * enqueue instead)
 */
#define ERRCODE_TICKET_RUN_HOT MAKE_SQLSTATE('T','K','0','8','0')
/*
 * TK081: degraded: a non-core call is off while the server is overloaded
 * (the breaker is tripped): try later
 */
#define ERRCODE_TICKET_DEGRADED MAKE_SQLSTATE('T','K','0','8','1')

#endif							/* TICKET_ERRCODES_H */
