//! Jobs as MCP resources: `job://{id}/output` (the cleaned tail, with a cursor hint) and
//! `job://{id}/status` (the status JSON). Subscribers get `notifications/resources/updated`,
//! at most every [`UPDATE_EVERY`], on new output and when the job ends.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rmcp::model::{
    ListResourceTemplatesResult, ListResourcesResult, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate, ResourceUpdatedNotificationParam, SubscriptionFilter,
};
use rmcp::service::SubscriptionContext;
use rmcp::{ErrorData, Peer, RoleServer};
use tokio::sync::broadcast::error::RecvError;

use super::replies::JobStatus;
use crate::config::bounds;
use crate::jobs::{Job, JobManager, ListFilter};
use crate::output::{Select, view};

/// Least time between two update notifications for one resource.
const UPDATE_EVERY: Duration = Duration::from_millis(500);
/// Lines of output a resource read returns.
const RESOURCE_LINES: usize = 200;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Output,
    Status,
}

fn parse(uri: &str) -> Option<(&str, Kind)> {
    let rest = uri.strip_prefix("job://")?;
    let (id, what) = rest.split_once('/')?;
    let kind = match what {
        "output" => Kind::Output,
        "status" => Kind::Status,
        _ => return None,
    };
    Some((id, kind))
}

pub fn list(manager: &JobManager) -> ListResourcesResult {
    let mut resources = Vec::new();
    for job in manager
        .list(&ListFilter::default())
        .iter()
        .take(bounds::MAX_LIST)
    {
        let title = super::replies::one_line(&job.request.command, 80);
        resources.push(
            Resource::new(
                format!("job://{}/output", job.id),
                format!("{} output", job.id),
            )
            .with_description(format!("Output of job {}: {title}", job.id))
            .with_mime_type("text/plain"),
        );
        resources.push(
            Resource::new(
                format!("job://{}/status", job.id),
                format!("{} status", job.id),
            )
            .with_description(format!("Status of job {}: {title}", job.id))
            .with_mime_type("application/json"),
        );
    }
    ListResourcesResult::with_all_items(resources)
}

pub fn templates() -> ListResourceTemplatesResult {
    ListResourceTemplatesResult::with_all_items(vec![
        ResourceTemplate::new("job://{id}/output", "job output")
            .with_description("A job's output: the last lines, cleaned, with the cursor to read on with `output`.")
            .with_mime_type("text/plain"),
        ResourceTemplate::new("job://{id}/status", "job status")
            .with_description("A job's status, as the `status` tool returns it.")
            .with_mime_type("application/json"),
    ])
}

fn job_of(manager: &JobManager, uri: &str) -> Result<(Arc<Job>, Kind), ErrorData> {
    let (id, kind) = parse(uri).ok_or_else(|| {
        ErrorData::invalid_params(
            format!("unknown resource {uri:?}: use job://ID/output or job://ID/status"),
            None,
        )
    })?;
    let job = manager
        .get(id)
        .map_err(|e| ErrorData::resource_not_found(e.to_string(), None))?;
    Ok((job, kind))
}

pub fn read(manager: &JobManager, uri: &str) -> Result<ReadResourceResult, ErrorData> {
    let (job, kind) = job_of(manager, uri)?;
    let text = match kind {
        Kind::Status => serde_json::to_string_pretty(&JobStatus::of(&job))
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?,
        Kind::Output => {
            let t = view::tail(
                &job.output,
                RESOURCE_LINES,
                Select::Combined,
                None,
                bounds::DEFAULT_MAX_BYTES,
                false,
            )
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
            let state = job.phase().name().as_str();
            format!(
                "{}\n[{} {state}; last {} line(s); new output will start at cursor {}: read it with the `output` tool and since={}]",
                t.text, job.id, t.lines, t.cursor, t.cursor
            )
        }
    };
    let mime = if kind == Kind::Status {
        "application/json"
    } else {
        "text/plain"
    };
    Ok(ReadResourceResult::new(vec![
        ResourceContents::text(text, uri).with_mime_type(mime),
    ]))
}

