//! Jobs: their ids and lives ([`job`], [`state`]) and the manager that starts and stops them
//! ([`manager`]).

pub mod job;
pub mod manager;
pub mod state;

pub use job::{Job, JobId, JobRequest};
pub use manager::{CleanScope, JobError, JobManager, KillReport, ListFilter};
pub use state::{End, Phase, StateName};
