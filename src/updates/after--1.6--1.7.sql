-- The update's objects that read the functions of this version, created
-- after them by the build (ticket--1.6--1.7.sql = delta, every function of
-- src/sql/, then this file).  Written as in src/sql/.

-- Risk signals (src/sql/09_risk.sql): the administrator's view.
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
