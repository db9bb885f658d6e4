//! The work queue in the `[store]` Redis, shared by several instances.
//!
//! Keys (after `store.key_prefix`): `queue:job:{id}` (a hash: the job's fields),
//! `queue:keys` (a hash: dedupe key → id, for jobs in flight), `queue:due` (a sorted set:
//! id scored by the time it becomes claimable, the next attempt of a queued job or the
//! lease end of a claimed one), `queue:ids` (a sorted set of every job, for listing) and
//! `queue:next_id` (a counter). Each operation that reads and then writes is one Lua
//! script, so it is atomic: two instances never claim the same job, and a merge never
//! races a completion.
//!
//! A sorted set rather than a stream with a consumer group: a stream delivers in append
//! order and takes over idle entries by idle time, while this contract needs due-time
//! order (a retry scheduled for later must not block a fresh job), merging by key and
//! claim tickets; those need a script per operation either way, and a score by due time
//! gives all three with one index. The arithmetic is done in Rust and passed in as text,
//! since Lua numbers would round large millisecond values.
//!
//! Durability is Redis's: an acknowledged write survives a Redis restart only with
//! persistence on (`appendonly yes`, `appendfsync always` for no loss at all).

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use redis::Script;
use redis::aio::ConnectionManager;

use super::{
    Claimed, Enqueued, Job, JobId, JobState, QueueError, Ticket, UnixMillis, WorkQueue, millis,
};
use crate::store::redis::{RedisSettings, connection_manager};

/// KEYS: keys, due, ids, next_id. ARGV: job key prefix, key, payload, now.
/// Returns {1, id} for a new job, {0, id} for a merge.
const ENQUEUE: &str = r"
local id = redis.call('HGET', KEYS[1], ARGV[2])
if id then
  redis.call('HINCRBY', ARGV[1] .. id, 'redeliveries', 1)
  return {0, id}
end
id = tostring(redis.call('INCR', KEYS[4]))
redis.call('HSET', ARGV[1] .. id, 'key', ARGV[2], 'payload', ARGV[3], 'attempts', '0',
  'redeliveries', '0', 'first_seen', ARGV[4], 'next_attempt', ARGV[4], 'state', 'queued')
redis.call('HSET', KEYS[1], ARGV[2], id)
redis.call('ZADD', KEYS[2], ARGV[4], id)
redis.call('ZADD', KEYS[3], id, id)
return {1, id}
";

/// KEYS: due. ARGV: job key prefix, worker, now, lease end.
/// Returns the claimed job's id and fields, or nil.
const CLAIM: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[3], 'LIMIT', 0, 1)
if #due == 0 then return false end
local id = due[1]
local job = ARGV[1] .. id
redis.call('HINCRBY', job, 'attempts', 1)
redis.call('HSET', job, 'state', 'claimed', 'worker', ARGV[2], 'until', ARGV[4],
  'next_attempt', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[4], id)
return {id, redis.call('HGETALL', job)}
";

/// The check every outcome starts with: the job is claimed by this ticket's attempt.
/// ARGV[1]: job key prefix, ARGV[2]: id, ARGV[3]: attempt.
const HELD: &str = r"
local job = ARGV[1] .. ARGV[2]
local fields = redis.call('HMGET', job, 'state', 'attempts')
if fields[1] ~= 'claimed' or fields[2] ~= ARGV[3] then return 0 end
";

/// Frees a job's dedupe key (when it maps to this job) and its due entry.
/// KEYS[1]: keys, KEYS[2]: due.
const RELEASE: &str = r"
local key = redis.call('HGET', job, 'key')
if redis.call('HGET', KEYS[1], key) == ARGV[2] then redis.call('HDEL', KEYS[1], key) end
redis.call('ZREM', KEYS[2], ARGV[2])
";

/// The job a dead letter's id names, or an error code: -1 missing, -2 not dead.
/// ARGV[1]: job key prefix, ARGV[2]: id.
const DEAD: &str = r"
local job = ARGV[1] .. ARGV[2]
local state = redis.call('HGET', job, 'state')
if not state then return -1 end
if state ~= 'dead' then return -2 end
";

/// The queue in Redis.
#[derive(Clone)]
pub struct RedisQueue {
    connection: ConnectionManager,
    prefix: String,
    timeout: Duration,
    scripts: std::sync::Arc<Scripts>,
}

