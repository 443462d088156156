/*-------------------------------------------------------------------------
 *
 * risk.c
 *	  Risk signals (风控): what accounts, end clients and identity documents
 *	  do, counted in shared memory, and the level they reach.
 *
 * Every grab (both forms), enqueue and join_waitlist counts one attempt for
 * its account, for its end client (the application names it with
 * set_config('ticket.client', ...); a call without one is not aggregated)
 * and for each identity document it names; a hold left to expire unpaid,
 * a cancel and a refund count for the order's account and its passengers'
 * documents (cancels and refunds also for the client of the call that made
 * them; an expiry is nobody's call).  Attempts are counted per minute, the
 * rest per Beijing day.  Thresholds an administrator sets in ticket.setting
 * turn the counts into a level: none, captcha or blocked.
 *
 * Counting must not serialise a rush, so nothing here writes a table.  The
 * counts live in a fixed-size hash (ticket.risk_entries slots) split into
 * RISK_PARTITIONS partitions, each under its own LWLock: two calls wait for
 * each other only when their keys fall into one partition, and then for a
 * few instructions.  A key that finds its probe window full replaces the
 * entry seen least recently in it (its counts are lost: what is forgotten
 * first is what has been quiet longest).  A restart forgets every count.
 *
 * Attempts count at once (a refused attempt is still an attempt); expiries,
 * cancels and refunds count when their transaction commits (a grab that
 * expired holds and then failed undid the expiry, and so the count).
 *
 * Not preloaded, there is no shared memory: nothing is counted, and every
 * level is none.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "risk.h"
#include "shmem.h"
#include "ticket_errcodes.h"

/* slots probed for a key: it lives in one of them */
#define RISK_PROBES 16
/* what a label keeps of a client id or document number */
#define RISK_LABEL_LEN 64
/* how long a passed captcha lowers the level captcha to none */
#define RISK_CAPTCHA_PASS_SECS (10 * 60)
/* the thresholds are read again at least this often */
#define RISK_SETTINGS_MAX_AGE_MS 1000

int			ticket_risk_entries = 16384;

typedef enum RiskKind
{
	RISK_ACCOUNT = 1,
	RISK_CLIENT = 2,
	RISK_DOCUMENT = 3
} RiskKind;

static const char *const kind_names[] = {NULL, "account", "client", "document"};

/* the counters of an entry, in the order of the signals */
typedef enum RiskCounter
{
	RISK_EXPIRED,
	RISK_CANCELS,
	RISK_REFUNDS,
	RISK_NUM_DAY_COUNTERS
} RiskCounter;

typedef struct RiskEntry
{
	uint64		hash;			/* 0: empty */
	Oid			dbid;
	uint8		kind;
	int64		user_id;		/* accounts */
	char		label[RISK_LABEL_LEN];	/* clients and documents */
	int64		minute;			/* the minute of attempts_now */
	int32		attempts_now;
	int32		attempts_prev;	/* in the minute before */
	int32		day;			/* the Beijing day of the day counters */
	int32		counts[RISK_NUM_DAY_COUNTERS];
	TimestampTz captcha_passed_at;	/* accounts */
	TimestampTz last_seen;
} RiskEntry;

typedef struct RiskShared
{
	pg_atomic_uint64 settings_generation;
	int			slots_per_partition;
	RiskEntry	entries[FLEXIBLE_ARRAY_MEMBER];
} RiskShared;

static RiskShared *risk = NULL;

/* the thresholds, as this backend last read them */
typedef enum RiskSignal
{
	SIG_GRABS,
	SIG_EXPIRED,
	SIG_CANCELS,
	SIG_REFUNDS,
	SIG_SHARED,
	RISK_NUM_SIGNALS
} RiskSignal;

static const char *const signal_names[RISK_NUM_SIGNALS] = {
	"grabs_per_minute", "expired_holds", "cancels", "refunds", "accounts_per_document"
};

typedef struct RiskSettings
{
	bool		loaded;
	uint64		generation;
	TimestampTz loaded_at;
	bool		on;
	int64		captcha[RISK_NUM_SIGNALS];
	int64		block[RISK_NUM_SIGNALS];
} RiskSettings;

