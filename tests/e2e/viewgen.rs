//! A small grammar of view definitions over `facts`: random *supported* SELECTs (0–2 group
//! keys, 1–4 aggregates with arguments of suitable types, optional FILTER, WHERE, HAVING and
//! an expression over aggregates), and *unsupported* ones: a supported SELECT with exactly one
//! construct summa must refuse, and the word its refusal must name.

use crate::harness::Rng;

const KEYS: &[&str] = &[
    "g",
    "h",
    "cat",
    "code",
    "b",
    "d",
    "i4 / 10",
    "i2 % 3",
    "date_trunc('day', tstz)",
    "upper(cat)",
    "coalesce(h, -1)",
    "extract(hour FROM ts)",
];

const INTS: &[&str] = &["i2", "i4", "i8", "i4 + i2", "abs(i4)", "i2 * i2"];
const NUMS: &[&str] = &["n", "n2", "n2 * 2", "n + n2"];
const FLOATS: &[&str] = &["f4", "f8", "f8 / 4", "f4 * 2"];
const ORDERED: &[&str] = &[
    "i2",
    "i4",
    "i8",
    "n",
    "n2",
    "f4",
    "f8",
    "cat",
    "code",
    "d",
    "ts",
    "tstz",
    "iv",
    "m",
    "lower(cat)",
    "i4 * 2",
    "d + 1",
];
const BOOLS: &[&str] = &["b", "NOT b", "i4 > 0", "cat = 'a'", "f8 IS NULL"];
const CONDS: &[&str] = &[
    "b",
    "NOT b",
    "i4 > 0",
    "cat IN ('a', 'B')",
    "d >= '2026-01-08'",
    "n2 < 0",
    "code LIKE 'a%'",
    "h IS NULL",
    "g <> 2",
    "i2 BETWEEN -10 AND 10",
    "tstz < '2026-01-02 12:00+00'",
    "f8 > 0 OR i4 IS NULL",
];
const HAVINGS: &[&str] = &[
    "count(*) > 3",
    "sum(i4) > 0",
    "max(d) > '2026-01-10'",
    "min(i2) IS NOT NULL",
    "count(DISTINCT cat) >= 2",
    "avg(f8) < 100",
    "bool_or(b)",
];
const AGG_EXPRS: &[&str] = &[
    "sum(i4) / count(*)",
    "coalesce(sum(i2), 0) + count(*)",
    "max(d) - min(d)",
    "round(avg(n2), 1)",
    "max(i4) - min(i4)",
    "count(*) * 2",
    "CASE WHEN count(*) > 5 THEN 'many' ELSE 'few' END",
];
const STATS: &[&str] = &[
    "stddev",
    "stddev_samp",
    "stddev_pop",
    "variance",
    "var_samp",
    "var_pop",
];

fn pick<'a>(rng: &mut Rng, from: &[&'a str]) -> &'a str {
    from[rng.below(from.len() as u64) as usize]
}

fn pick_of<'a>(rng: &mut Rng, pools: &[&[&'a str]]) -> &'a str {
    let all: Vec<&str> = pools.iter().flat_map(|p| p.iter().copied()).collect();
    pick(rng, &all)
}

/// One aggregate call from the supported set, with a random argument of a suitable type.
fn aggregate(rng: &mut Rng) -> String {
    let call = match rng.below(12) {
        0 => "count(*)".to_string(),
        1 => format!("count({})", pick_of(rng, &[ORDERED, BOOLS])),
        2 => format!("sum({})", pick_of(rng, &[INTS, NUMS, FLOATS, &["iv", "m"]])),
        3 => format!("avg({})", pick_of(rng, &[INTS, NUMS, FLOATS, &["iv"]])),
        4 => format!("min({})", pick(rng, ORDERED)),
        5 => format!("max({})", pick(rng, ORDERED)),
        6 => format!(
            "count(DISTINCT {})",
            pick_of(rng, &[ORDERED, &["b", "i4 % 5"]])
        ),
        7 => format!(
            "{}(DISTINCT {})",
            pick(rng, &["sum", "avg"]),
            pick_of(rng, &[INTS, NUMS, FLOATS])
        ),
        8 => format!(
            "{}({})",
            pick(rng, &["bool_and", "bool_or", "every"]),
            pick(rng, BOOLS)
        ),
        9 | 10 => format!(
            "{}({})",
            pick(rng, STATS),
            pick_of(rng, &[INTS, &["n2", "n"], FLOATS])
        ),
        _ => format!("min({})", pick(rng, &["i4", "cat", "code", "tstz"])),
    };
    if rng.chance(20) {
        format!("{call} FILTER (WHERE {})", pick(rng, CONDS))
    } else {
        call
    }
}

/// A query in parts, so an unsupported construct can be injected into one of them.
#[derive(Debug, Clone)]
pub struct Query {
    with: Option<String>,
    items: Vec<String>,
    from: String,
    wheres: Vec<String>,
    /// The group keys' expressions, and how GROUP BY names them.
    keys: Vec<String>,
    group: Vec<String>,
    having: Option<String>,
    tail: Vec<String>,
}

impl Query {
    fn core(&self) -> String {
        let mut sql = format!("SELECT {}\nFROM {}", self.items.join(", "), self.from);
        if !self.wheres.is_empty() {
            let conds: Vec<String> = self.wheres.iter().map(|c| format!("({c})")).collect();
            sql.push_str(&format!("\nWHERE {}", conds.join(" AND ")));
        }
        if !self.group.is_empty() {
            sql.push_str(&format!("\nGROUP BY {}", self.group.join(", ")));
        }
        if let Some(h) = &self.having {
            sql.push_str(&format!("\nHAVING {h}"));
        }
        sql
    }

