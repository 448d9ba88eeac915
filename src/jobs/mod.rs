//! Jobs: their ids and lives ([`job`], [`state`]), whether one waits for input
//! ([`input_wait`]), the manager that starts and stops them
//! ([`manager`]) with its operations in their own files (vetting and `check`, `interact`,
//! [`wait`], [`hosts`]), and the journal that outlives a server run ([`journal`]).

mod error;
mod group;
pub mod hosts;
mod input_wait;
mod interact;
pub mod job;
pub mod journal;
pub mod manager;
mod queue;
mod request_checks;
pub mod state;
mod stopping;
mod takeover;
mod vetting;
pub mod wait;

pub use error::JobError;
pub use group::{Group, Refusal, Targets};
pub use hosts::{HostAddress, HostView};
pub use input_wait::InputWait;
pub use interact::{InteractOutcome, InteractRequest};
pub use job::{GroupId, Job, JobId, JobRequest};
pub use manager::{CleanScope, JobManager, KillReport, ListFilter};
pub use state::{End, Phase, StateName};
pub use vetting::Assessment;
