-- Lets enqueueMany be one statement and still all or nothing (src/queue/sql/insert-tasks.ts):
-- its ON CONFLICT ... DO UPDATE ... WHERE calls this for every row whose idempotency key is
-- taken, after waiting for the transaction that took it, and a key held by a task of another
-- name fails the whole statement. A key held by a task of the same name updates nothing.
CREATE FUNCTION taskwire_check_idempotency_key(key text, existing_name text, new_name text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF existing_name IS DISTINCT FROM new_name THEN
    RAISE EXCEPTION 'idempotencyKey "%" already belongs to a task named "%", not "%"', key, existing_name, new_name
      USING ERRCODE = 'TW409';
  END IF;
  RETURN false;
END
$$;
