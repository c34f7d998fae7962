//! The A/B-interleaved measurement shared by the benchmarks: each round runs the
//! contenders in a fresh random order on the same pool and data, so drift during the run
//! falls on all of them alike; the result is the median of the per-round ratios with its
//! spread (10th and 90th percentiles).

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

type Op = Box<dyn FnMut(usize) -> Pin<Box<dyn Future<Output = ()> + Send>>>;

/// One side of a comparison: a name and the operation it times.
pub struct Contender {
    pub name: &'static str,
    op: Op,
}

pub fn contender<F, Fut>(name: &'static str, mut op: F) -> Contender
where
    F: FnMut(usize) -> Fut + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Contender {
        name,
        op: Box::new(move |i| Box::pin(op(i))),
    }
}

/// A small deterministic generator for the round orders (xorshift).
pub struct Order(pub u64);

impl Order {
    fn shuffle(&mut self, items: &mut [usize]) {
        for i in (1..items.len()).rev() {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            items.swap(i, (self.0 % (i as u64 + 1)) as usize);
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Whether the command line selects `workload` (no arguments select every workload).
pub fn selected(workload: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    filters.is_empty() || filters.iter().any(|f| workload.starts_with(f.as_str()))
}

/// Runs `rounds` rounds (after 2 of warm-up) of `reps` operations per contender, in a
/// random order each round; returns each contender's time per round.
async fn measure(
    rounds: usize,
    reps: usize,
    contenders: &mut [Contender],
    order: &mut Order,
) -> Vec<Vec<Duration>> {
    let mut times = vec![Vec::with_capacity(rounds); contenders.len()];
    let mut sequence: Vec<usize> = (0..contenders.len()).collect();
    let mut op = 0;
    for round in 0..rounds + 2 {
        order.shuffle(&mut sequence);
        for &c in &sequence {
            let start = Instant::now();
            for _ in 0..reps {
                (contenders[c].op)(op).await;
                op += 1;
            }
            if round >= 2 {
                times[c].push(start.elapsed()); // the first two rounds warm up
            }
        }
    }
    times
}

/// Median, 10th and 90th percentile of `a / b` over the rounds.
fn spread(a: &[Duration], b: &[Duration]) -> (f64, f64, f64) {
    let mut ratios: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(a, b)| a.as_secs_f64() / b.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    (
        percentile(&ratios, 0.5),
        percentile(&ratios, 0.1),
        percentile(&ratios, 0.9),
    )
}

fn per_op(times: &[Duration], reps: usize) -> Duration {
    times.iter().sum::<Duration>() / (times.len() * reps) as u32
}

/// Measures, then prints the first contender (the library) against each other one:
/// library time / other time.
pub async fn compare(
    workload: &str,
    rounds: usize,
    reps: usize,
    mut contenders: Vec<Contender>,
    order: &mut Order,
) {
    if !selected(workload) {
        return;
    }
    let times = measure(rounds, reps, &mut contenders, order).await;
    for c in 1..contenders.len() {
        let (median, p10, p90) = spread(&times[0], &times[c]);
        println!(
            "{workload} | {} vs {} | median {median:.3} (p10 {p10:.3}, p90 {p90:.3}) | {:.1?} vs {:.1?} per op",
            contenders[0].name,
            contenders[c].name,
            per_op(&times[0], reps),
            per_op(&times[c], reps),
        );
    }
}

/// Measures, then prints each contender against the first (the baseline): contender time
/// / baseline time, so lower is faster.
pub async fn against_baseline(
    workload: &str,
    rounds: usize,
    reps: usize,
    mut contenders: Vec<Contender>,
    order: &mut Order,
) {
    if !selected(workload) {
        return;
    }
    let times = measure(rounds, reps, &mut contenders, order).await;
    for c in 1..contenders.len() {
        let (median, p10, p90) = spread(&times[c], &times[0]);
        println!(
            "{workload} | {} / {} | median {median:.3} (p10 {p10:.3}, p90 {p90:.3}) | {:.1?} vs {:.1?} per op",
            contenders[c].name,
            contenders[0].name,
            per_op(&times[c], reps),
            per_op(&times[0], reps),
        );
    }
}
