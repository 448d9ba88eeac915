//! Jobs: their ids and lives ([`job`], [`state`]), the manager that starts and stops them
//! ([`manager`]), and the journal that outlives a server run ([`journal`]).

pub mod job;
pub mod journal;
pub mod manager;
pub mod state;

pub use job::{Job, JobId, JobRequest};
pub use manager::{CleanScope, JobError, JobManager, KillReport, ListFilter};
pub use state::{End, Phase, StateName};