static RiskSettings settings;

/* what this transaction will count when it commits */
typedef struct PendingNote
{
	SubTransactionId subid;
	uint8		kind;
	int64		user_id;
	char		label[RISK_LABEL_LEN];
	RiskCounter counter;
} PendingNote;

static PendingNote *pending = NULL;
static int	npending = 0;
static int	maxpending = 0;
static bool settings_changed = false;
static bool callbacks_registered = false;

/* shared memory --------------------------------------------------------- */

Size
risk_shmem_size(void)
{
	return add_size(offsetof(RiskShared, entries),
					mul_size(risk_slots(), sizeof(RiskEntry)));
}

int
risk_slots(void)
{
	/* a whole number of slots per partition, at least the probe window */
	int			per = Max(ticket_risk_entries / RISK_PARTITIONS, RISK_PROBES);

	return per * RISK_PARTITIONS;
}

void
risk_shmem_init(void *ptr, bool found)
{
	risk = ptr;
	if (!found)
	{
		pg_atomic_init_u64(&risk->settings_generation, 1);
		risk->slots_per_partition = risk_slots() / RISK_PARTITIONS;
	}
}

static LWLock *
partition_lock(int partition)
{
	return ticket_shmem_lock(TICKET_LOCK_RISK_FIRST + partition);
}

/* keys ------------------------------------------------------------------ */

typedef struct RiskKey
{
	uint8		kind;
	int64		user_id;
	char		label[RISK_LABEL_LEN];
	uint64		hash;
} RiskKey;

static void
make_key(RiskKey *key, RiskKind kind, int64 user_id, const char *label)
{
	memset(key, 0, sizeof(RiskKey));
	key->kind = kind;
	key->user_id = user_id;
	if (label)
		strlcpy(key->label, label, RISK_LABEL_LEN);
	key->hash = hash_bytes_extended((const unsigned char *) key, offsetof(RiskKey, hash), MyDatabaseId);
	if (key->hash == 0)
		key->hash = 1;
}

/*
 * A document as counted: the number alone, upper case, without blanks;
 * a document key ("id_card:110...") loses its type.
 */
static void
document_label(char *out, const char *document)
{
	const char *colon = strrchr(document, ':');
	int			n = 0;

	if (colon)
		document = colon + 1;
	for (const char *c = document; *c && n < RISK_LABEL_LEN - 1; c++)
	{
		if (*c == ' ' || *c == '\t' || *c == '\n' || *c == '\r')
			continue;
		out[n++] = pg_toupper((unsigned char) *c);
	}
	out[n] = '\0';
}

static bool
same_key(const RiskEntry *e, const RiskKey *key)
{
	return e->hash == key->hash && e->dbid == MyDatabaseId && e->kind == key->kind
		&& e->user_id == key->user_id && strcmp(e->label, key->label) == 0;
}

static int64
minute_of(TimestampTz now)
{
	return now / (USECS_PER_SEC * 60);
}

/* days of Beijing time (UTC+8, no daylight saving) */
static int32
day_of(TimestampTz now)
{
	return (int32) ((now + 8 * USECS_PER_HOUR) / USECS_PER_DAY);
}

/* an entry's windows moved to now: old minutes and days count nothing */
static void
roll(RiskEntry *e, TimestampTz now)
{
	int64		minute = minute_of(now);
	int32		day = day_of(now);

	if (e->minute != minute)
	{
		e->attempts_prev = (e->minute == minute - 1) ? e->attempts_now : 0;
		e->attempts_now = 0;
		e->minute = minute;
	}
	if (e->day != day)
	{
		memset(e->counts, 0, sizeof(e->counts));
		e->day = day;
	}
}

/*
 * The entry of a key, with its partition's lock held exclusively; created
 * (replacing the least recently seen of its window when full) if missing.
 */
