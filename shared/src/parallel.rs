//! Running CPU-bound jobs on scoped threads (the pure core's parallel steps) or on tokio's
//! blocking pool.

/// Threads for the CPU-bound steps: the available cores, at most 8.
pub fn worker_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8)
}

/// `f` of every job, in the jobs' order: each job on a thread of its own when there are at
/// least two, inline otherwise. Each thread runs inside the caller's tracing span, so its
/// logs keep the request id. A panic in a job is resumed on the caller's thread.
pub fn run_jobs<T: Send, R: Send>(jobs: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    if jobs.len() < 2 {
        return jobs.into_iter().map(f).collect();
    }
    let span = tracing::Span::current();
    let (f, span) = (&f, &span);
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .into_iter()
            .map(|job| scope.spawn(move || span.in_scope(|| f(job))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// `f` of every item, in the items' order, computed on up to [`worker_threads`] scoped
/// threads that take the next unclaimed item as they finish one (for items of uneven cost,
/// such as model fits of series of different lengths); inline for fewer than two items or a
/// single core. Each thread runs inside the caller's tracing span, so its logs keep the
/// request id. A panic in `f` is resumed on the caller's thread.
pub fn map_balanced<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = worker_threads().min(items.len());
    if threads < 2 {
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let span = tracing::Span::current();
    let (f, next, span) = (&f, &next, &span);
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(move || {
                    let _entered = span.enter();
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else {
                            return out;
                        };
                        out.push((i, f(item)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// Runs `f` on tokio's blocking pool (CPU-bound or blocking work, off the async threads)
/// inside the caller's tracing span, and returns its result; a panic in `f` is resumed on
/// the caller.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let span = tracing::Span::current();
    match tokio::task::spawn_blocking(move || span.in_scope(f)).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_job_order() {
        assert_eq!(run_jobs(vec![3, 1, 2], |x| x * 10), vec![30, 10, 20]);
        assert_eq!(run_jobs(vec![7], |x| x + 1), vec![8]);
        assert!(run_jobs(Vec::<u8>::new(), |x| x).is_empty());
    }

    #[test]
    fn balanced_results_come_in_item_order_whatever_the_cost() {
        // Uneven costs: early items are slow, so later items finish first on other threads.
        let items: Vec<u64> = (0..200).collect();
        let out = map_balanced(&items, |&x| {
            if x < 4 {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            x * 3
        });
        assert_eq!(out, items.iter().map(|x| x * 3).collect::<Vec<_>>());
        assert_eq!(map_balanced(&[5u8], |x| x + 1), vec![6]);
        assert!(map_balanced(&Vec::<u8>::new(), |x| *x).is_empty());
    }

    #[test]
    #[should_panic(expected = "item 7")]
    fn a_panic_in_an_item_reaches_the_caller() {
        let items: Vec<u32> = (0..16).collect();
        map_balanced(&items, |&x| assert!(x != 7, "item {x}"));
    }
}
