/*-------------------------------------------------------------------------
 *
 * journey_cache.c
 *	  Journeys enqueue has resolved, shared by every session.
 *
 * In a rush thousands of sessions name the same few hundred journeys: the
 * train code, date and two stations, by code or name.  Resolving one (train,
 * both stations, their stops, the run) is a join over five tables; kept
 * per session, a journey was resolved again by nearly every session that
 * named it.  Kept here, a journey is resolved once for all of them.
 *
 * What is kept is what the timetable says (run and stops); whatever can
 * change under it (the run's status, free seats, the queue's head) is read
 * afresh by run id on every call.  A kept journey counts while the
 * timetable does not change: triggers on station, stop, train and run count
 * every change in shared memory, at the statement and again at commit
 * (queue_signal.c), and a journey resolved before the count moved is
 * resolved again.  Changes the triggers cannot see (committed by COMMIT
 * PREPARED, or made with triggers off, as session_replication_role =
 * replica does) are seen after JOURNEY_MAX_AGE_MS at most.
 *
 * The table is open addressing over a few slots per key: a journey that
 * finds them all taken replaces the oldest.  It has ticket.journey_cache_size
 * slots.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "journey_cache.h"
#include "queue_signal.h"
#include "shmem.h"

#define JOURNEY_PROBES 8
#define JOURNEY_MAX_AGE_MS 10000

typedef struct SharedJourney
{
	uint32		hash;			/* 0: empty */
	Oid			dbid;
	JourneyKey	key;
	JourneyFound found;
	uint64		timetable_changes;	/* the count when it was resolved */
	TimestampTz resolved_at;
} SharedJourney;

typedef struct JourneyCache
{
	LWLock	   *lock;
	int			nslots;
	SharedJourney slots[FLEXIBLE_ARRAY_MEMBER];
} JourneyCache;

static JourneyCache *cache = NULL;

Size
journey_cache_shmem_size(void)
{
	return add_size(offsetof(JourneyCache, slots),
					mul_size(ticket_journey_cache_size, sizeof(SharedJourney)));
}

void
journey_cache_shmem_init(void *ptr, bool found)
{
	cache = ptr;
	if (!found)
	{
		cache->lock = ticket_shmem_lock(TICKET_LOCK_JOURNEYS);
		cache->nslots = ticket_journey_cache_size;
	}
}

bool
journey_cache_available(void)
{
	return cache != NULL;
}

/* the key of a journey, false if the names are too long to keep */
bool
journey_key(JourneyKey *key, text *train, DateADT service_date, text *from, text *to)
{
	int			n;

	memset(key, 0, sizeof(JourneyKey));
	key->service_date = service_date;
	n = snprintf(key->names, JOURNEY_KEY_LEN, "%s\x1f%s\x1f%s",
				 text_to_cstring(train), text_to_cstring(from), text_to_cstring(to));
	return n > 0 && n < JOURNEY_KEY_LEN;
}

static uint32
key_hash(const JourneyKey *key)
{
	uint32		h = hash_bytes((const unsigned char *) key, sizeof(JourneyKey)) ^ MyDatabaseId;

	return h == 0 ? 1 : h;
}

static bool
same_journey(const SharedJourney *j, uint32 hash, const JourneyKey *key)
{
	return j->hash == hash && j->dbid == MyDatabaseId && memcmp(&j->key, key, sizeof(JourneyKey)) == 0;
}

/* a journey resolved since the timetable last changed, and recently */
bool
journey_cache_find(const JourneyKey *key, JourneyFound *found)
{
	uint32		hash = key_hash(key);
	uint64		changes = queue_signal_timetable_changes();
	TimestampTz now = GetCurrentTimestamp();
	bool		hit = false;

	if (cache == NULL)
		return false;
	LWLockAcquire(cache->lock, LW_SHARED);
	for (int p = 0; p < JOURNEY_PROBES; p++)
	{
		SharedJourney *j = &cache->slots[(hash + p) % cache->nslots];

		if (same_journey(j, hash, key))
		{
			hit = j->timetable_changes == changes
				&& !TimestampDifferenceExceeds(j->resolved_at, now, JOURNEY_MAX_AGE_MS);
			if (hit)
				*found = j->found;
			break;
		}
	}
	LWLockRelease(cache->lock);
	return hit;
}

/*
 * Keep a journey resolved with a snapshot taken after the timetable count
 * was read (timetable_changes): a change committed after that moves the
 * count past it.
 */
void
journey_cache_keep(const JourneyKey *key, uint64 timetable_changes, const JourneyFound *found)
{
	uint32		hash = key_hash(key);
	SharedJourney *target = NULL;

	if (cache == NULL)
		return;
	LWLockAcquire(cache->lock, LW_EXCLUSIVE);
	for (int p = 0; p < JOURNEY_PROBES; p++)
	{
		SharedJourney *j = &cache->slots[(hash + p) % cache->nslots];

		if (same_journey(j, hash, key) || j->hash == 0)
		{
			target = j;
			break;
		}
		if (target == NULL || j->resolved_at < target->resolved_at)
			target = j;
	}
	/* a slower session that resolved it before the last change does not replace a newer one */
	if (!(same_journey(target, hash, key) && target->timetable_changes > timetable_changes))
	{
		target->hash = hash;
		target->dbid = MyDatabaseId;
		target->key = *key;
		target->found = *found;
		target->timetable_changes = timetable_changes;
		target->resolved_at = GetCurrentTimestamp();
	}
	LWLockRelease(cache->lock);
}