static RiskEntry *
entry_for_update(const RiskKey *key, TimestampTz now)
{
	int			partition = key->hash % RISK_PARTITIONS;
	int			per = risk->slots_per_partition;
	RiskEntry  *base = &risk->entries[partition * per];
	RiskEntry  *target = NULL;

	LWLockAcquire(partition_lock(partition), LW_EXCLUSIVE);
	for (int p = 0; p < RISK_PROBES; p++)
	{
		RiskEntry  *e = &base[(key->hash / RISK_PARTITIONS + p) % per];

		if (same_key(e, key) || e->hash == 0)
		{
			/* slots are never emptied: a key is never past an empty one */
			target = e;
			break;
		}
		if (target == NULL || e->last_seen < target->last_seen)
			target = e;
	}
	if (!same_key(target, key))
	{
		memset(target, 0, sizeof(RiskEntry));
		target->hash = key->hash;
		target->dbid = MyDatabaseId;
		target->kind = key->kind;
		target->user_id = key->user_id;
		strlcpy(target->label, key->label, RISK_LABEL_LEN);
	}
	roll(target, now);
	target->last_seen = now;
	return target;
}

static void
release_entry(const RiskKey *key)
{
	LWLockRelease(partition_lock(key->hash % RISK_PARTITIONS));
}

/* a copy of an entry's counts as of now; false (all zeros) if none */
static bool
read_entry(const RiskKey *key, TimestampTz now, RiskEntry *copy)
{
	int			partition = key->hash % RISK_PARTITIONS;
	int			per = risk->slots_per_partition;
	RiskEntry  *base = &risk->entries[partition * per];
	bool		found = false;

	memset(copy, 0, sizeof(RiskEntry));
	LWLockAcquire(partition_lock(partition), LW_SHARED);
	for (int p = 0; p < RISK_PROBES; p++)
	{
		RiskEntry  *e = &base[(key->hash / RISK_PARTITIONS + p) % per];

		if (same_key(e, key))
		{
			*copy = *e;
			found = true;
			break;
		}
		if (e->hash == 0)
			break;
	}
	LWLockRelease(partition_lock(partition));
	if (found)
		roll(copy, now);
	return found;
}

/* the per-minute rate: this minute's attempts, or the last minute's if more */
static int64
grabs_per_minute(const RiskEntry *e)
{
	return Max(e->attempts_now, e->attempts_prev);
}

/* settings -------------------------------------------------------------- */

static const char *const setting_names[1 + 2 * RISK_NUM_SIGNALS] = {
	"risk_checks",
	"risk_captcha_grabs_per_minute", "risk_captcha_expired_holds", "risk_captcha_cancels",
	"risk_captcha_refunds", "risk_captcha_accounts_per_document",
	"risk_block_grabs_per_minute", "risk_block_expired_holds", "risk_block_cancels",
	"risk_block_refunds", "risk_block_accounts_per_document"
};

/*
 * The thresholds, read from ticket.setting() when an administrator changed
 * one (set_setting bumps a shared count when it commits) or a second after
 * the last read (a change that bypassed set_setting).
 */
static void
load_settings(void)
{
	uint64		generation;
	TimestampTz now = GetCurrentTimestamp();
	StringInfoData sql;

	if (risk == NULL)
	{
		settings.on = false;
		return;
	}
	generation = pg_atomic_read_u64(&risk->settings_generation);
	if (settings.loaded && settings.generation == generation
		&& !TimestampDifferenceExceeds(settings.loaded_at, now, RISK_SETTINGS_MAX_AGE_MS))
		return;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int i = 0; i < (int) lengthof(setting_names); i++)
		appendStringInfo(&sql, "%sticket.setting('%s')::bigint", i ? ", " : "", setting_names[i]);
	SPI_connect();
	if (SPI_execute(sql.data, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the risk settings");
	for (int i = 0; i < (int) lengthof(setting_names); i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &isnull);
		int64		v = isnull ? 0 : DatumGetInt64(d);

		if (i == 0)
			settings.on = v != 0;
		else if (i <= RISK_NUM_SIGNALS)
			settings.captcha[i - 1] = v;
		else
			settings.block[i - 1 - RISK_NUM_SIGNALS] = v;
	}
	SPI_finish();
	pfree(sql.data);
	settings.loaded = true;
	settings.generation = generation;
	settings.loaded_at = now;
}

