/*-------------------------------------------------------------------------
 *
 * journey_cache.h
 *	  Journeys enqueue has resolved (train, date and stations to a run and
 *	  its stops), kept in shared memory for every session while the
 *	  timetable does not change.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TICKET_JOURNEY_CACHE_H
#define TICKET_JOURNEY_CACHE_H

#include "utils/date.h"

#define JOURNEY_KEY_LEN 192

typedef struct JourneyKey
{
	DateADT		service_date;
	char		names[JOURNEY_KEY_LEN]; /* train, from and to, as given */
} JourneyKey;

typedef struct JourneyFound
{
	int64		run_id;
	int32		from_stop;
	int32		to_stop;
} JourneyFound;

extern bool journey_cache_available(void);
extern bool journey_key(JourneyKey *key, text *train, DateADT service_date, text *from, text *to);
extern bool journey_cache_find(const JourneyKey *key, JourneyFound *found);
extern void journey_cache_keep(const JourneyKey *key, uint64 timetable_changes, const JourneyFound *found);

#endif							/* TICKET_JOURNEY_CACHE_H */
