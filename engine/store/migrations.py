"""Numbered schema migrations for the DuckDB cache. Applied by engine.migrate.apply_migrations as the set "runs".
Append new ones; never edit or rename an applied one."""
from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    (
        "001 runs and scores",
        """
        CREATE TABLE runs (
            run_id          VARCHAR PRIMARY KEY,
            request_key     VARCHAR NOT NULL,  -- hash of everything that determines the scores
            model_id        VARCHAR NOT NULL,  -- name the user asked for (alias, hub id or path)
            model_source    VARCHAR,           -- where the weights came from (hub id, path, GGUF file)
            family          VARCHAR,           -- llama, gemma, qwen, ...
            model_kind      VARCHAR,           -- reward_model | causal_lm
            score_kind      VARCHAR,           -- reward | logprob
            revision        VARCHAR,
            tokenizer_hash  VARCHAR,
            prompt_key      VARCHAR,           -- battery key, or NULL for free text
            prompt_text     VARCHAR,
            framing         VARCHAR,           -- positive | negative | NULL
            template        VARCHAR,           -- which chat/plain template framed the reply
            dtype           VARCHAR,
            quantization    VARCHAR,
            candidates      VARCHAR,           -- vocab | lexicon:<name> | words
            vocab_filter    VARCHAR,
            head_status     VARCHAR,           -- trained | untrained | n/a
            scorer_version  VARCHAR,
            source          VARCHAR NOT NULL,  -- computed | imported
            status          VARCHAR NOT NULL,  -- running | done | failed
            error           VARCHAR,
            pid             INTEGER,
            n_scores        INTEGER,
            seconds         DOUBLE,
            device          VARCHAR,
            created_at      TIMESTAMP NOT NULL,
            finished_at     TIMESTAMP,
            params          VARCHAR            -- JSON of the full request, for reproduction
        );
        CREATE INDEX runs_request_key ON runs(request_key);
        CREATE TABLE scores (
            run_id             VARCHAR NOT NULL,
            token_id           INTEGER,        -- vocabulary runs; NULL when the reply is a word
            text               VARCHAR NOT NULL,  -- the token as decoded, or the word
            score              DOUBLE NOT NULL,   -- reward, or total log-probability of the reply
            first_token_score  DOUBLE,         -- log-probability of the reply's first token
            n_tokens           INTEGER         -- tokens the reply took
        );
        CREATE INDEX scores_run ON scores(run_id);
        """,
    ),
    (
        "002 start time of a run's process",
        # With the PID it tells a live run from a dead one whose PID was reused (PID 1 after a container restart).
        "ALTER TABLE runs ADD COLUMN pid_started_at DOUBLE;",
    ),
]
