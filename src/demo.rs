//! `carebase demo`: a realistic synthetic facility in the configured
//! database, to try the API on and to benchmark it with.
//!
//! The kernel only runs it: it opens the database, then asks every context,
//! in the order of `crate::contexts`, for its demo data
//! ([`crate::context::Context::demo`]). What one context made and a later
//! one needs (the facility, the staff, the leads to book) it leaves in the
//! run under a type of its own; the seeded generator and the options are
//! the run's. Everything goes through the contexts' own stores and sealing
//! functions and is audited as the system job [`JOB`].
//!
//! The same seed gives the same data (dated back from when it runs).
//! There is no default password: the staff password is generated and shown
//! once, or read from standard input.

use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;
use uuid::Uuid;

use crate::app::{AppState, Extensions};
use crate::config::Config;
use crate::db::Backend;

/// Most leads one run loads.
pub const MAX_LEADS: u32 = 1_000_000;
/// The system job the demo's audit events name.
pub const JOB: &str = "cli: demo";

/// What `carebase demo` was asked to load.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub leads: u32,
    pub seed: u64,
    /// Every staff account's password.
    pub password: String,
}

/// One run of the demo, handed to each context in turn.
pub struct Demo<'a> {
    pub state: &'a AppState,
    pub options: &'a DemoOptions,
    /// The one generator every context draws from, in context order, so the
    /// same seed gives the same data.
    pub rng: Generator,
    /// What each context made, under its own types, for the later ones.
    pub made: Extensions,
    loaded: String,
    counts: Vec<String>,
    accounts: Vec<(String, String)>,
}

impl<'a> Demo<'a> {
    fn new(state: &'a AppState, options: &'a DemoOptions) -> Self {
        Self {
            state,
            options,
            rng: Generator(options.seed),
            made: Extensions::default(),
            loaded: String::new(),
            counts: Vec::new(),
            accounts: Vec::new(),
        }
    }

    /// What was loaded, as the summary names it (`"Demo Clinic" (facility …)`).
    pub fn loaded(&mut self, what: String) {
        self.loaded = what;
    }

    /// One count of the summary (`1200 leads`), in the order said.
    pub fn count(&mut self, count: String) {
        self.counts.push(count);
    }

    /// A staff account to sign in with, and its role.
    pub fn account(&mut self, email: String, role: String) {
        self.accounts.push((email, role));
    }
}

/// A small, fast, seedable generator (SplitMix64): the demo needs the same
/// data from the same seed, not cryptographic randomness.
#[derive(Clone, Debug)]
pub struct Generator(u64);

impl Generator {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn draw(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.draw() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.draw() % n.max(1) as u64) as usize
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick<'b, T>(&mut self, items: &'b [T]) -> &'b T {
        &items[self.below(items.len())]
    }

    /// An index into `weights`, each chosen in proportion to its weight.
    pub fn weighted(&mut self, weights: impl Iterator<Item = u32> + Clone) -> usize {
        let total: u32 = weights.clone().sum();
        let mut roll = self.below(total as usize) as u32;
        for (i, w) in weights.enumerate() {
            if roll < w {
                return i;
            }
            roll -= w;
        }
        0
    }

    /// Microseconds uniform in [low, high).
    pub fn between(&mut self, low: i64, high: i64) -> i64 {
        low + ((high - low).max(0) as f64 * self.unit()) as i64
    }

    /// A standard normal value (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A UUID v7 dated `micros`, so ids sort as the simulated events happen.
    pub fn id_at(&mut self, micros: i64) -> Uuid {
        let mut bytes = [0u8; 10];
        bytes[..8].copy_from_slice(&self.draw().to_le_bytes());
        bytes[8..].copy_from_slice(&self.draw().to_le_bytes()[..2]);
        let millis = u64::try_from(micros / 1000).unwrap_or(0);
        uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid()
    }
}

/// A password for the demo staff: 20 random URL-safe characters.
pub fn new_password() -> String {
    let mut bytes = [0u8; 15];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `carebase demo`: loads the demo and tells the operator how to sign in.
pub async fn run(
    config: Config,
    leads: u32,
    seed: u64,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let (password, generated) = if password_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        (line.trim_end_matches(['\r', '\n']).to_owned(), false)
    } else {
        (new_password(), true)
    };
    let options = DemoOptions {
        leads,
        seed,
        password,
    };
    let started = Instant::now();
    let state = AppState::open(config).await?;
    let mut demo = Demo::new(&state, &options);
    let result = load(&mut demo).await;
    let (loaded, counts, accounts) = (demo.loaded, demo.counts, demo.accounts);
    state.audit.stop().await;
    state.db.close().await;
    result?;
    println!(
        "Loaded {loaded} in {:.1} s: {}.",
        started.elapsed().as_secs_f64(),
        counts.join(", ")
    );
    println!("Staff accounts, all with the same password:");
    for (email, role) in &accounts {
        println!("  {email:<32} {role}");
    }
    if generated {
        println!(
            "Password (shown once, not stored anywhere in clear): {}",
            options.password
        );
    } else {
        println!("Password: the one given on standard input.");
    }
    Ok(())
}

/// Asks every context for its demo data, in context order.
async fn load(demo: &mut Demo<'_>) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=MAX_LEADS).contains(&demo.options.leads),
        "--leads must be between 1 and {MAX_LEADS}"
    );
    for context in crate::contexts::all() {
        context.demo(demo).await?;
    }
    refresh_planner_statistics(demo.state).await?;
    Ok(())
}

/// A bulk load leaves PostgreSQL's planner without statistics about the
/// new rows until autovacuum comes round, and the first queries get plans
/// made for empty tables: a page of 50 active leads then sorts every open
/// lead (48 ms instead of 0.3 at 100 000 leads). The vacuum also marks the
/// new pages all-visible, which index-only scans need. The whole database,
/// so that the kernel need not know which tables the contexts filled.
///
/// SQLite is left without statistics on purpose: its planner's defaults
/// choose the right indexes for these queries, while statistics from a
/// one-facility load ("facility_id matches every row") make SQLite 3.51
/// read a 90-day pipeline report through the status index, the whole
/// facility row by row (170 ms instead of 20).
async fn refresh_planner_statistics(state: &AppState) -> anyhow::Result<()> {
    match state.db.backend() {
        Backend::Postgres => {
            state.db.execute_unprepared("VACUUM (ANALYZE)").await?;
            Ok(())
        }
        Backend::Sqlite => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_repeats_itself_from_a_seed() {
        let mut a = Generator(7);
        let mut b = Generator(7);
        let draws: Vec<u64> = (0..5).map(|_| a.draw()).collect();
        assert_eq!(draws, (0..5).map(|_| b.draw()).collect::<Vec<_>>());
        assert_ne!(Generator(8).draw(), draws[0]);
        let mut g = Generator(1);
        assert!((0..1000).map(|_| g.unit()).all(|u| (0.0..1.0).contains(&u)));
        let picks: Vec<usize> = (0..1000)
            .map(|_| g.weighted([0, 1, 0].into_iter()))
            .collect();
        assert!(picks.iter().all(|&i| i == 1));
    }

    #[test]
    fn ids_sort_by_the_time_they_are_dated() {
        let mut g = Generator(3);
        let early = g.id_at(1_700_000_000_000_000);
        let late = g.id_at(1_700_000_000_001_000);
        assert!(early < late);
        assert_eq!(early.get_version_num(), 7);
    }

    /// That they also pass the password policy is checked by access, whose
    /// demo refuses a password that does not.
    #[test]
    fn new_passwords_are_long_enough_and_differ() {
        let (a, b) = (new_password(), new_password());
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
    }
}
