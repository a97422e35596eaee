-- Real-user monitoring samples (POST /api/rum). Values in thousandths (milliseconds to the
-- microsecond, CLS to 0.001), so both databases store them as integers. Bounded in rows and age
-- by the BFF (--rum-max-samples, --rum-retention-hours).
CREATE TABLE rum_samples (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_ms BIGINT NOT NULL,
    app TEXT NOT NULL,
    version TEXT NOT NULL,
    cohort TEXT NOT NULL,
    shell TEXT NOT NULL,
    metric TEXT NOT NULL,
    value_milli BIGINT NOT NULL,
    detail TEXT
);
CREATE INDEX rum_samples_received ON rum_samples (received_ms);
