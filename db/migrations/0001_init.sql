-- lakesync state store, schema version 1.
--
-- Times are timestamptz; lakesync reads and writes them as epoch milliseconds.
-- Status and trigger values are the names in db/state_store.h (RunStatusName, TriggerName).

CREATE TABLE jobs (
  name       text        PRIMARY KEY,
  kind       text        NOT NULL,
  first_seen timestamptz NOT NULL DEFAULT now(),
  last_seen  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE runs (
  id             bigserial   PRIMARY KEY,
  job            text        NOT NULL,
  kind           text        NOT NULL,
  trigger        text        NOT NULL CHECK (trigger IN ('schedule', 'retry', 'manual')),
  attempt        integer     NOT NULL DEFAULT 1 CHECK (attempt >= 1),
  runner_id      text        NOT NULL DEFAULT '',
  status         text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed',
                                                        'partial', 'timed_out', 'cancelled')),
  started_at     timestamptz NOT NULL,
  finished_at    timestamptz,
  heartbeat_at   timestamptz,
  source_version bigint,
  target_version bigint,
  commits        bigint      NOT NULL DEFAULT 0,
  files          bigint      NOT NULL DEFAULT 0,
  bytes          bigint      NOT NULL DEFAULT 0,
  rows           bigint      NOT NULL DEFAULT 0,
  error          text        NOT NULL DEFAULT ''
);
CREATE INDEX runs_job_started_at ON runs (job, started_at DESC, id DESC);
-- The daemon looks for running runs whose heartbeat stopped (a dead runner).
CREATE INDEX runs_running ON runs (heartbeat_at) WHERE status = 'running';

-- One row per target of a finished run. `position` keeps the order the runner reported them in.
CREATE TABLE run_targets (
  run_id        bigint  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  target        text    NOT NULL,
  position      integer NOT NULL,
  start_version bigint,
  end_version   bigint,
  commits       bigint  NOT NULL DEFAULT 0,
  files         bigint  NOT NULL DEFAULT 0,
  bytes         bigint  NOT NULL DEFAULT 0,
  rows          bigint  NOT NULL DEFAULT 0,
  status        text    NOT NULL CHECK (status IN ('running', 'succeeded', 'failed',
                                                   'partial', 'timed_out', 'cancelled')),
  error         text    NOT NULL DEFAULT '',
  PRIMARY KEY (run_id, target)
);

-- What PostgreSQL believes each target has replicated. The target's own log is the truth
-- (DESIGN.md R6); this is the record of it.
CREATE TABLE target_versions (
  job                text        NOT NULL,
  target             text        NOT NULL,
  replicated_version bigint      NOT NULL,
  source_version     bigint,
  updated_at         timestamptz NOT NULL,
  run_id             bigint,
  PRIMARY KEY (job, target)
);

CREATE TABLE snapshots (
  job              text        NOT NULL,
  snapshot_id      text        NOT NULL,
  target           text        NOT NULL,
  source_version   bigint      NOT NULL,
  commit_timestamp timestamptz,
  files            bigint      NOT NULL DEFAULT 0,
  bytes            bigint      NOT NULL DEFAULT 0,
  rows             bigint      NOT NULL DEFAULT 0,
  status           text        NOT NULL CHECK (status IN ('writing', 'complete', 'deleting',
                                                          'deleted')),
  created_at       timestamptz NOT NULL DEFAULT now(),
  deleted_at       timestamptz,
  PRIMARY KEY (job, snapshot_id)
);
CREATE INDEX snapshots_job_created_at ON snapshots (job, created_at DESC);

-- Manual triggers (`lakesync trigger JOB`) waiting for a daemon to claim them.
CREATE TABLE run_requests (
  id           bigserial   PRIMARY KEY,
  job          text        NOT NULL,
  requested_at timestamptz NOT NULL DEFAULT now(),
  requested_by text        NOT NULL DEFAULT '',
  status       text        NOT NULL DEFAULT 'pending'
                           CHECK (status IN ('pending', 'claimed', 'done', 'cancelled')),
  claimed_by   text,
  claimed_at   timestamptz,
  run_id       bigint      REFERENCES runs (id) ON DELETE SET NULL
);
CREATE INDEX run_requests_pending ON run_requests (job, requested_at) WHERE status = 'pending';

-- At most one runner holds a job at a time; `token` grows with every acquisition (a fencing
-- token) so a runner that lost its lease can tell.
CREATE TABLE leases (
  job          text        PRIMARY KEY,
  holder       text        NOT NULL,
  token        bigint      NOT NULL,
  acquired_at  timestamptz NOT NULL,
  heartbeat_at timestamptz NOT NULL,
  expires_at   timestamptz NOT NULL
);
