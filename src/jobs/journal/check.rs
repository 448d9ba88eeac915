//! Checks of the entries read from a journal: any job could have written them, so an entry is
//! believed only within bounds.

use super::entry::{Created, Entry, Sizes};
use super::limits;
use crate::config::bounds;
use crate::state_dir::is_plain_name;

/// Why an entry cannot be believed, if it cannot.
pub(super) fn check(entry: &Entry) -> Result<(), &'static str> {
    match entry {
        Entry::Run { .. } => Ok(()),
        Entry::Created(c) => check_id(c.job).and_then(|()| check_created(c)),
        Entry::Ended { job, output, .. } => check_id(*job).and_then(|()| check_sizes(output)),
        Entry::Started { job, .. } | Entry::Forgotten { job } => check_id(*job),
    }
}

fn check_id(job: u64) -> Result<(), &'static str> {
    if (1..=limits::MAX_JOB_ID).contains(&job) {
        Ok(())
    } else {
        Err("job id out of range")
    }
}

fn check_created(c: &Created) -> Result<(), &'static str> {
    if c.run.as_deref().is_some_and(|r| !is_plain_name(r)) {
        return Err("run is not a plain name");
    }
    if c.layout.head_cap > limits::MAX_SIZE || c.layout.tail_cap > limits::MAX_SIZE {
        return Err("log layout out of range");
    }
    if c.command.len() > bounds::MAX_COMMAND
        || c.label
            .as_ref()
            .is_some_and(|l| l.len() > bounds::MAX_LABEL)
    {
        return Err("command or label too long");
    }
    Ok(())
}

fn check_sizes(o: &Sizes) -> Result<(), &'static str> {
    // As the output store counts: a byte is of one stream at most (a log taken over has lost
    // which), and a newline is a byte.
    if o.total > limits::MAX_SIZE
        || o.stdout.checked_add(o.stderr).is_none_or(|s| s > o.total)
        || o.lines > o.total
    {
        return Err("output sizes inconsistent");
    }
    Ok(())
}
