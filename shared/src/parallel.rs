//! Running CPU-bound jobs on scoped threads (the pure core's parallel steps) or on tokio's
//! blocking pool.

/// Threads for the CPU-bound steps: the available cores, at most 8.
pub fn worker_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8)
}

/// `f` of every job, in the jobs' order: each job on a thread of its own when there are at
/// least two, inline otherwise. A panic in a job is resumed on the caller's thread.
pub fn run_jobs<T: Send, R: Send>(jobs: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    if jobs.len() < 2 {
        return jobs.into_iter().map(f).collect();
    }
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .into_iter()
            .map(|job| scope.spawn(move || f(job)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Runs `f` on tokio's blocking pool (CPU-bound or blocking work, off the async threads)
/// and returns its result; a panic in `f` is resumed on the caller.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
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
}