/* transaction ends ------------------------------------------------------ */

static void apply_note(const PendingNote *note, TimestampTz now);

static void
risk_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			if (risk != NULL)
			{
				TimestampTz now = GetCurrentTimestamp();

				for (int i = 0; i < npending; i++)
					apply_note(&pending[i], now);
				if (settings_changed)
					pg_atomic_fetch_add_u64(&risk->settings_generation, 1);
			}
			/* fall through */
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			/* (a prepared transaction's notes are not counted) */
			if (settings_changed)
				settings.loaded = false;
			npending = 0;
			settings_changed = false;
			break;
		default:
			break;
	}
}

static void
risk_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg pg_attribute_unused())
{
	int			kept = 0;

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		/* what the aborted one and its children noted */
		for (int i = 0; i < npending; i++)
			if (pending[i].subid < mySubid)
				pending[kept++] = pending[i];
		npending = kept;
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (int i = 0; i < npending; i++)
			if (pending[i].subid == mySubid)
				pending[i].subid = parentSubid;
	}
}

static void
register_callbacks(void)
{
	if (!callbacks_registered)
	{
		RegisterXactCallback(risk_xact_callback, NULL);
		RegisterSubXactCallback(risk_subxact_callback, NULL);
		callbacks_registered = true;
	}
}

/* counting -------------------------------------------------------------- */

static void
count_attempt(RiskKind kind, int64 user_id, const char *label, TimestampTz now)
{
	RiskKey		key;
	RiskEntry  *e;

	make_key(&key, kind, user_id, label);
	e = entry_for_update(&key, now);
	if (e->attempts_now < PG_INT32_MAX)
		e->attempts_now++;
	release_entry(&key);
}

static void
apply_note(const PendingNote *note, TimestampTz now)
{
	RiskKey		key;
	RiskEntry  *e;

	make_key(&key, note->kind, note->user_id, note->label);
	e = entry_for_update(&key, now);
	if (e->counts[note->counter] < PG_INT32_MAX)
		e->counts[note->counter]++;
	release_entry(&key);
}

static void
add_note(RiskKind kind, int64 user_id, const char *label, RiskCounter counter)
{
	PendingNote *note;

	if (npending == maxpending)
	{
		int			n = Max(16, maxpending * 2);

		pending = pending == NULL
			? MemoryContextAlloc(TopMemoryContext, n * sizeof(PendingNote))
			: repalloc(pending, n * sizeof(PendingNote));
		maxpending = n;
	}
	note = &pending[npending++];
	memset(note, 0, sizeof(PendingNote));
	note->subid = GetCurrentSubTransactionId();
	note->kind = kind;
	note->user_id = user_id;
	if (label)
		strlcpy(note->label, label, RISK_LABEL_LEN);
	note->counter = counter;
}

/* the client id of a call, NULL when it names none */
static char *
client_of(FunctionCallInfo fcinfo, int argno)
{
	char	   *client;

	if (PG_ARGISNULL(argno))
		return NULL;
	client = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (client[0] == '\0')
		return NULL;
	return client;
}

/* the documents of a call, as labels (NULL elements skipped) */
static int
documents_of(FunctionCallInfo fcinfo, int argno, char ***labels)
{
	ArrayType  *array;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			count = 0;

	*labels = NULL;
	if (PG_ARGISNULL(argno))
		return 0;
	array = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(array) == 0)
		return 0;
	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	/* at most a handful: the API takes 1 to 5 passengers */
	n = Min(n, 16);
	*labels = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			continue;
		(*labels)[count] = palloc(RISK_LABEL_LEN);
		document_label((*labels)[count], TextDatumGetCString(elems[i]));
		if ((*labels)[count][0] != '\0')
			count++;
	}
	return count;
}

/* levels ---------------------------------------------------------------- */

