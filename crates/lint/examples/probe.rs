use sqlparser::ast::Statement;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};
fn main() {
    let d = PostgreSqlDialect {};
    let cases = [
        "CREATE MATERIALIZED VIEW \"Sales\".x AS SELECT a, count(*) FROM t WHERE b > 1 GROUP BY a ORDER BY a LIMIT 5 WITH NO DATA",
        "CREATE MATERIALIZED VIEW x AS SELECT a FROM t JOIN u ON t.id = u.id WITH DATA",
        "CREATE MATERIALIZED VIEW x AS (SELECT a FROM t) WITH DATA",
        "CREATE MATERIALIZED VIEW x AS SELECT a FROM t UNION SELECT b FROM u WITH DATA",
        "CREATE MATERIALIZED VIEW x AS WITH c AS (SELECT 1) SELECT * FROM c WITH DATA",
        "CREATE MATERIALIZED VIEW x AS VALUES (1) WITH DATA",
        "CREATE MATERIALIZED VIEW x AS TABLE t WITH DATA",
        "CREATE MATERIALIZED VIEW x WITH (fillfactor=70) AS SELECT 1",
        "CREATE MATERIALIZED VIEW x AS SELECT date_trunc('day', ts)::date AS d, sum(amount) FILTER (WHERE ok) FROM t GROUP BY 1",
        "CREATE UNIQUE INDEX i ON x (a) WHERE a > 0",
        "CREATE UNIQUE INDEX i ON x ((lower(a)))",
        "CREATE UNIQUE INDEX i ON x (a DESC, b)",
        "COMMENT ON MATERIALIZED VIEW x IS 'y'",
        "GRANT SELECT ON x TO bob",
        "SELECT 'unterminated",
        "SELECT 1; /* unterminated",
        "SELECT $$abc",
    ];
    for c in cases {
        let toks = Tokenizer::new(&d, c).tokenize_with_location();
        let toks = match toks {
            Ok(t) => t,
            Err(e) => {
                println!("TOKERR {c}\n   {e:?}");
                continue;
            }
        };
        let toks: Vec<_> = toks
            .into_iter()
            .filter(|t| t.token != Token::SemiColon)
            .collect();
        let mut p = Parser::new(&d).with_tokens_with_locations(toks);
        match p.parse_statement() {
            Ok(s) => {
                let rest = p.peek_token();
                println!("OK  {c}\n    {s}\n    next={:?}", rest);
                if let Statement::CreateView(cv) = &s {
                    println!("    name parts {:?}", cv.name.0);
                }
                if let Statement::CreateIndex(ci) = &s {
                    println!(
                        "    cols {:?} pred {:?}",
                        ci.columns,
                        ci.predicate.is_some()
                    );
                }
            }
            Err(e) => println!("ERR {c}\n    {e:?}"),
        }
    }
}