    pub fn render(&self) -> String {
        let mut sql = self.core();
        for t in &self.tail {
            sql.push_str(&format!("\n{t}"));
        }
        match &self.with {
            Some(w) => format!("{w}\n{sql}"),
            None => sql,
        }
    }
}

/// A random supported view definition.
pub fn supported(rng: &mut Rng) -> Query {
    let mut q = Query {
        with: None,
        items: Vec::new(),
        from: "facts".into(),
        wheres: Vec::new(),
        keys: Vec::new(),
        group: Vec::new(),
        having: None,
        tail: Vec::new(),
    };
    for i in 0..rng.below(3) {
        let key = pick(rng, KEYS);
        if q.keys.iter().any(|k| k == key) {
            continue;
        }
        q.keys.push(key.to_string());
        let plain = key.chars().all(|c| c.is_ascii_alphanumeric());
        if rng.chance(12) {
            // Grouped but not shown.
            q.group.push(key.to_string());
            continue;
        }
        let alias = format!("k{i}");
        if plain && rng.chance(50) {
            q.items.push(key.to_string());
        } else {
            q.items.push(format!("{key} AS {alias}"));
        }
        let ordinal = q.items.len();
        q.group.push(match rng.below(3) {
            0 => ordinal.to_string(),
            1 if !plain => alias,
            _ => key.to_string(),
        });
    }
    for i in 0..1 + rng.below(4) {
        q.items.push(format!("{} AS a{i}", aggregate(rng)));
    }
    if rng.chance(30) {
        let int_key = q.keys.iter().find(|k| *k == "g" || *k == "h").cloned();
        let expr = match int_key {
            Some(k) if rng.chance(40) => format!("{k} * 10 + count(*)"),
            _ => pick(rng, AGG_EXPRS).to_string(),
        };
        q.items.push(format!("{expr} AS e0"));
    }
    for _ in 0..(if rng.chance(35) { 1 + rng.below(2) } else { 0 }) {
        q.wheres.push(pick(rng, CONDS).to_string());
    }
    if rng.chance(25) {
        q.having = Some(pick(rng, HAVINGS).to_string());
    }
    q
}

/// The constructs summa refuses.
const UNSUPPORTED: usize = 17;

/// A random supported SELECT with unsupported construct number `kind` (`0..UNSUPPORTED`)
/// injected: (SQL, the word the refusal must name).
pub fn unsupported(rng: &mut Rng, kind: usize) -> (String, &'static str) {
    let mut q = supported(rng);
    let word = match kind {
        0 => {
            let key = q.keys.iter().find(|k| *k == "g" || *k == "h").cloned();
            let w = match key {
                Some(k) => format!("sum({k}) OVER ()"),
                None => "sum(count(*)) OVER ()".into(),
            };
            q.items.push(format!("{w} AS w"));
            "window function"
        }
        1 => {
            q.tail.push(format!("LIMIT {}", 1 + rng.below(10)));
            "LIMIT"
        }
        2 => {
            q.tail.push(format!("OFFSET {}", 1 + rng.below(10)));
            "OFFSET"
        }
        3 => {
            q.wheres.push("tstz > now() - interval '30 days'".into());
            "now()"
        }
        4 => {
            q.wheres.push("random() < 0.5".into());
            "random()"
        }
        5 => {
            q.wheres.push("tstz < clock_timestamp()".into());
            "clock_timestamp()"
        }
        6 => {
            let core = q.core();
            let op = pick(rng, &["UNION", "UNION ALL"]);
            return (format!("{core}\n{op}\n{core}"), "UNION");
        }
        7 => {
            q.items.push("string_agg(cat, ',') AS sa".into());
            "string_agg"
        }
        8 => {
            q.items.push("array_agg(i4) AS aa".into());
            "array_agg"
        }
        9 => {
            q.items.push("json_agg(n2) AS ja".into());
            "json_agg"
        }
        10 => {
            q.items
                .push("percentile_cont(0.5) WITHIN GROUP (ORDER BY f8) AS p".into());
            "percentile_cont"
        }
        11..=13 => {
            if q.keys.is_empty() {
                q.keys.push("g".into());
                q.items.insert(0, "g".into());
            }
            let keys = q.keys.join(", ");
            let (set, word) = match kind {
                11 => (format!("GROUPING SETS (({keys}), ())"), "GROUPING SETS"),
                12 => (format!("ROLLUP ({keys})"), "ROLLUP"),
                _ => (format!("CUBE ({keys})"), "CUBE"),
            };
            q.group = vec![set];
            word
        }
        14 => {
            let sub = pick(
                rng,
                &[
                    "i4 > (SELECT 0)",
                    "g IN (SELECT dim_id FROM dims)",
                    "EXISTS (SELECT 1 FROM dims WHERE dims.dim_id = facts.g)",
                ],
            );
            q.wheres.push(sub.into());
            "subquery"
        }
        15 => {
            q.with = Some("WITH src AS (SELECT * FROM facts)".into());
            q.from = "src".into();
            "WITH"
        }
        _ => {
            q.from = "facts FULL JOIN dims ON dims.dim_id = facts.g".into();
            "JOIN"
        }
    };
    (q.render(), word)
}

/// Every unsupported construct once, in a random order.
pub fn unsupported_kinds(rng: &mut Rng) -> Vec<usize> {
    let mut kinds: Vec<usize> = (0..UNSUPPORTED).collect();
    for i in (1..kinds.len()).rev() {
        kinds.swap(i, rng.below(i as u64 + 1) as usize);
    }
    kinds
}
