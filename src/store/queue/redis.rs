//! The work queue in the `[store]` Redis, shared by several instances: a Redis Stream read
//! through one consumer group carries the work, so a job a crashed instance claimed is
//! taken over by another.
//!
//! Keys (after `store.key_prefix`):
//! * `queue:stream`, the stream, read by the consumer group `workers`. Each entry is one
//!   job's turn (`job` = its id). A due job has one entry: undelivered while it waits, in
//!   the group's pending list under the claiming worker (the consumer) while it is held.
//!   An entry is acknowledged (`XACK`) and deleted (`XDEL`) when its claim ends, so the
//!   stream holds only work in flight; it is never trimmed.
//! * `queue:job:{id}`, a hash: `key`, `payload`, `attempts`, `redeliveries`,
//!   `first_seen`, `next_attempt`, `last_error`, `state` (`queued`, `claimed`, `dead`), for
//!   a claimed job `worker` and `until`, and `entry`, the id of its stream entry.
//! * `queue:keys`, a hash: dedupe key → id, for jobs in flight.
//! * `queue:delayed`, a sorted set: a job waiting for a retry, scored by its due time.
//!   It is not in the stream until it is due: every enqueue, claim and replay first moves
//!   the delayed jobs due by its `now` to the stream, earliest first, and only then adds
//!   its own entry, so the stream stays in due order (as long as the callers' clocks
//!   agree and no retry is scheduled before the last entry's due time) and the next
//!   undelivered entry is the earliest due job.
//! * `queue:leases`, a sorted set: a claimed job scored by its lease end.
//! * `queue:ids` (a sorted set of every job, for listing) and `queue:next_id` (a counter).
//!
//! A claim (`XREADGROUP GROUP workers <worker> COUNT 1 STREAMS queue:stream >`) takes the
//! next undelivered entry, unless a lease that has expired is due earlier: that entry is
//! then moved to the new worker with `XCLAIM` (min-idle-time 0), so `XPENDING` shows who
//! holds what. The lease is judged on the caller's `now`, against `queue:leases`, not on
//! the idle time Redis keeps for a pending entry: the contract gives every time as the
//! caller's Unix milliseconds (the queue reads no clock, its tests never sleep), and an
//! idle time measured by Redis's own clock would disagree with it (and with another
//! instance's clock, which sets the lease). A consumer is removed from the group once it
//! holds nothing, so the names of instances that are gone do not pile up.
//!
//! Each operation that reads and then writes is one Lua script (non-blocking
//! `XREADGROUP` is allowed in a script), so it is atomic: two instances never claim the
//! same job, and a merge never races a completion. The group is created at first use, by
//! the first claim (`XGROUP CREATE … 0 MKSTREAM`, reading from the stream's start, so
//! entries added before it are delivered); the claim script checks for it first, so a
//! group that vanished with its stream (a key deleted by hand) is made again, and the
//! jobs whose entries went with it get new ones. Ids and times are passed to the
//! scripts as text and written back as given; a script only compares times (as Lua
//! numbers, like the sorted sets' scores).
//!
//! Needs Redis 6.2 or later (exclusive ranges in `XRANGE`). Durability is Redis's: an
//! acknowledged write survives a Redis restart only with persistence on (`appendonly yes`,
//! `appendfsync always` for no loss at all).

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use redis::Script;

use super::{
    Claimed, Enqueued, Job, JobId, JobState, QueueError, Ticket, UnixMillis, WorkQueue, millis,
};
use crate::store::redis::{Connection, RedisSettings, Repeat, connection_manager};

/// The consumer group every instance reads the stream through.
const GROUP: &str = "workers";

/// The keys every script gets, in this order (after the prefix and `queue:`).
const KEYS: [&str; 6] = ["keys", "stream", "delayed", "leases", "ids", "next_id"];

/// What every script starts with. ARGV[1]: job key prefix, ARGV[2]: group; the
/// operation's own arguments follow.
const PRELUDE: &str = r"
local keys, stream, delayed, leases, ids, next_id =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local prefix, group = ARGV[1], ARGV[2]

-- The delayed jobs due by now, moved to the stream, earliest first.
local function promote(now)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', delayed, '-inf', now)) do
    redis.call('HSET', prefix .. id, 'entry', redis.call('XADD', stream, '*', 'job', id))
    redis.call('ZREM', delayed, id)
  end
end