struct Scripts {
    enqueue: Script,
    claim: Script,
    complete: Script,
    retry_later: Script,
    dead_letter: Script,
    replay: Script,
    drop_dead: Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            enqueue: Script::new(ENQUEUE),
            claim: Script::new(CLAIM),
            // KEYS: keys, due, ids.
            complete: Script::new(&format!(
                "{HELD}{RELEASE}redis.call('DEL', job) redis.call('ZREM', KEYS[3], ARGV[2]) return 1"
            )),
            // KEYS: due. ARGV[4]: error, ARGV[5]: due time.
            retry_later: Script::new(&format!(
                "{HELD}redis.call('HSET', job, 'state', 'queued', 'last_error', ARGV[4], \
                 'next_attempt', ARGV[5]) redis.call('HDEL', job, 'worker', 'until') \
                 redis.call('ZADD', KEYS[1], ARGV[5], ARGV[2]) return 1"
            )),
            // KEYS: keys, due. ARGV[4]: error.
            dead_letter: Script::new(&format!(
                "{HELD}{RELEASE}redis.call('HSET', job, 'state', 'dead', 'last_error', ARGV[4]) \
                 redis.call('HDEL', job, 'worker', 'until') return 1"
            )),
            // KEYS: keys, due, ids. ARGV[3]: now. Returns {1, id} or {0, other id}.
            replay: Script::new(&format!(
                r"{DEAD}
local key = redis.call('HGET', job, 'key')
local other = redis.call('HGET', KEYS[1], key)
if other then
  redis.call('HINCRBY', ARGV[1] .. other, 'redeliveries', 1)
  redis.call('DEL', job)
  redis.call('ZREM', KEYS[3], ARGV[2])
  return {{0, other}}
end
redis.call('HSET', job, 'state', 'queued', 'attempts', '0', 'first_seen', ARGV[3],
  'next_attempt', ARGV[3])
redis.call('HSET', KEYS[1], key, ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
return {{1, ARGV[2]}}"
            )),
            // KEYS: ids.
            drop_dead: Script::new(&format!(
                "{DEAD}redis.call('DEL', job) redis.call('ZREM', KEYS[1], ARGV[2]) return 1"
            )),
        }
    }
}

impl RedisQueue {
    /// Prepares the client; nothing connects until the first call.
    pub fn new(settings: &RedisSettings) -> Result<Self, QueueError> {
        let connection =
            connection_manager(settings).map_err(|e| QueueError::Unavailable(e.to_string()))?;
        Ok(Self {
            connection,
            prefix: format!("{}queue:", settings.key_prefix),
            timeout: settings.timeout,
            scripts: std::sync::Arc::new(Scripts::new()),
        })
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn job_prefix(&self) -> String {
        self.key("job:")
    }

    async fn bounded<T>(
        &self,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, QueueError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(QueueError::Unavailable(format!("redis: {e}"))),
            Err(_) => Err(QueueError::Unavailable(format!(
                "redis did not answer within {:?}",
                self.timeout
            ))),
        }
    }

    /// Runs an outcome script that starts with the ticket check.
    async fn outcome(
        &self,
        script: &Script,
        keys: &[&str],
        ticket: Ticket,
        extra: &[String],
    ) -> Result<(), QueueError> {
        let mut invocation = script.prepare_invoke();
        for name in keys {
            invocation.key(self.key(name));
        }
        invocation
            .arg(self.job_prefix())
            .arg(ticket.id.to_string())
            .arg(ticket.attempt.to_string());
        for arg in extra {
            invocation.arg(arg);
        }
        let mut connection = self.connection.clone();
        let held: i64 = self
            .bounded(invocation.invoke_async(&mut connection))
            .await?;
        if held == 1 {
            Ok(())
        } else {
            Err(QueueError::LostClaim(ticket.id))
        }
    }

    /// Runs a dead-letter script: its reply, or the error its code means.
    async fn on_dead<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&str],
        id: JobId,
        extra: &[String],
    ) -> Result<T, QueueError> {
        let mut invocation = script.prepare_invoke();
        for name in keys {
            invocation.key(self.key(name));
        }
        invocation.arg(self.job_prefix()).arg(id.to_string());
        for arg in extra {
            invocation.arg(arg);
        }
        let mut connection = self.connection.clone();
        let reply: redis::Value = self
            .bounded(invocation.invoke_async(&mut connection))
            .await?;
        match reply {
            redis::Value::Int(-1) => Err(QueueError::NotFound(id)),
            redis::Value::Int(-2) => Err(QueueError::NotDead(id)),
            other => redis::FromRedisValue::from_redis_value(other)
                .map_err(|e| QueueError::Corrupt(e.to_string())),
        }
    }
}

fn number<T: std::str::FromStr>(
    fields: &HashMap<String, String>,
    name: &str,
    id: JobId,
) -> Result<T, QueueError> {
    fields
        .get(name)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| QueueError::Corrupt(format!("job {id}: field {name}")))
}

