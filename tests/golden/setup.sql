-- Sources for the planner's golden tests (tests/e2e/golden.rs).
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int, region_id int, status text,
                     amount numeric(12,2), created_at timestamptz);
-- Columns named like every name summa's generated SQL introduces.
CREATE TABLE hostile ("__summa_sign" int, "__s" int, "__r" int, "__d" int, "__src" int,
                      "__x1" int, "__v0" int, "__v" int, "__m" int, "__seq" int, "__lsn" int,
                      "__summa_lsn" int, "__summa_seq" int, "__summa_agg_0" int, "__key_0" int,
                      n int, tid int, c1 int, g1 int, e1 int, u int, t int, d int, x int, r int,
                      v int, k0 int, a0 int, one int, "ctid2" int, "Quoted ""Name""" text);
-- Join inputs (primary keys), and one whose columns are named like the join SQL's own names.
CREATE TABLE regions (id int PRIMARY KEY, name text);
CREATE TABLE hostile_keyed ("__summa_seq" int PRIMARY KEY, "__summa_input" int, "__summa_sign" int,
                            c0_0 int, c1_0 int, s int, i int, o int, f int, st int, x int, u int,
                            "__ch0" int, "__fin0" int);
-- An eager join's fact whose columns take the partials' internal names.
CREATE TABLE hostile_fact (id int PRIMARY KEY, "__summa_p0" int, "__summa_p1" numeric,
                           "__n" int, "__noop" int, "__e" int);