-- A new stream entry for a job due now, after the delayed jobs due by then.
local function append(id, now)
  promote(now)
  return redis.call('XADD', stream, '*', 'job', id)
end

-- A consumer that holds nothing leaves the group.
local function forget_if_idle(consumer)
  if redis.call('EXISTS', stream) == 1
    and #redis.call('XPENDING', stream, group, '-', '+', 1, consumer) == 0 then
    redis.call('XGROUP', 'DELCONSUMER', stream, group, consumer)
  end
end

-- A claim's end: its entry acknowledged and deleted, its lease gone.
local function let_go(id, job)
  local held = redis.call('HMGET', job, 'entry', 'worker')
  if held[1] then
    redis.call('XACK', stream, group, held[1])
    redis.call('XDEL', stream, held[1])
  end
  redis.call('ZREM', leases, id)
  redis.call('HDEL', job, 'entry', 'worker', 'until')
  if held[2] then forget_if_idle(held[2]) end
end

-- The job's dedupe key freed, when it still names this job.
local function free_key(id, job)
  local key = redis.call('HGET', job, 'key')
  if redis.call('HGET', keys, key) == id then redis.call('HDEL', keys, key) end
end
";

/// ARGV[3]: key, ARGV[4]: payload, ARGV[5]: now. Returns {1, id} for a new job, {0, id}
/// for a merge.
const ENQUEUE: &str = r"
local id = redis.call('HGET', keys, ARGV[3])
if id then
  redis.call('HINCRBY', prefix .. id, 'redeliveries', 1)
  return {0, id}
end
id = tostring(redis.call('INCR', next_id))
redis.call('HSET', prefix .. id, 'key', ARGV[3], 'payload', ARGV[4], 'attempts', '0',
  'redeliveries', '0', 'first_seen', ARGV[5], 'next_attempt', ARGV[5], 'state', 'queued',
  'entry', append(id, ARGV[5]))
redis.call('HSET', keys, ARGV[3], id)
redis.call('ZADD', ids, id, id)
return {1, id}
";

/// ARGV[3]: worker, ARGV[4]: now, ARGV[5]: lease end. Returns the claimed job's id and
/// fields, or nil.
const CLAIM: &str = r"
local worker, now, lease_end = ARGV[3], ARGV[4], ARGV[5]

-- Where the group has read up to; the group made at first use.
local last
local groups = redis.pcall('XINFO', 'GROUPS', stream)
if groups.err then groups = {} end
for _, g in ipairs(groups) do
  local fields = {}
  for i = 1, #g, 2 do fields[g[i]] = g[i + 1] end
  if fields['name'] == group then last = fields['last-delivered-id'] end
end
if not last then
  redis.call('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
  last = '0-0'
  -- Made again after the stream was lost: the queued jobs whose entries went with it get
  -- new ones, in due order (a claimed one is queued again when its lease lapses).
  local lost = {}
  for _, id in ipairs(redis.call('ZRANGE', ids, 0, -1)) do
    local job = redis.call('HMGET', prefix .. id, 'state', 'entry', 'next_attempt')
    if job[1] == 'queued' and job[2] and #redis.call('XRANGE', stream, job[2], job[2]) == 0 then
      table.insert(lost, {id, tonumber(job[3])})
    end
  end
  table.sort(lost, function(x, y) return x[2] < y[2] end)
  for _, job in ipairs(lost) do
    redis.call('HSET', prefix .. job[1], 'entry', redis.call('XADD', stream, '*', 'job', job[1]))
  end
end
promote(now)

-- The next undelivered entry: its id, its job and the job's due time. An entry no queued
-- job owns (none should exist) is dropped.
local function head()
  while true do
    local next = redis.call('XRANGE', stream, '(' .. last, '+', 'COUNT', 1)
    if #next == 0 then return nil end
    local entry, id = next[1][1], next[1][2][2]
    local job = redis.call('HMGET', prefix .. id, 'state', 'entry', 'next_attempt')
    if job[1] == 'queued' and job[2] == entry then return entry, id, tonumber(job[3]) end
    redis.call('XDEL', stream, entry)
    last = entry
  end
end

local function hold(id)
  local job = prefix .. id
  redis.call('HINCRBY', job, 'attempts', 1)
  redis.call('HSET', job, 'state', 'claimed', 'worker', worker, 'until', lease_end,
    'next_attempt', now)
  redis.call('ZADD', leases, lease_end, id)
  return {id, redis.call('HGETALL', job)}
end

local entry, id, due = head()
local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1)
if expired[1] and (not entry or tonumber(expired[2]) < due) then
  local taken = expired[1]
  local job = prefix .. taken
  local held = redis.call('HMGET', job, 'entry', 'worker')
  if held[1] and #redis.call('XCLAIM', stream, group, worker, 0, held[1]) > 0 then
    if held[2] then forget_if_idle(held[2]) end
    return hold(taken)
  end
  -- Its entry went with a deleted stream: the job is queued again.
  redis.call('ZREM', leases, taken)
  redis.call('HDEL', job, 'worker', 'until')
  redis.call('HSET', job, 'state', 'queued', 'entry', append(taken, now))
  if held[2] then forget_if_idle(held[2]) end
  entry, id, due = head()
