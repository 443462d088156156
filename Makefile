# ticket: PGXS build.  `test/run` is the one-stop entry point (packages,
# build, install, every suite); the targets below are what it calls.

PG_CONFIG ?= pg_config

# Two extensions: ticket (one node, or one partition) and ticket_proxy (the
# same API on a PL/Proxy database in front of partitions; doc/scale-out.md).
EXTENSION = ticket ticket_proxy
EXTVERSION = $(shell grep default_version ticket.control | sed -e "s/default_version[[:space:]]*=[[:space:]]*'\([^']*\)'/\1/")

MODULE_big = ticket
OBJS = src/ticket.o src/segment.o src/segrange.o src/segrange_gist.o src/seatmap.o src/seatmap_sql.o \
	src/shmem.o src/queue_worker.o src/queue_signal.o src/queue_ring.o src/queue_enqueue.o src/journey_cache.o src/run_live.o src/seatassign.o src/seatassign_sql.o src/seatgroup.o src/seatgroup_sql.o
# 1.7: the extension's own locks, out of reach of other roles
OBJS += src/ticket_locks.o
# 1.7: risk signals counted in shared memory (issue 14)
OBJS += src/risk.o
# 1.7: hot runs and the overload breaker (issue 14)
OBJS += src/breaker.o
# 1.7: remaining() in C, and the counts of runs it keeps in shared memory
OBJS += src/remaining.o src/run_counts.o
PG_CFLAGS = -Wall -Wextra -Werror
# Server headers as system headers: -Wextra then checks our code, not theirs.
PG_CPPFLAGS = -isystem $(shell $(PG_CONFIG) --includedir-server)