typedef struct RiskSignals
{
	int64		value[RISK_NUM_SIGNALS];
	uint8		source[RISK_NUM_SIGNALS];	/* the kind whose count it is */
	bool		captcha_passed;
} RiskSignals;

/* a count for a signal: kept if the worst so far */
static void
worst_of(RiskSignals *sig, RiskSignal s, int64 value, uint8 kind)
{
	if (value > sig->value[s])
	{
		sig->value[s] = value;
		sig->source[s] = kind;
	}
}

/* the signals of an account, its client and documents: the worst of each */
static void
gather(RiskSignals *sig, int64 user_id, const char *client, char **documents, int ndocuments,
	   int64 shared, TimestampTz now)
{
	RiskEntry	e;
	RiskKey		key;

	memset(sig, 0, sizeof(RiskSignals));
	sig->value[SIG_SHARED] = shared;
	sig->source[SIG_SHARED] = RISK_ACCOUNT;
	for (int i = -2; i < ndocuments; i++)
	{
		if (i == -2)
			make_key(&key, RISK_ACCOUNT, user_id, NULL);
		else if (i == -1)
		{
			if (client == NULL)
				continue;
			make_key(&key, RISK_CLIENT, 0, client);
		}
		else
			make_key(&key, RISK_DOCUMENT, 0, documents[i]);
		if (!read_entry(&key, now, &e))
			continue;
		if (i == -2)
			sig->captcha_passed = e.captcha_passed_at != 0
				&& !TimestampDifferenceExceeds(e.captcha_passed_at, now, RISK_CAPTCHA_PASS_SECS * 1000);
		worst_of(sig, SIG_GRABS, grabs_per_minute(&e), e.kind);
		worst_of(sig, SIG_EXPIRED, e.counts[RISK_EXPIRED], e.kind);
		worst_of(sig, SIG_CANCELS, e.counts[RISK_CANCELS], e.kind);
		worst_of(sig, SIG_REFUNDS, e.counts[RISK_REFUNDS], e.kind);
	}
}

typedef enum RiskLevel
{
	LEVEL_NONE,
	LEVEL_CAPTCHA,
	LEVEL_BLOCKED
} RiskLevel;

static const char *const level_names[] = {"none", "captcha", "blocked"};

/* the level signals reach, and the first signal that put it there */
static RiskLevel
judge(const RiskSignals *sig, int *worst)
{
	RiskLevel	level = LEVEL_NONE;

	*worst = -1;
	if (!settings.on)
		return LEVEL_NONE;
	for (int s = 0; s < RISK_NUM_SIGNALS; s++)
	{
		if (sig->value[s] >= settings.block[s])
		{
			*worst = s;
			return LEVEL_BLOCKED;
		}
		if (level == LEVEL_NONE && sig->value[s] >= settings.captcha[s] && !sig->captcha_passed)
		{
			level = LEVEL_CAPTCHA;
			*worst = s;
		}
	}
	return level;
}

/* the SQL functions ----------------------------------------------------- */

PG_FUNCTION_INFO_V1(ticket_risk_enabled);
PG_FUNCTION_INFO_V1(ticket_risk_attempt);
PG_FUNCTION_INFO_V1(ticket_risk_note);
PG_FUNCTION_INFO_V1(ticket_risk_level);
PG_FUNCTION_INFO_V1(ticket_risk_judge);
PG_FUNCTION_INFO_V1(ticket_risk_captcha_passed);
PG_FUNCTION_INFO_V1(ticket_risk_counts);
PG_FUNCTION_INFO_V1(ticket_risk_settings_changed);

/* whether risk checks are on (and can be: the library is preloaded) */
bool
risk_checks_on(void)
{
	load_settings();
	return settings.on;
}

Datum
ticket_risk_enabled(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(risk_checks_on());
}

/*
 * risk_attempt(user_id, client, documents, accounts_per_document): count
 * an attempt for the account, the client and each document, then refuse it
 * with TK075 if their signals reach the blocking level.
 */