end
if not entry or due > tonumber(now) then return false end
local read = redis.call('XREADGROUP', 'GROUP', group, worker, 'COUNT', 1, 'STREAMS', stream, '>')
if not read or read[1][2][1][1] ~= entry then
  return redis.error_reply('the queue stream delivered an entry out of order')
end
return hold(id)
";

/// The check every outcome starts with: the job is claimed by this ticket's attempt; then
/// the claim ends. ARGV[3]: id, ARGV[4]: attempt.
const HELD: &str = r"
local id = ARGV[3]
local job = prefix .. id
local fields = redis.call('HMGET', job, 'state', 'attempts')
if fields[1] ~= 'claimed' or fields[2] ~= ARGV[4] then return 0 end
let_go(id, job)
";

/// The job a dead letter's id names, or an error code: -1 missing, -2 not dead.
/// ARGV[3]: id.
const DEAD: &str = r"
local id = ARGV[3]
local job = prefix .. id
local state = redis.call('HGET', job, 'state')
if not state then return -1 end
if state ~= 'dead' then return -2 end
";

/// The queue in Redis.
#[derive(Clone)]
pub struct RedisQueue {
    connection: Connection,
    prefix: String,
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
        let script = |body: &str| Script::new(&format!("{PRELUDE}{body}"));
        Self {
            enqueue: script(ENQUEUE),
            claim: script(CLAIM),
            complete: script(&format!(
                "{HELD}free_key(id, job) redis.call('DEL', job) redis.call('ZREM', ids, id) \
                 return 1"
            )),
            // ARGV[5]: error, ARGV[6]: due time.
            retry_later: script(&format!(
                "{HELD}redis.call('HSET', job, 'state', 'queued', 'last_error', ARGV[5], \
                 'next_attempt', ARGV[6]) redis.call('ZADD', delayed, ARGV[6], id) return 1"
            )),
            // ARGV[5]: error.
            dead_letter: script(&format!(
                "{HELD}free_key(id, job) redis.call('HSET', job, 'state', 'dead', \
                 'last_error', ARGV[5]) return 1"
            )),
            // ARGV[4]: now. Returns {1, id} or {0, other id}.
            replay: script(&format!(
                r"{DEAD}
local key = redis.call('HGET', job, 'key')
local other = redis.call('HGET', keys, key)
if other then
  redis.call('HINCRBY', prefix .. other, 'redeliveries', 1)
  redis.call('DEL', job)
  redis.call('ZREM', ids, id)
  return {{0, other}}
end
redis.call('HSET', job, 'state', 'queued', 'attempts', '0', 'first_seen', ARGV[4],
  'next_attempt', ARGV[4], 'entry', append(id, ARGV[4]))
redis.call('HSET', keys, key, id)
return {{1, id}}"
            )),
            drop_dead: script(&format!(
                "{DEAD}redis.call('DEL', job) redis.call('ZREM', ids, id) return 1"
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
            scripts: std::sync::Arc::new(Scripts::new()),
        })
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn job_prefix(&self) -> String {
        self.key("job:")
    }

    /// Runs `call` with retries and the timeout (see [`Connection::run`]).
    async fn bounded<T, F>(
        &self,
        repeat: Repeat,
        call: impl FnMut(redis::aio::ConnectionManager) -> F,
    ) -> Result<T, QueueError>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        self.connection.run(repeat, call).await.map_err(|error| {
            crate::metrics::store_error(crate::metrics::Store::Queue);
            QueueError::Unavailable(error)
        })
    }