fn job_from(id: JobId, fields: &HashMap<String, String>) -> Result<Job, QueueError> {
    let text = |name: &str| {
        fields
            .get(name)
            .cloned()
            .ok_or_else(|| QueueError::Corrupt(format!("job {id}: field {name}")))
    };
    let state = match fields.get("state").map(String::as_str) {
        Some("queued") => JobState::Queued,
        Some("claimed") => JobState::Claimed {
            worker: text("worker")?,
            until: number(fields, "until", id)?,
        },
        Some("dead") => JobState::Dead,
        _ => return Err(QueueError::Corrupt(format!("job {id}: field state"))),
    };
    Ok(Job {
        id,
        key: text("key")?,
        payload: text("payload")?,
        attempts: number(fields, "attempts", id)?,
        redeliveries: number(fields, "redeliveries", id)?,
        first_seen: number(fields, "first_seen", id)?,
        next_attempt: number(fields, "next_attempt", id)?,
        last_error: fields.get("last_error").cloned(),
        state,
    })
}

fn enqueued((new, id): (i64, JobId)) -> Enqueued {
    if new == 1 {
        Enqueued::New(id)
    } else {
        Enqueued::Merged(id)
    }
}

#[async_trait]
impl WorkQueue for RedisQueue {
    async fn enqueue(
        &self,
        key: &str,
        payload: &str,
        now: UnixMillis,
    ) -> Result<Enqueued, QueueError> {
        let mut invocation = self.scripts.enqueue.prepare_invoke();
        for name in ["keys", "due", "ids", "next_id"] {
            invocation.key(self.key(name));
        }
        invocation
            .arg(self.job_prefix())
            .arg(key)
            .arg(payload)
            .arg(now.to_string());
        let mut connection = self.connection.clone();
        let reply: (i64, JobId) = self
            .bounded(invocation.invoke_async(&mut connection))
            .await?;
        Ok(enqueued(reply))
    }

    async fn claim(
        &self,
        worker: &str,
        lease: Duration,
        now: UnixMillis,
    ) -> Result<Option<Claimed>, QueueError> {
        let mut invocation = self.scripts.claim.prepare_invoke();
        invocation
            .key(self.key("due"))
            .arg(self.job_prefix())
            .arg(worker)
            .arg(now.to_string())
            .arg(now.saturating_add(millis(lease)).to_string());
        let mut connection = self.connection.clone();
        let reply: Option<(JobId, HashMap<String, String>)> = self
            .bounded(invocation.invoke_async(&mut connection))
            .await?;
        let Some((id, fields)) = reply else {
            return Ok(None);
        };
        let job = job_from(id, &fields)?;
        Ok(Some(Claimed {
            ticket: Ticket {
                id,
                attempt: job.attempts,
            },
            job,
        }))
    }

    async fn complete(&self, ticket: Ticket) -> Result<(), QueueError> {
        self.outcome(&self.scripts.complete, &["keys", "due", "ids"], ticket, &[])
            .await
    }

    async fn retry_later(
        &self,
        ticket: Ticket,
        error: &str,
        at: UnixMillis,
    ) -> Result<(), QueueError> {
        self.outcome(
            &self.scripts.retry_later,
            &["due"],
            ticket,
            &[error.to_owned(), at.to_string()],
        )
        .await
    }

    async fn dead_letter(&self, ticket: Ticket, error: &str) -> Result<(), QueueError> {
        self.outcome(
            &self.scripts.dead_letter,
            &["keys", "due"],
            ticket,
            &[error.to_owned()],
        )
        .await
    }

    async fn jobs(&self) -> Result<Vec<Job>, QueueError> {
        let mut connection = self.connection.clone();
        let ids: Vec<JobId> = self
            .bounded(
                redis::cmd("ZRANGE")
                    .arg(self.key("ids"))
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut connection),
            )
            .await?;
        let mut jobs = Vec::with_capacity(ids.len());
        for id in ids {
            let fields: HashMap<String, String> = self
                .bounded(
                    redis::cmd("HGETALL")
                        .arg(format!("{}{id}", self.job_prefix()))
                        .query_async(&mut connection),
                )
                .await?;
            // Gone between the two reads: completed meanwhile.
            if !fields.is_empty() {
                jobs.push(job_from(id, &fields)?);
            }
        }
        Ok(jobs)
    }

    async fn replay(&self, id: JobId, now: UnixMillis) -> Result<Enqueued, QueueError> {
        let reply: (i64, JobId) = self
            .on_dead(
                &self.scripts.replay,
                &["keys", "due", "ids"],
                id,
                &[now.to_string()],
            )
            .await?;
        Ok(enqueued(reply))
    }

    async fn drop_dead(&self, id: JobId) -> Result<(), QueueError> {
        let _: i64 = self
            .on_dead(&self.scripts.drop_dead, &["ids"], id, &[])
            .await?;
        Ok(())
    }
}