Datum
ticket_risk_attempt(PG_FUNCTION_ARGS)
{
	int64		user_id;
	char	   *client;
	char	  **documents;
	int			ndocuments;
	TimestampTz now = GetCurrentTimestamp();
	RiskSignals sig;
	int			worst;

	load_settings();
	if (!settings.on || PG_ARGISNULL(0))
		PG_RETURN_VOID();
	user_id = PG_GETARG_INT64(0);
	client = client_of(fcinfo, 1);
	ndocuments = documents_of(fcinfo, 2, &documents);

	count_attempt(RISK_ACCOUNT, user_id, NULL, now);
	if (client)
		count_attempt(RISK_CLIENT, 0, client, now);
	for (int i = 0; i < ndocuments; i++)
		count_attempt(RISK_DOCUMENT, 0, documents[i], now);

	gather(&sig, user_id, client, documents, ndocuments, PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3), now);
	if (judge(&sig, &worst) == LEVEL_BLOCKED)
		ereport(ERROR,
				(errcode(ERRCODE_TICKET_RISK_BLOCKED),
				 errmsg("user %lld is blocked by risk control", (long long) user_id),
				 errdetail("Signal %s of the %s is %lld, at or above the blocking threshold %lld (setting risk_block_%s).",
						   signal_names[worst], kind_names[sig.source[worst]], (long long) sig.value[worst],
						   (long long) settings.block[worst], signal_names[worst]),
				 errhint("Per-minute signals fall when the calls stop; daily ones at midnight, Beijing time. "
						 "An administrator sees why in ticket.risk_flagged.")));
	PG_RETURN_VOID();
}

/*
 * risk_note(what, user_id, client, documents): count an expired hold, a
 * cancel or a refund when this transaction commits.
 */
Datum
ticket_risk_note(PG_FUNCTION_ARGS)
{
	char	   *what;
	RiskCounter counter;
	char	   *client;
	char	  **documents;
	int			ndocuments;

	load_settings();
	if (!settings.on || PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_VOID();
	what = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (strcmp(what, "expired") == 0)
		counter = RISK_EXPIRED;
	else if (strcmp(what, "cancel") == 0)
		counter = RISK_CANCELS;
	else if (strcmp(what, "refund") == 0)
		counter = RISK_REFUNDS;
	else
		elog(ERROR, "unknown risk event \"%s\"", what);
	client = client_of(fcinfo, 2);
	ndocuments = documents_of(fcinfo, 3, &documents);

	register_callbacks();
	add_note(RISK_ACCOUNT, PG_GETARG_INT64(1), NULL, counter);
	if (client)
		add_note(RISK_CLIENT, 0, client, counter);
	for (int i = 0; i < ndocuments; i++)
		add_note(RISK_DOCUMENT, 0, documents[i], counter);
	PG_RETURN_VOID();
}

static Datum
level_tuple(FunctionCallInfo fcinfo, const RiskSignals *sig)
{
	TupleDesc	tupdesc;
	Datum		values[2 + RISK_NUM_SIGNALS];
	bool		nulls[2 + RISK_NUM_SIGNALS] = {0};
	Datum		flagged[RISK_NUM_SIGNALS];
	int			nflagged = 0;
	int			worst;
	RiskLevel	level = judge(sig, &worst);

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	for (int s = 0; s < RISK_NUM_SIGNALS && settings.on; s++)
		if (sig->value[s] >= settings.block[s]
			|| (sig->value[s] >= settings.captcha[s] && !sig->captcha_passed))
			flagged[nflagged++] = CStringGetTextDatum(signal_names[s]);
	values[0] = CStringGetTextDatum(level_names[level]);
	values[1] = PointerGetDatum(construct_array(flagged, nflagged, TEXTOID, -1, false, TYPALIGN_INT));
	for (int s = 0; s < RISK_NUM_SIGNALS; s++)
		values[2 + s] = Int32GetDatum((int32) Min(sig->value[s], PG_INT32_MAX));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/*
 * risk_level(user_id, client, documents, accounts_per_document): the level
 * and signals of an account with a client and documents, counting nothing.
 */
Datum
ticket_risk_level(PG_FUNCTION_ARGS)
{
	RiskSignals sig;
	char	  **documents;
	int			ndocuments;

	load_settings();
	memset(&sig, 0, sizeof(sig));
	if (risk != NULL && !PG_ARGISNULL(0))
	{
		ndocuments = documents_of(fcinfo, 2, &documents);
		gather(&sig, PG_GETARG_INT64(0), client_of(fcinfo, 1), documents, ndocuments,
			   PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3), GetCurrentTimestamp());
	}
	else
		sig.value[SIG_SHARED] = PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3);
	return level_tuple(fcinfo, &sig);
}

