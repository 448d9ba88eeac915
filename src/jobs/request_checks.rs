//! The shape checks every job request passes before the policy sees it: a command a shell can
//! hold, and sizes and a timeout within the server's bounds.

use super::JobError;
use super::job::JobRequest;
use super::manager::JobManager;
use crate::config::bounds;

impl JobManager {
    pub(super) fn validate(&self, r: &JobRequest) -> Result<(), JobError> {
        let bad = |m: String| Err(JobError::BadRequest(m));
        if r.command.trim().is_empty() {
            return bad(
                "`command` is empty: give a shell command line, e.g. \"cargo test\"".into(),
            );
        }
        if r.command.len() > bounds::MAX_COMMAND {
            return bad(format!(
                "`command` is {} bytes; the limit is {} (put long scripts in a file and run that)",
                r.command.len(),
                bounds::MAX_COMMAND
            ));
        }
        if r.command.contains('\0') {
            return bad("`command` contains a NUL byte, which no shell command can hold".into());
        }
        if let Some(t) = r.timeout
            && t > self.limits.max_timeout
        {
            return bad(format!(
                "`timeout` {}s exceeds the server's maximum of {}s",
                t.as_secs_f64(),
                self.limits.max_timeout.as_secs()
            ));
        }
        if let Some(s) = &r.stdin
            && s.len() > bounds::MAX_INPUT
        {
            return bad(format!(
                "`stdin` is larger than {} bytes",
                bounds::MAX_INPUT
            ));
        }
        if let Some(l) = &r.label
            && l.len() > bounds::MAX_LABEL
        {
            return bad(format!(
                "`label` is longer than {} bytes",
                bounds::MAX_LABEL
            ));
        }
        Ok(())
    }
}
