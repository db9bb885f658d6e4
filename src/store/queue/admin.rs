//! `concur-connector notifications list|replay|drop`: the administrator's view of the
//! work queue. Prints ids, keys, states, attempts, times and last errors (no payload, no
//! connection detail, so nothing secret).

use std::time::{Duration, UNIX_EPOCH};

use super::{Enqueued, Job, JobId, JobState, QueueError, UnixMillis, WorkQueue};

/// One administrator action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Every job, dead letters included.
    List,
    /// A dead letter queued again.
    Replay(JobId),
    /// A dead letter removed.
    Drop(JobId),
}

/// Runs `action` and returns what to print.
pub async fn run(
    queue: &dyn WorkQueue,
    action: Action,
    now: UnixMillis,
) -> Result<String, QueueError> {
    match action {
        Action::List => {
            let jobs = queue.jobs().await?;
            if jobs.is_empty() {
                return Ok("the queue is empty\n".to_owned());
            }
            Ok(jobs.iter().map(line).collect())
        }
        Action::Replay(id) => Ok(match queue.replay(id, now).await? {
            Enqueued::New(id) => format!("job {id} queued again\n"),
            Enqueued::Merged(other) => {
                format!("job {id} merged into job {other}, which has the same key\n")
            }
        }),
        Action::Drop(id) => {
            queue.drop_dead(id).await?;
            Ok(format!("job {id} dropped\n"))
        }
    }
}

/// Jobs and dead letters in a [`Action::List`] listing (as a server's socket answers it).
pub fn count(listing: &str) -> (usize, usize) {
    let jobs: Vec<&str> = listing
        .lines()
        .filter(|l| l.split('\t').nth(1).is_some())
        .collect();
    let dead = jobs
        .iter()
        .filter(|l| l.split('\t').nth(1) == Some("dead"))
        .count();
    (jobs.len(), dead)
}

fn time(at: UnixMillis) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(at)).to_string()
}

fn line(job: &Job) -> String {
    let state = match &job.state {
        JobState::Queued => format!("queued, due {}", time(job.next_attempt)),
        JobState::Claimed { worker, until } => {
            format!("claimed by {worker} until {}", time(*until))
        }
        JobState::Dead => "dead".to_owned(),
    };
    format!(
        "{id}\t{state}\tattempts {attempts}\tredeliveries {redeliveries}\tfirst seen {first}\tkey {key:?}\tlast error {error:?}\n",
        id = job.id,
        attempts = job.attempts,
        redeliveries = job.redeliveries,
        first = time(job.first_seen),
        key = job.key,
        error = job.last_error.as_deref().unwrap_or("none"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_counts_its_jobs_and_dead_letters() {
        let job = |id, state| Job {
            id,
            key: format!("key\t{id}"),
            payload: String::new(),
            attempts: 1,
            redeliveries: 0,
            first_seen: 0,
            next_attempt: 0,
            last_error: Some("dead\tend".to_owned()),
            state,
        };
        let listing: String = [
            job(1, JobState::Dead),
            job(2, JobState::Queued),
            job(3, JobState::Dead),
        ]
        .iter()
        .map(line)
        .collect();
        assert_eq!(count(&listing), (3, 2));
        assert_eq!(count("the queue is empty\n"), (0, 0));
    }
}