    /// Runs a read-only command, sent again after a lost reply.
    async fn read<T: redis::FromRedisValue>(&self, command: redis::Cmd) -> Result<T, QueueError> {
        self.bounded(Repeat::Safe, |mut connection| {
            let command = command.clone();
            async move { command.query_async(&mut connection).await }
        })
        .await
    }

    /// Runs a script with the queue's keys, the job key prefix, the group and `args`.
    async fn run<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        args: &[&str],
    ) -> Result<T, QueueError> {
        let mut invocation = script.prepare_invoke();
        for name in KEYS {
            invocation.key(self.key(name));
        }
        invocation.arg(self.job_prefix()).arg(GROUP);
        for arg in args {
            invocation.arg(*arg);
        }
        // Every script changes the queue: sent again only if Redis never received it.
        let invocation = &invocation;
        self.bounded(Repeat::IfUnsent, |mut connection| async move {
            invocation.invoke_async(&mut connection).await
        })
        .await
    }

    /// Runs an outcome script that starts with the ticket check.
    async fn outcome(
        &self,
        script: &Script,
        ticket: Ticket,
        extra: &[&str],
    ) -> Result<(), QueueError> {
        let (id, attempt) = (ticket.id.to_string(), ticket.attempt.to_string());
        let held: i64 = self
            .run(script, &[&[id.as_str(), attempt.as_str()], extra].concat())
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
        id: JobId,
        extra: &[&str],
    ) -> Result<T, QueueError> {
        let text = id.to_string();
        let reply: redis::Value = self
            .run(script, &[&[text.as_str()], extra].concat())
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
        let reply: (i64, JobId) = self
            .run(&self.scripts.enqueue, &[key, payload, &now.to_string()])
            .await?;
        Ok(enqueued(reply))
    }

    async fn claim(
        &self,
        worker: &str,
        lease: Duration,
        now: UnixMillis,
    ) -> Result<Option<Claimed>, QueueError> {
        let until = now.saturating_add(millis(lease)).to_string();
        let reply: Option<(JobId, HashMap<String, String>)> = self
            .run(&self.scripts.claim, &[worker, &now.to_string(), &until])
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
        self.outcome(&self.scripts.complete, ticket, &[]).await
    }

    async fn retry_later(
        &self,
        ticket: Ticket,
        error: &str,
        at: UnixMillis,
    ) -> Result<(), QueueError> {
        self.outcome(&self.scripts.retry_later, ticket, &[error, &at.to_string()])
            .await
    }

    async fn dead_letter(&self, ticket: Ticket, error: &str) -> Result<(), QueueError> {
        self.outcome(&self.scripts.dead_letter, ticket, &[error])
            .await
    }

    async fn depth(&self) -> Result<super::Depth, QueueError> {
        // Every job is in `ids`; a job in flight also holds its key in `keys`.
        let mut pipe = redis::pipe();
        pipe.cmd("ZCARD")
            .arg(self.key("ids"))
            .cmd("HLEN")
            .arg(self.key("keys"));
        let (all, in_flight): (u64, u64) = self
            .bounded(Repeat::Safe, |mut connection| {
                let pipe = pipe.clone();
                async move { pipe.query_async(&mut connection).await }
            })
            .await?;
        Ok(super::Depth {
            in_flight,
            dead: all.saturating_sub(in_flight),
        })
    }

    async fn jobs(&self) -> Result<Vec<Job>, QueueError> {
        let mut command = redis::cmd("ZRANGE");
        command.arg(self.key("ids")).arg(0).arg(-1);
        let ids: Vec<JobId> = self.read(command).await?;
        let mut jobs = Vec::with_capacity(ids.len());
        for id in ids {
            let mut command = redis::cmd("HGETALL");
            command.arg(format!("{}{id}", self.job_prefix()));
            let fields: HashMap<String, String> = self.read(command).await?;
            // Gone between the two reads: completed meanwhile.
            if !fields.is_empty() {
                jobs.push(job_from(id, &fields)?);
            }
        }
        Ok(jobs)
    }

    async fn replay(&self, id: JobId, now: UnixMillis) -> Result<Enqueued, QueueError> {
        let reply: (i64, JobId) = self
            .on_dead(&self.scripts.replay, id, &[&now.to_string()])
            .await?;
        Ok(enqueued(reply))
    }

    async fn drop_dead(&self, id: JobId) -> Result<(), QueueError> {
        let _: i64 = self.on_dead(&self.scripts.drop_dead, id, &[]).await?;
        Ok(())
    }
}
