-- JIT off in every taskwire function. The claim, completion, output, failure and snooze functions
-- plan with sequential scans, bitmap scans and sorts off (the plan must walk their indexes whatever
-- the statistics), which PostgreSQL prices at ~1e10: past jit_above_cost, so on a PostgreSQL built
-- with JIT (Debian's, Ubuntu's, the official image; not the embedded one) every call compiled its
-- plan. A tester measured claims of 350–930 ms and enqueue → start of 0.5–1.3 s, an idle worker
-- costing two thirds of a core. A function's SET applies to its own statement only, as the others.
-- No lock on any table: ALTER FUNCTION changes the catalog row only. A later CREATE OR REPLACE of
-- one of them must say SET jit = off again (test/db/functions-jit.test.ts checks them all).
DO $$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN
    SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE p.proname LIKE 'taskwire\_%' AND n.nspname = ANY (current_schemas(false))
  LOOP
    EXECUTE format('ALTER FUNCTION %s SET jit = off', f);
  END LOOP;
END $$;
