-- The benchmark's answer in SQL (DuckDB): every enrollment and exit, with its
-- reason, of the three workflows of ../shared/bench/gen.py's program, as a
-- data team would compute it by hand. bench/versus_duckdb.py runs it beside
-- `goal run` and checks that both give the same rows.
--
-- It is written for that one program, from what the spec says the engine
-- does (docs/spec.md section 5, docs/execution.md):
--   * a tick workflow acts at multiples of 5 minutes; an event counts at
--     the first tick at or after it (events at an instant come before the
--     workflows act at it);
--   * a goal is achieved at the first instant it holds, goals in order
--     (a goal step first, then the `goals` block); `since enrollment`
--     counts events at or after the enrollment instant;
--   * `evaluate on event` acts at the event's own instant;
--   * waits and windows in days are calendar days in the workflow's zone.
-- Parameters (replaced by the driver): {events}, {contacts}, {start}, {until}
-- (epoch seconds).

SET TimeZone = 'America/New_York';  -- Nurture's zone: its days are New York days

CREATE TEMP TABLE raw AS
SELECT row_number() OVER () AS seq, *
FROM read_json('{events}', format = 'newline_delimited', records = true,
               columns = {id: 'VARCHAR', time: 'VARCHAR', contact: 'VARCHAR', type: 'VARCHAR', url: 'VARCHAR',
                          email: 'VARCHAR', status: 'VARCHAR', action: 'VARCHAR', channel: 'VARCHAR',
                          tag: 'VARCHAR', fields: 'JSON'});

-- The first row with an id wins; the run's window is [start, until].
CREATE TEMP TABLE ev AS
SELECT seq, epoch(time::TIMESTAMPTZ)::BIGINT AS t, contact, type, url, email, status, action, channel, tag,
       TRY_CAST(json_extract(fields, '$.lead_score') AS DOUBLE) AS score,
       json_exists(fields, '$.lead_score') AS sets_score
FROM raw
QUALIFY id IS NULL OR row_number() OVER (PARTITION BY id ORDER BY seq) = 1;
DELETE FROM ev WHERE t > {until};

CREATE TEMP TABLE people AS
SELECT id AS contact, list_contains(tags, 'lead') AS lead, lead_score::DOUBLE AS score
FROM read_json('{contacts}', format = 'newline_delimited', records = true,
               columns = {id: 'VARCHAR', tags: 'VARCHAR[]', lead_score: 'DOUBLE'});

