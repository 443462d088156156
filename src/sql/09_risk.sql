-- Risk signals (风控, README "Risk signals"): per account, per end client
-- and per identity document, the database counts grab attempts per minute,
-- holds left to expire unpaid, cancels and refunds (in shared memory,
-- src/risk.c: no table row is written, so counting never serialises a
-- rush), and reads accounts per document from the passengers.  Thresholds
-- in ticket.setting (risk_*) turn them into a level: none, captcha or
-- blocked.  At blocked, grabs, enqueue and join_waitlist fail with TK075.
-- Off until an administrator sets risk_checks to 1.

-- the counters (C) ------------------------------------------------------------

CREATE OR REPLACE FUNCTION risk_enabled() RETURNS boolean
	AS 'MODULE_PATHNAME', 'ticket_risk_enabled' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION risk_enabled() IS 'internal: whether risk checks are on (setting risk_checks, and the library preloaded)';
REVOKE EXECUTE ON FUNCTION risk_enabled() FROM PUBLIC;

CREATE OR REPLACE FUNCTION risk_attempt(user_id bigint, client text, documents text[], shared_documents integer)
RETURNS void
	AS 'MODULE_PATHNAME', 'ticket_risk_attempt' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION risk_attempt(bigint, text, text[], integer) IS 'internal: count a grab attempt for the account, the client and each document; TK075 if their signals reach the blocking level';
REVOKE EXECUTE ON FUNCTION risk_attempt(bigint, text, text[], integer) FROM PUBLIC;

CREATE OR REPLACE FUNCTION risk_note(what text, user_id bigint, client text, documents text[]) RETURNS void
	AS 'MODULE_PATHNAME', 'ticket_risk_note' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION risk_note(text, bigint, text, text[]) IS 'internal: count an expired hold, a cancel or a refund (what) for the account, client and documents when the transaction commits';
REVOKE EXECUTE ON FUNCTION risk_note(text, bigint, text, text[]) FROM PUBLIC;

CREATE OR REPLACE FUNCTION risk_level(user_id bigint, client text, documents text[], shared_documents integer,
	OUT level text, OUT flagged_by text[], OUT grabs_per_minute integer, OUT expired_holds integer,
	OUT cancels integer, OUT refunds integer, OUT accounts_per_document integer)
	AS 'MODULE_PATHNAME', 'ticket_risk_level' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION risk_level(bigint, text, text[], integer) IS 'internal: the level and signals of an account with a client and documents (the worst of each), counting nothing';
REVOKE EXECUTE ON FUNCTION risk_level(bigint, text, text[], integer) FROM PUBLIC;

CREATE OR REPLACE FUNCTION risk_judge(grabs integer, expired integer, cancelled integer, refunded integer,
	shared_documents integer, passed_captcha boolean,
	OUT level text, OUT flagged_by text[], OUT grabs_per_minute integer, OUT expired_holds integer,
	OUT cancels integer, OUT refunds integer, OUT accounts_per_document integer)
	AS 'MODULE_PATHNAME', 'ticket_risk_judge' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION risk_judge(integer, integer, integer, integer, integer, boolean) IS 'internal: the level signals reach under the risk thresholds, and the signals at or above theirs';