# The extension's SQL: today's definitions are written once, by concern, in
# src/sql/ (read in file-name order); released scripts are frozen history in
# src/updates/.  The install script of this version and the update script
# from the last release are built: the update is the hand-written delta
# (tables, drops) plus every function of src/sql/ (CREATE OR REPLACE, with its
# comment and grants), then what must follow them (src/updates/after--*.sql:
# views that read functions of this version).  At a release, copy the built update script into
# src/updates/ and never edit it again.
PREV_VERSION = 1.6
SQL_SRC = $(sort $(wildcard src/sql/*.sql))
DATA = $(wildcard src/updates/ticket--*.sql)
DATA_built = ticket--$(EXTVERSION).sql ticket--$(PREV_VERSION)--$(EXTVERSION).sql
# ticket_proxy: written once in src/proxy/ (read in file-name order), its
# version that of the ticket API it forwards
PROXY_SQL_SRC = $(sort $(wildcard src/proxy/*.sql))
DATA_built += ticket_proxy--$(EXTVERSION).sql

REGRESS = segrange_input segrange_ops segrange_index segrange_exclusion ticket_api extension_lifecycle extension_upgrade
# 1.2: queue and waitlist
REGRESS += queue
# 1.3: journey search
REGRESS += search
# 1.4: real-name tickets
REGRESS += passengers
# 1.7: bad arguments to every API function
REGRESS += bad_arguments
# 1.7: the queue's hardening (issue 13)
REGRESS += queue_hardening
# 1.7: risk signals (issue 14)
REGRESS += risk
# 1.7: hot runs and the overload breaker (issue 14, items 4 and 5)
REGRESS += overload
# 1.7: against scalpers (issue 14: real names required, per-person and per-client limits)
REGRESS += scalpers queue_passengers
# 1.7: remaining() in C and the counts it keeps (issue 15)
REGRESS += remaining_hot
REGRESS_OPTS = --temp-instance=tmp_check --temp-config=test/temp.conf

ISOLATION = segrange_exclusion grab_last_seat grab_same_user confirm_vs_expiry cancel_vs_confirm grab_repeatable_read
# 1.2: queue and waitlist
ISOLATION += queue_fifo waitlist_vs_grab
# 1.5: waitlist requests with passengers
ISOLATION += waitlist_group_vs_grab
# 1.4: real-name tickets
ISOLATION += passenger_overlap change_vs_refund group_grab_race daily_cancel_limit
# 1.7: risk signals counted in shared memory (issue 14)
ISOLATION += risk_counts
# 1.7: hot runs and the overload breaker (issue 14, items 4 and 5)
ISOLATION += hot_run_mark breaker_auto
# 1.7: against scalpers (issue 14): per-person and per-client limits under concurrency
ISOLATION += person_client_limits
# 1.7: remaining() and the counts it keeps in shared memory (issue 15)
ISOLATION += remaining_after_commit
ISOLATION_OPTS = --temp-instance=tmp_check_iso --temp-config=test/isolation/temp.conf \
	--inputdir=test/isolation --outputdir=test/isolation/output


PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# (after the include, so that "all" stays the default goal)
ticket--$(EXTVERSION).sql: $(SQL_SRC) ticket.control
	{ printf -- '-- %s: built by make from the files of src/sql/; edit those, not this\n\n' $@; \
	  printf '\\echo Use "CREATE EXTENSION ticket CASCADE" to load this file. \\quit\n\n'; \
	  for f in $(SQL_SRC); do printf -- '-- %s\n\n' $$f; cat $$f; printf '\n'; done; } > $@

ticket--$(PREV_VERSION)--$(EXTVERSION).sql: src/updates/delta--$(PREV_VERSION)--$(EXTVERSION).sql $(SQL_SRC) src/sql/functions_of.pl \
		$(wildcard src/updates/after--$(PREV_VERSION)--$(EXTVERSION).sql)
	{ printf -- '-- %s: built by make from src/updates/delta--$(PREV_VERSION)--$(EXTVERSION).sql and src/sql/\n\n' $@; \
	  printf '\\echo Use "ALTER EXTENSION ticket UPDATE TO '"'"'$(EXTVERSION)'"'"'" to load this file. \\quit\n\n'; \
	  printf 'SET LOCAL search_path = ticket, pg_catalog;\n\n'; \
	  cat src/updates/delta--$(PREV_VERSION)--$(EXTVERSION).sql; printf '\n-- every function of src/sql/, as of this version\n\n'; \
	  perl src/sql/functions_of.pl $(SQL_SRC); \
	  for f in $(wildcard src/updates/after--$(PREV_VERSION)--$(EXTVERSION).sql); do \
	    printf '\n-- what reads those functions (%s)\n\n' $$f; cat $$f; done; } > $@

ticket_proxy--$(EXTVERSION).sql: $(PROXY_SQL_SRC) ticket_proxy.control
	{ printf -- '-- %s: built by make from the files of src/proxy/; edit those, not this\n\n' $@; \
	  printf '\\echo Use "CREATE EXTENSION ticket_proxy CASCADE" to load this file. \\quit\n\n'; \
	  for f in $(PROXY_SQL_SRC); do printf -- '-- %s\n\n' $$f; cat $$f; printf '\n'; done; } > $@

EXTRA_CLEAN = test/fuzz/fuzz_segment test/fuzz/fuzz_seatmap test/fuzz/fuzz_seatassign test/fuzz/fuzz_seatgroup test/isolation/output tmp_check tmp_check_iso

# The pure C parts without a server: unit tests and fuzzers, with sanitizers.
FUZZ_CFLAGS = -O1 -g -Wall -Wextra -Werror -fsanitize=address,undefined -fno-sanitize-recover=all -Isrc
test/fuzz/fuzz_segment: test/fuzz/fuzz_segment.c src/segment.c src/segment.h
	$(CC) $(FUZZ_CFLAGS) -o $@ test/fuzz/fuzz_segment.c src/segment.c
test/fuzz/fuzz_seatmap: test/fuzz/fuzz_seatmap.c src/seatmap.c src/seatmap.h src/segment.c src/segment.h
	$(CC) $(FUZZ_CFLAGS) -o $@ test/fuzz/fuzz_seatmap.c src/seatmap.c src/segment.c
test/fuzz/fuzz_seatassign: test/fuzz/fuzz_seatassign.c src/seatassign.c src/seatassign.h src/seatmap.c src/seatmap.h src/segment.c src/segment.h
	$(CC) $(FUZZ_CFLAGS) -o $@ test/fuzz/fuzz_seatassign.c src/seatassign.c src/seatmap.c src/segment.c
test/fuzz/fuzz_seatgroup: test/fuzz/fuzz_seatgroup.c src/seatgroup.c src/seatgroup.h src/seatmap.c src/seatmap.h src/segment.c src/segment.h
	$(CC) $(FUZZ_CFLAGS) -o $@ test/fuzz/fuzz_seatgroup.c src/seatgroup.c src/seatmap.c src/segment.c

.PHONY: fuzzcheck
fuzzcheck: test/fuzz/fuzz_segment test/fuzz/fuzz_seatmap test/fuzz/fuzz_seatassign test/fuzz/fuzz_seatgroup
	./test/fuzz/fuzz_segment 200000
	./test/fuzz/fuzz_seatmap 200000
	./test/fuzz/fuzz_seatassign 20000
	./test/fuzz/fuzz_seatgroup 200000

# The two halves of installcheck, so test/run can report them separately.
.PHONY: installcheck-regress installcheck-isolation
installcheck-regress:
	$(pg_regress_installcheck) $(REGRESS_OPTS) $(REGRESS)
installcheck-isolation:
	$(pg_isolation_regress_installcheck) $(ISOLATION_OPTS) $(ISOLATION)

# The queue's table path: the queue test and spec again on servers without
# the library preloaded (test/fallback/temp.conf), against their own expected
# output in test/fallback/expected and test/fallback/isolation/expected
# (pg_regress looks in --outputdir/expected before --inputdir/expected); and
# the bad-argument test, whose enqueue and queue_wait then take that path.
FALLBACK_REGRESS = queue queue_hardening bad_arguments queue_passengers
FALLBACK_REGRESS_OPTS = --temp-instance=tmp_check_fallback --temp-config=test/fallback/temp.conf \
	--outputdir=test/fallback --dbname=$(CONTRIB_TESTDB)
FALLBACK_ISOLATION = queue_fifo
FALLBACK_ISOLATION_OPTS = --temp-instance=tmp_check_fallback_iso --temp-config=test/fallback/temp.conf \
	--inputdir=test/isolation --outputdir=test/fallback/isolation
.PHONY: installcheck-fallback
installcheck-fallback:
	$(pg_regress_installcheck) $(FALLBACK_REGRESS_OPTS) $(FALLBACK_REGRESS)
	$(pg_isolation_regress_installcheck) $(FALLBACK_ISOLATION_OPTS) $(FALLBACK_ISOLATION)

# The benchmark: ticket against pgbench, plain PostgreSQL and Redis, side by
# side on this machine (as root; see bench/README.md).
.PHONY: bench
bench:
	bench/run

# Checks of the benchmark harness itself (as root, a few minutes): P2's early
# exit, the server CPU per call column, P1 without deadlocks.
.PHONY: bench-selftest
bench-selftest:
	bench/selftest