CREATE MACRO tick(t) AS ((t + 299) // 300) * 300;
CREATE MACRO ny_days(t, n) AS epoch(to_timestamp(t) + to_days(n))::BIGINT;  -- calendar days in New York

-- ---------------------------------------------------------------- Nurture
-- audience "lead" in contact.tags: at the first tick for lead contacts, else
-- at the tick after the tag is added; then three goals and a goal step.
CREATE TEMP TABLE n_enrolled AS
SELECT contact, {start}::BIGINT AS e FROM people WHERE lead
UNION ALL
SELECT ev.contact, min(tick(ev.t)) FROM ev JOIN people USING (contact)
WHERE ev.type = 'tag.added' AND ev.tag = 'lead' AND NOT people.lead
GROUP BY ev.contact;

CREATE TEMP TABLE pricing AS
SELECT contact, t FROM ev WHERE type = 'page.visited' AND starts_with(lower(url), '/pricing');
CREATE TEMP TABLE opens AS SELECT contact, t FROM ev WHERE type = 'email.opened';
-- contact.lead_score at each instant: the latest update (file order within a second), else the record's
CREATE TEMP TABLE scores AS
SELECT contact, t, score, seq FROM ev WHERE type = 'contact.updated' AND sets_score;

-- Each goal's first instant (a tick at or after the enrollment), one goal at a time:
-- a goal can start to hold only at the tick of one of its own events (or at the enrollment).
CREATE TEMP TABLE n_first AS
WITH
cand_p AS (SELECT DISTINCT n.contact, n.e, greatest(n.e, tick(p.t)) AS at
           FROM n_enrolled n JOIN pricing p USING (contact)),
first_p AS (SELECT c.contact, min(c.at) AS at FROM cand_p c
            WHERE (SELECT count(*) FROM pricing p WHERE p.contact = c.contact
                   AND p.t BETWEEN ny_days(c.at, -7) AND c.at) >= 3
            GROUP BY c.contact),
cand_e AS (SELECT DISTINCT n.contact, n.e, greatest(n.e, tick(x.t)) AS at
           FROM n_enrolled n JOIN (SELECT contact, t FROM opens UNION ALL SELECT contact, t FROM scores) x
           USING (contact)),
scored AS (SELECT c.*, coalesce((SELECT s.score FROM scores s WHERE s.contact = c.contact AND s.t <= c.at
                                 ORDER BY s.t DESC, s.seq DESC LIMIT 1),
                                (SELECT score FROM people WHERE people.contact = c.contact)) AS score
           FROM cand_e c),
first_e AS (SELECT c.contact, min(c.at) AS at FROM scored c
            WHERE c.score >= 50
              AND (SELECT count(*) FROM opens o WHERE o.contact = c.contact
                   AND o.t BETWEEN ny_days(c.at, -14) AND c.at) >= 2
            GROUP BY c.contact),
first_u AS (SELECT n.contact, tick(min(x.t)) AS at FROM n_enrolled n JOIN ev x USING (contact)
            WHERE x.type = 'email.unsubscribed' AND x.t >= n.e GROUP BY n.contact),
first_d AS (SELECT n.contact, tick(min(x.t)) AS at FROM n_enrolled n JOIN ev x USING (contact)
            WHERE x.type = 'appointment.status_changed' AND x.status IN ('new', 'confirmed') AND x.t >= n.e
            GROUP BY n.contact)
SELECT n.contact, n.e, d.at AS demo, p.at AS pricing, g.at AS engaged, u.at AS unsub,
       ny_days(ny_days(ny_days(n.e, 3), 4), 14) AS unmet  -- wait 3 days, wait 4 days, up to 14 days
FROM n_enrolled n
LEFT JOIN first_d d USING (contact) LEFT JOIN first_p p USING (contact)
LEFT JOIN first_e g USING (contact) LEFT JOIN first_u u USING (contact);

CREATE TEMP TABLE n_exits AS
WITH f AS (SELECT *, least(demo, pricing, engaged, unsub) AS goal_at FROM n_first)
SELECT contact, CASE WHEN goal_at <= unmet THEN goal_at ELSE unmet END AS t,
       CASE WHEN goal_at > unmet OR goal_at IS NULL THEN 'unmet'
            WHEN demo = goal_at THEN 'completed' ELSE 'goal' END AS reason,
       CASE WHEN goal_at > unmet OR goal_at IS NULL THEN 'Demo'
            WHEN demo = goal_at THEN NULL
            WHEN pricing = goal_at THEN 'Pricing'
            WHEN engaged = goal_at THEN 'Engaged' ELSE 'Unsubscribed' END AS goal
FROM f;

-- ---------------------------------------------------------------- Invoices
-- evaluate on event; enroll when purchase.completed, allow reentry: the next
-- purchase after the exit enrolls again. Paid (a goal step, listened for
-- from the enrollment) ends the enrollment at once ("completed"); unmet 5 + 10
-- days after the enrollment.
CREATE TEMP TABLE purchases AS SELECT contact, t FROM ev WHERE type = 'purchase.completed';
CREATE TEMP TABLE paid AS
SELECT contact, t FROM ev
WHERE type = 'invoice.status_changed' AND status IN ('paid', 'partially_paid') AND action = 'inv';

CREATE TEMP TABLE i_runs AS
WITH RECURSIVE runs(contact, e, x, reason) AS (
    SELECT p.contact, p.e,
           coalesce((SELECT min(t) FROM paid WHERE paid.contact = p.contact AND paid.t >= p.e
                     AND paid.t <= p.e + 15 * 86400), p.e + 15 * 86400),
           CASE WHEN EXISTS (SELECT 1 FROM paid WHERE paid.contact = p.contact AND paid.t >= p.e
                             AND paid.t <= p.e + 15 * 86400) THEN 'completed' ELSE 'unmet' END
    FROM (SELECT contact, min(t) AS e FROM purchases GROUP BY contact) p
    UNION ALL
    SELECT q.contact, q.e,
           coalesce((SELECT min(t) FROM paid WHERE paid.contact = q.contact AND paid.t >= q.e
                     AND paid.t <= q.e + 15 * 86400), q.e + 15 * 86400),
           CASE WHEN EXISTS (SELECT 1 FROM paid WHERE paid.contact = q.contact AND paid.t >= q.e
                             AND paid.t <= q.e + 15 * 86400) THEN 'completed' ELSE 'unmet' END
    FROM (SELECT r.contact, (SELECT min(t) FROM purchases p WHERE p.contact = r.contact AND p.t > r.x) AS e
          FROM runs r WHERE r.x <= {until}) q
    WHERE q.e IS NOT NULL
)
SELECT * FROM runs;

-- ---------------------------------------------------------------- Reviews
-- enroll when invoice.status_changed(status == paid), once; Clicked or
-- Bounced end it; else it completes after 2 + 3 days.
CREATE TEMP TABLE r_enrolled AS
SELECT contact, tick(min(t)) AS e FROM ev
WHERE type = 'invoice.status_changed' AND status = 'paid' GROUP BY contact;

CREATE TEMP TABLE r_exits AS
WITH c AS (SELECT r.contact, tick(min(x.t)) AS at FROM r_enrolled r JOIN ev x USING (contact)
           WHERE x.type = 'review_request.clicked' AND x.channel IN ('sms', 'whatsapp') AND x.t >= r.e
           GROUP BY r.contact),
     b AS (SELECT r.contact, tick(min(x.t)) AS at FROM r_enrolled r JOIN ev x USING (contact)
           WHERE x.type = 'email.bounced' AND x.t >= r.e GROUP BY r.contact),
     f AS (SELECT r.contact, r.e, c.at AS clicked, b.at AS bounced, r.e + 5 * 86400 AS done
           FROM r_enrolled r LEFT JOIN c USING (contact) LEFT JOIN b USING (contact))
SELECT contact, CASE WHEN goal_at <= done THEN goal_at ELSE done END AS t,
       CASE WHEN goal_at <= done THEN 'goal' ELSE 'completed' END AS reason,
       CASE WHEN goal_at > done OR goal_at IS NULL THEN NULL
            WHEN clicked = goal_at THEN 'Clicked' ELSE 'Bounced' END AS goal
FROM (SELECT *, least(clicked, bounced) AS goal_at FROM f);

-- ---------------------------------------------------------------- the answer
SELECT * FROM (
    SELECT e AS t, contact, 'Nurture' AS workflow, 'enrolled' AS type, NULL AS reason, NULL AS goal
    FROM n_enrolled WHERE e <= {until}
    UNION ALL SELECT t, contact, 'Nurture', 'exited', reason, goal FROM n_exits WHERE t <= {until}
    UNION ALL SELECT e, contact, 'Invoices', 'enrolled', NULL, NULL FROM i_runs WHERE e <= {until}
    UNION ALL SELECT x, contact, 'Invoices', 'exited', reason, CASE WHEN reason = 'unmet' THEN 'Paid' END
    FROM i_runs WHERE x <= {until}
    UNION ALL SELECT e, contact, 'Reviews', 'enrolled', NULL, NULL FROM r_enrolled WHERE e <= {until}
    UNION ALL SELECT t, contact, 'Reviews', 'exited', reason, goal FROM r_exits WHERE t <= {until}
) ORDER BY t, contact, workflow, type;
