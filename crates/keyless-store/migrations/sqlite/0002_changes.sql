-- The change log: the entities each generation changed, written in the same transaction as the
-- change, so that replicas apply only what changed. `changes_from` is the newest generation
-- the log no longer covers: a replica behind it reloads everything.

CREATE TABLE changes (
    generation INTEGER NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (generation, kind, name)
);
ALTER TABLE store_state ADD COLUMN changes_from INTEGER NOT NULL DEFAULT 0;
UPDATE store_state SET changes_from = generation;