/// Waits for changes of one job's resource and calls `notify` for each, at most every
/// [`UPDATE_EVERY`], until the job has ended (one last notice) or `notify` fails (the client or
/// its subscription is gone). Shared by the legacy `resources/subscribe` and by
/// `subscriptions/listen`.
async fn watch_job<F, Fut>(job: Arc<Job>, notify: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    loop {
        let changed = job.output.changed();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if job.is_ended() {
            return;
        }
        changed.await;
        // Notifications are rate-limited: one per interval at most.
        tokio::time::sleep(UPDATE_EVERY).await;
        if !notify().await {
            return;
        }
    }
}

/// Waits for jobs to come and go and calls `notify`, at most twice a second, until `notify`
/// fails or the manager is gone.
pub async fn watch_listing<F, Fut>(manager: &JobManager, notify: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let mut listing = manager.listing();
    loop {
        match listing.recv().await {
            Ok(()) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
        tokio::time::sleep(UPDATE_EVERY).await;
        while listing.try_recv().is_ok() {}
        if !notify().await {
            return;
        }
    }
}

/// What a `subscriptions/listen` request gets: resource list changes, and updates of the
/// job resources that exist (unknown URIs are left out of the acknowledgement).
pub fn accepted_filter(manager: &JobManager, requested: &SubscriptionFilter) -> SubscriptionFilter {
    let uris: Vec<String> = requested
        .resource_subscriptions
        .iter()
        .flatten()
        .filter(|uri| job_of(manager, uri).is_ok())
        .take(bounds::MAX_LIST)
        .cloned()
        .collect();
    let mut accepted = SubscriptionFilter::new();
    accepted.resources_list_changed = requested.resources_list_changed.filter(|on| *on);
    accepted.resource_subscriptions = (!uris.is_empty()).then_some(uris);
    accepted
}

/// Serves one `subscriptions/listen` stream until the client cancels it.
pub async fn listen(manager: Arc<JobManager>, context: SubscriptionContext) {
    let sink = context.sink().clone();
    let mut watchers = tokio::task::JoinSet::new();
    for uri in context.accepted().resource_subscriptions.iter().flatten() {
        let Ok((job, _)) = job_of(&manager, uri) else {
            continue;
        };
        let (sink, uri) = (sink.clone(), uri.clone());
        watchers.spawn(async move {
            watch_job(job, || async {
                sink.notify_resource_updated(uri.clone()).await.is_ok()
            })
            .await;
        });
    }
    if context.accepted().resources_list_changed == Some(true) {
        let (sink, manager) = (sink.clone(), Arc::clone(&manager));
        watchers.spawn(async move {
            watch_listing(&manager, || async {
                sink.notify_resource_list_changed().await.is_ok()
            })
            .await;
        });
    }
    context.cancelled().await;
    watchers.abort_all();
}

/// Legacy (`resources/subscribe`) subscriptions: one watcher task per (client, resource).
#[derive(Default, Clone)]
pub struct Subscriptions {
    watchers: Arc<Mutex<HashMap<String, tokio::task::AbortHandle>>>,
}

impl Subscriptions {
    pub fn subscribe(
        &self,
        manager: &JobManager,
        uri: &str,
        peer: Peer<RoleServer>,
    ) -> Result<(), ErrorData> {
        let (job, _) = job_of(manager, uri)?;
        let owned = uri.to_string();
        let task = tokio::spawn(async move {
            watch_job(job, || async {
                let param = ResourceUpdatedNotificationParam::new(owned.clone());
                peer.notify_resource_updated(param).await.is_ok()
            })
            .await;
        });
        let old = self
            .watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(uri.to_string(), task.abort_handle());
        if let Some(old) = old {
            old.abort();
        }
        Ok(())
    }

    pub fn unsubscribe(&self, uri: &str) {
        if let Some(h) = self
            .watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(uri)
        {
            h.abort();
        }
    }
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        // Only the last clone stops the watchers.
        if Arc::strong_count(&self.watchers) == 1 {
            for (_, h) in self
                .watchers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .drain()
            {
                h.abort();
            }
        }
    }
}