/* risk_judge(grabs, expired, cancels, refunds, shared): the level of signals */
Datum
ticket_risk_judge(PG_FUNCTION_ARGS)
{
	RiskSignals sig;

	load_settings();
	memset(&sig, 0, sizeof(sig));
	for (int s = 0; s < RISK_NUM_SIGNALS; s++)
		sig.value[s] = PG_ARGISNULL(s) ? 0 : PG_GETARG_INT32(s);
	sig.captcha_passed = !PG_ARGISNULL(RISK_NUM_SIGNALS) && PG_GETARG_BOOL(RISK_NUM_SIGNALS);
	return level_tuple(fcinfo, &sig);
}

/* the application's user passed a captcha: captcha reads none for a while */
Datum
ticket_risk_captcha_passed(PG_FUNCTION_ARGS)
{
	RiskKey		key;
	RiskEntry  *e;
	TimestampTz now = GetCurrentTimestamp();

	if (risk == NULL || PG_ARGISNULL(0))
		PG_RETURN_VOID();
	make_key(&key, RISK_ACCOUNT, PG_GETARG_INT64(0), NULL);
	e = entry_for_update(&key, now);
	e->captcha_passed_at = now;
	release_entry(&key);
	PG_RETURN_VOID();
}

/* every entry of this database, one partition at a time */
Datum
ticket_risk_counts(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz now = GetCurrentTimestamp();
	int			per;
	RiskEntry  *copy;

	InitMaterializedSRF(fcinfo, 0);
	if (risk == NULL)
		return (Datum) 0;
	per = risk->slots_per_partition;
	copy = palloc(sizeof(RiskEntry) * per);
	for (int partition = 0; partition < RISK_PARTITIONS; partition++)
	{
		int			n = 0;

		LWLockAcquire(partition_lock(partition), LW_SHARED);
		for (int i = 0; i < per; i++)
		{
			RiskEntry  *e = &risk->entries[partition * per + i];

			if (e->hash != 0 && e->dbid == MyDatabaseId)
				copy[n++] = *e;
		}
		LWLockRelease(partition_lock(partition));
		for (int i = 0; i < n; i++)
		{
			RiskEntry  *e = &copy[i];
			Datum		values[8];
			bool		nulls[8] = {0};

			roll(e, now);
			values[0] = CStringGetTextDatum(kind_names[e->kind]);
			values[1] = CStringGetTextDatum(e->kind == RISK_ACCOUNT ? psprintf("%lld", (long long) e->user_id) : e->label);
			nulls[2] = e->kind != RISK_ACCOUNT;
			values[2] = Int64GetDatum(e->user_id);
			values[3] = Int32GetDatum((int32) grabs_per_minute(e));
			values[4] = Int32GetDatum(e->counts[RISK_EXPIRED]);
			values[5] = Int32GetDatum(e->counts[RISK_CANCELS]);
			values[6] = Int32GetDatum(e->counts[RISK_REFUNDS]);
			values[7] = BoolGetDatum(e->captcha_passed_at != 0
									 && !TimestampDifferenceExceeds(e->captcha_passed_at, now,
																	RISK_CAPTCHA_PASS_SECS * 1000));
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}

/* set_setting changed a risk setting: every backend reads them anew at commit */
Datum
ticket_risk_settings_changed(PG_FUNCTION_ARGS)
{
	register_callbacks();
	settings_changed = true;
	/* this backend at once */
	settings.loaded = false;
	PG_RETURN_VOID();
}
