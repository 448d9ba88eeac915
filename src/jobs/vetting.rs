//! Vetting a job before it runs: the policy's verdict on the command, the environment and the
//! working directory, the limits, and the sandbox. `execute` acts on it; `check` is a dry run of
//! exactly the same, so that the two can never disagree.

use std::path::PathBuf;
use std::time::Duration;

use policies::{CheckRequest, Verdict};

use super::JobError;
use super::JobRequest;
use super::manager::JobManager;
use crate::audit::Record;
use crate::sandbox::SandboxSummary;

/// What the policy decided for a job that may run.
pub(super) struct Vetted {
    pub rule: Option<String>,
    pub stdin: bool,
    pub timeout: Option<Duration>,
    pub clear_env: bool,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    /// The sandbox the job will run in (local jobs under a sandbox).
    pub sandbox: Option<SandboxSummary>,
}

/// Everything the vetting found, refusals included.
pub struct Assessment {
    pub verdict: Verdict,
    /// Why the job may not run (empty: it may).
    pub reasons: Vec<String>,
    /// The working directory, resolved as the job would get it.
    pub cwd: PathBuf,
    pub sandbox: Option<SandboxSummary>,
    /// The policy file that decided.
    pub policy: String,
}

impl JobManager {
    /// The whole vetting of `r`, without running anything or writing the audit log.
    fn assess(&self, r: &JobRequest) -> Assessment {
        let server_cwd = std::env::current_dir().unwrap_or_default();
        let cwd = match &r.cwd {
            Some(c) if c.is_absolute() => c.clone(),
            Some(c) => server_cwd.join(c),
            None => server_cwd,
        };
        let env: Vec<(String, String)> =
            r.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let policy = self.policy_for(&r.host);
        let verdict = policy.check(&CheckRequest {
            command: &r.command,
            host: &r.host,
            cwd: Some(&cwd),
            env: &env,
        });
        let mut reasons: Vec<String> = Vec::new();
        if !verdict.allowed {
            reasons.push(verdict.summary());
        }
        // A remote job starts in its login directory on the host, which this server cannot
        // see: the policy judged the directory above with this server's, so a job whose
        // directory matters must name its own, absolutely.
        if r.host != "local" {
            match &r.cwd {
                Some(c) if !c.is_absolute() => reasons.push(format!(
                    "on the remote host {:?}, `cwd` must be an absolute path ({} would be taken from the login directory there, which this server cannot see)",
                    r.host,
                    c.display()
                )),
                None if policy.cwd_for(&r.host).is_some() => reasons.push(format!(
                    "the policy limits where jobs run on {:?}: give `cwd`, an absolute path on that host (without it the job would start in its login directory there)",
                    r.host
                )),
                _ => {}
            }
        }
        let sandbox = match &self.sandbox {
            None => None,
            Some(s) if r.host == "local" => {
                reasons.extend(s.refuse_cwd(&cwd));
                Some(s.summary())
            }
            Some(s) => {
                let opted_out = self.hosts.get(&r.host).is_some_and(|(h, _)| h.sandbox_off);
                if !opted_out {
                    reasons.push(format!(
                        "the server runs jobs in a sandbox ({}), which cannot confine a job on the remote host {:?}; the host's config section must say sandbox = \"off\" to let its jobs run unconfined",
                        s.summary().text(),
                        r.host
                    ));
                }
                None
            }
        };
        if r.stdin.is_some() && !verdict.stdin {
            reasons.push(
                "the policy does not let this job take input on stdin, so `stdin` cannot be given"
                    .into(),
            );
        }
        let host_max = self.hosts.get(&r.host).and_then(|(h, _)| h.max_timeout);
        if let (Some(t), Some(max)) = (r.timeout, policy.limits.max_timeout.or(host_max))
            && t > max
        {
            reasons.push(format!(
                "`timeout` {}s exceeds the policy's maximum of {}s",
                t.as_secs_f64(),
                max.as_secs_f64()
            ));
        }
        Assessment {
            verdict,
            reasons,
            cwd,
            sandbox,
            policy: policy.source.clone(),
        }
    }

    /// The policy's verdict on a job that is to run. Refusals are written to the audit log
    /// here; the caller logs the allowed ones once the job has an id.
    pub(super) fn vet(&self, r: &JobRequest) -> Result<Vetted, JobError> {
        let Assessment {
            verdict,
            reasons,
            cwd,
            sandbox,
            ..
        } = self.assess(r);
        if !reasons.is_empty() {
            self.audit.write(&Record {
                tool: "execute",
                host: &r.host,
                command: &r.command,
                cwd: Some(&cwd.display().to_string()),
                job_id: None,
                allowed: false,
                rules: &verdict.rules,
                reasons: &reasons,
                input: None,
                sandbox: None,
            });
            return Err(JobError::Refused(format!(
                "{} (use the `check` tool to see how the policy reads a command)",
                reasons.join("; ")
            )));
        }
        let host_max = self.hosts.get(&r.host).and_then(|(h, _)| h.max_timeout);
        if let (Some(t), Some(max)) = (r.timeout, host_max)
            && t > max
        {
            return Err(JobError::BadRequest(format!(
                "`timeout` {}s exceeds host {}'s maximum of {}s",
                t.as_secs_f64(),
                r.host,
                max.as_secs_f64()
            )));
        }
        let policy = self.policy_for(&r.host);
        let clear_env = policy.env_pass.is_some();
        let mut job_env: Vec<(String, String)> = Vec::new();
        if clear_env {
            job_env.extend(std::env::vars().filter(|(k, _)| policy.passes_env(k)));
        }
        job_env.extend(r.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        job_env.extend(policy.hardening_env());
        Ok(Vetted {
            rule: (!verdict.rules.is_empty()).then(|| verdict.rules.join(", ")),
            stdin: verdict.stdin,
            timeout: self.limits.default_timeout,
            clear_env,
            env: job_env,
            cwd,
            sandbox,
        })
    }

    /// What `execute` would decide for `r`, without running it: the same validation (an empty
    /// command, an unknown host are errors, as for `execute`) and the same vetting. Audited.
    pub fn check(&self, r: &JobRequest) -> Result<Assessment, JobError> {
        self.validate(r)?;
        self.executor(&r.host)?;
        let a = self.assess(r);
        let sandbox = a.sandbox.as_ref().map(SandboxSummary::text);
        self.audit.write(&Record {
            tool: "check",
            host: &r.host,
            command: &r.command,
            cwd: Some(&a.cwd.display().to_string()),
            job_id: None,
            allowed: a.reasons.is_empty(),
            rules: &a.verdict.rules,
            reasons: &a.reasons,
            input: None,
            sandbox: sandbox.as_deref(),
        });
        Ok(a)
    }
}