REVOKE EXECUTE ON FUNCTION risk_judge(integer, integer, integer, integer, integer, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION risk_judge(integer, integer, integer, integer, integer, boolean) TO ticket_admin;

CREATE OR REPLACE FUNCTION risk_counts(OUT kind text, OUT subject text, OUT user_id bigint,
	OUT grabs_per_minute integer, OUT expired_holds integer, OUT cancels integer, OUT refunds integer,
	OUT captcha_passed boolean)
RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'ticket_risk_counts' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION risk_counts() IS 'internal: every account, client and document shared memory counts for this database, with its counts as of now';
REVOKE EXECUTE ON FUNCTION risk_counts() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION risk_counts() TO ticket_admin;

CREATE OR REPLACE FUNCTION risk_captcha_passed(user_id bigint) RETURNS void
	AS 'MODULE_PATHNAME', 'ticket_risk_captcha_passed' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION risk_captcha_passed(bigint) IS 'internal: note in shared memory that the account passed a captcha now';
REVOKE EXECUTE ON FUNCTION risk_captcha_passed(bigint) FROM PUBLIC;

CREATE OR REPLACE FUNCTION risk_settings_changed() RETURNS void
	AS 'MODULE_PATHNAME', 'ticket_risk_settings_changed' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION risk_settings_changed() IS 'internal: a risk setting changed; every session reads them again once this transaction commits';
REVOKE EXECUTE ON FUNCTION risk_settings_changed() FROM PUBLIC;

-- accounts per document (from the passengers, exact) -------------------------

CREATE INDEX passenger_by_document ON passenger (document_no, document_type) WHERE removed_at IS NULL;

-- The most accounts any one of this account's passengers is on.
CREATE OR REPLACE FUNCTION document_sharing(user_id bigint) RETURNS integer
LANGUAGE plpgsql STABLE SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	-- (PL/pgSQL keeps the plan for the session: a grab step must not plan)
	RETURN (SELECT coalesce(max(c.n), 0)::integer FROM passenger p,
		LATERAL (SELECT count(DISTINCT q.user_id) AS n FROM passenger q
		         WHERE q.document_no = p.document_no AND q.document_type = p.document_type
		           AND q.removed_at IS NULL) c
	WHERE p.user_id = document_sharing.user_id AND p.removed_at IS NULL);
END
$$;
COMMENT ON FUNCTION document_sharing(bigint) IS 'internal: the most accounts that any one of the account''s passengers (identity documents) is on';
REVOKE EXECUTE ON FUNCTION document_sharing(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION document_sharing(bigint) TO ticket_admin;

-- the steps the API calls ----------------------------------------------------

-- A grab step (both forms of grab, enqueue, join_waitlist): count the
-- attempt, refuse it with TK075 at the blocking level.  Off, one C call.
CREATE OR REPLACE FUNCTION check_risk(user_id bigint, documents text[]) RETURNS void
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	IF risk_enabled() THEN
		PERFORM risk_attempt(user_id, current_setting('ticket.client', true), documents,
			document_sharing(user_id));
	END IF;
END
$$;
COMMENT ON FUNCTION check_risk(bigint, text[]) IS 'internal: a grab step, count the attempt for the account, the end client (ticket.client) and the documents named; TK075 if blocked by risk control';
REVOKE EXECUTE ON FUNCTION check_risk(bigint, text[]) FROM PUBLIC;

-- Count expired holds (for the account and its passengers: an expiry is no
-- client's call), cancels and refunds (also for the client of the call)
-- of orders, when the transaction commits.
CREATE OR REPLACE FUNCTION note_risk(what text, order_ids bigint[]) RETURNS void
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	IF NOT risk_enabled() THEN
		RETURN;
	END IF;
	PERFORM risk_note(what, o.user_id,
		CASE WHEN what <> 'expired' THEN current_setting('ticket.client', true) END,
		(SELECT array_agg(t.document_key) FROM tickets t WHERE t.order_id = o.order_id AND t.document_key IS NOT NULL))
	FROM orders o
	WHERE o.order_id = ANY (order_ids)
	  AND (what <> 'expired' OR (o.status = 'expired' AND o.closed_at = now()));
END
$$;
COMMENT ON FUNCTION note_risk(text, bigint[]) IS 'internal: count expired holds, cancels or refunds (what: expired, cancel, refund) of orders as risk signals at commit';
REVOKE EXECUTE ON FUNCTION note_risk(text, bigint[]) FROM PUBLIC;

-- the API ---------------------------------------------------------------------

-- The level of an account for its next grab: its own signals, those of the
-- end client of this call (ticket.client) and accounts per document.
CREATE OR REPLACE FUNCTION risk(user_id bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	IF user_id IS NULL THEN
		RAISE EXCEPTION 'user id must not be null' USING ERRCODE = 'TK017';
	END IF;
	RETURN (SELECT r.level FROM risk_level(user_id, current_setting('ticket.client', true), NULL,
		document_sharing(user_id)) r);
END
$$;
COMMENT ON FUNCTION risk(bigint) IS 'risk level of an account (with the end client named by ticket.client): none, captcha (the application shows a captcha before the grab, then calls ticket.captcha_passed) or blocked (grabs, enqueue and join_waitlist fail with TK075)';
REVOKE EXECUTE ON FUNCTION risk(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION risk(bigint) TO ticket_app, ticket_admin;

-- The application's user passed a captcha: for 10 minutes the level captcha
-- reads none (blocked stays blocked).  Returns the level now.
CREATE OR REPLACE FUNCTION captcha_passed(user_id bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	IF user_id IS NULL THEN
		RAISE EXCEPTION 'user id must not be null' USING ERRCODE = 'TK017';
	END IF;
	IF risk_enabled() THEN
		PERFORM risk_captcha_passed(user_id);
	END IF;
	RETURN risk(user_id);
END
$$;
COMMENT ON FUNCTION captcha_passed(bigint) IS 'the account''s user passed a captcha: for 10 minutes its level reads none instead of captcha (blocked stays blocked); returns the level now';
REVOKE EXECUTE ON FUNCTION captcha_passed(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captcha_passed(bigint) TO ticket_app, ticket_admin;

-- Accounts, clients and documents at captcha or blocked, with the signals
-- that put them there.  Counted ones come from shared memory; accounts
-- flagged only because their passengers are on many accounts, from the
-- passengers.
CREATE VIEW risk_flagged AS
WITH counted AS (
	SELECT c.kind, c.subject, c.user_id, c.grabs_per_minute, c.expired_holds, c.cancels, c.refunds,
		c.captcha_passed,
		CASE c.kind
			WHEN 'account' THEN document_sharing(c.user_id)
			WHEN 'document' THEN (SELECT count(DISTINCT p.user_id)::integer FROM passenger p
			                      WHERE p.document_no = c.subject AND p.removed_at IS NULL)
			ELSE 0
		END AS shared_documents
	FROM risk_counts() c
), shared AS (
	SELECT p.user_id, max(d.n)::integer AS n
	FROM passenger p
	JOIN (SELECT q.document_no, q.document_type, count(DISTINCT q.user_id) AS n FROM passenger q
	      WHERE q.removed_at IS NULL GROUP BY q.document_no, q.document_type
	      HAVING count(DISTINCT q.user_id) > 1) d
	  ON d.document_no = p.document_no AND d.document_type = p.document_type
	WHERE p.removed_at IS NULL
	GROUP BY p.user_id
), everyone AS (
	SELECT * FROM counted
	UNION ALL
	SELECT 'account', s.user_id::text, s.user_id, 0, 0, 0, 0, false, s.n FROM shared s
	WHERE NOT EXISTS (SELECT 1 FROM counted c WHERE c.kind = 'account' AND c.user_id = s.user_id)
)
SELECT e.kind, e.subject, e.user_id, j.level, j.flagged_by, j.grabs_per_minute, j.expired_holds,
	j.cancels, j.refunds, j.accounts_per_document, e.captcha_passed
FROM everyone e,
	LATERAL risk_judge(e.grabs_per_minute, e.expired_holds, e.cancels, e.refunds, e.shared_documents,
		e.captcha_passed) j
WHERE j.level <> 'none';
COMMENT ON VIEW risk_flagged IS 'accounts, end clients and identity documents at risk level captcha or blocked, with the signals that flagged them (flagged_by) and their values; counts since the server started (shared memory), accounts per document from the passengers';
COMMENT ON COLUMN risk_flagged.kind IS 'account, client (the application''s ticket.client) or document (an identity document number)';
COMMENT ON COLUMN risk_flagged.subject IS 'the user id, client id or document number';
COMMENT ON COLUMN risk_flagged.flagged_by IS 'the signals at or above their captcha or blocking threshold';
COMMENT ON COLUMN risk_flagged.captcha_passed IS 'the account passed a captcha in the last 10 minutes (ticket.captcha_passed)';
GRANT SELECT ON risk_flagged TO ticket_admin;
