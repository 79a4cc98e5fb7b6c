//! Sessions that registered something (behaviour.md §5.6), and how the
//! registrations a script made are applied.
//!
//! Only a session that registered something is linked into the sessions list; a
//! script that only runs lives as long as its execution. `ID` names a session (40
//! random hex characters otherwise); `UPGRADE` replaces the registrations of the
//! session with that id, `REPLACE_WITH <old>` those of another one. The replaced
//! registrations stay live until the new script has succeeded, so a failing upgrade
//! changes nothing.

use super::streams::StreamRegistration;
use super::{add, call_on_registered, remove, Registered, RegistrationEntry};
use crate::state;
use gears_executions::plan::Plan;
use gears_executions::run_log::RunLog;
use gears_executions::serial::SerialQueue;
use gears_protocol::replies::SessionView;
use gears_protocol::request::PyExecute;
use gears_protocol::{errors, GearsId, Reply};
use gears_python::builder::PendingRegistration;
use gears_python::event_run::EventSteps;
use gears_python::pyo3::{Py, PyAny};
use gears_registrations::persist::{SavedEntry, SavedRegistration};
use gears_registrations::registration::{Mode, ReaderArgs, Registration, Stats};
use redis_module::Context;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

/// A session that registered something.
#[derive(Debug)]
pub struct SessionRecord {
    /// Its id.
    pub id: String,
    /// Its description.
    pub description: Option<String>,
    registrations: Mutex<Vec<GearsId>>,
}

impl SessionRecord {
    fn registrations(&self) -> MutexGuard<'_, Vec<GearsId>> {
        self.registrations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The `PD` string of RG.DUMPREGISTRATIONS.
    pub fn private_data(&self) -> String {
        let registrations: Vec<String> = self
            .registrations()
            .iter()
            .map(ToString::to_string)
            .collect();
        let view = SessionView {
            id: self.id.clone(),
            description: self.description.clone(),
            // The sessions list holds it, and so does each registration.
            ref_count: i64::try_from(registrations.len() + 1).unwrap_or(i64::MAX),
            linked: "primary",
            dead: false,
            installation_needed: false,
            registrations,
            requirements: Vec::new(),
        };
        gears_protocol::replies::session_private_data(&view)
    }
}

static SESSIONS: Mutex<Vec<Arc<SessionRecord>>> = Mutex::new(Vec::new());

fn sessions() -> MutexGuard<'static, Vec<Arc<SessionRecord>>> {
    SESSIONS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Forgets an unregistered registration of `session`. A session left without
/// registrations leaves the list, as RedisGears frees a session nothing refers to:
/// its memory goes, and its id may be used again.
pub fn forget(session: &Arc<SessionRecord>, id: &GearsId) {
    // Lock order: the list, then a session's registrations (as `install`).
    let mut all = sessions();
    let mut registrations = session.registrations();
    registrations.retain(|kept| kept != id);
    if registrations.is_empty() {
        all.retain(|listed| !Arc::ptr_eq(listed, session));
    }
}

fn find(id: &str) -> Option<Arc<SessionRecord>> {
    sessions().iter().find(|s| s.id == id).cloned()
}

thread_local! {
    /// The registrations the script running on this thread is about to replace.
    static REPLACING: RefCell<Vec<GearsId>> = const { RefCell::new(Vec::new()) };
}

/// The registrations the running script replaces (for the trigger-name check).
pub fn replacing() -> Vec<GearsId> {
    REPLACING.with(|r| r.borrow().clone())
}

/// What a script's session options decided before it runs.
#[derive(Debug)]
pub struct SessionPlan {
    id: Option<String>,
    description: Option<String>,
    /// The session whose registrations the script replaces.
    replaced: Option<Arc<SessionRecord>>,
}

/// Checks RG.PYEXECUTE's session options (§5.6) before the script runs.
pub fn plan_session(request: &PyExecute) -> Result<SessionPlan, Reply> {
    let existing = request.id.as_deref().and_then(find);
    let replaced = match &request.replace_with {
        Some(old) => {
            let old = String::from_utf8_lossy(old).into_owned();
            let Some(old_session) = find(&old) else {
                return Err(errors::can_not_replace_missing_session(&old));
            };
            if let (Some(id), Some(_)) = (&request.id, &existing) {
                if *id != old {
                    return Err(errors::can_not_replace_existing_session(id, &old));
                }
            }
            Some(old_session)
        }
        None => match existing {
            Some(_) if !request.upgrade => {
                let id = request.id.clone().unwrap_or_default();
                return Err(errors::session_already_exists(&id));
            }
            existing => existing,
        },
    };
    Ok(SessionPlan {
        id: request.id.clone(),
        description: request
            .description
            .as_ref()
            .map(|d| String::from_utf8_lossy(d).into_owned()),
        replaced,
    })
}

/// Runs `body` (the script) with the replaced registrations known to the checks.
pub fn with_replacing<R>(plan: &SessionPlan, body: impl FnOnce() -> R) -> R {
    let ids = plan
        .replaced
        .as_ref()
        .map(|s| s.registrations().clone())
        .unwrap_or_default();
    let previous = REPLACING.with(|r| r.replace(ids));
    let result = body();
    REPLACING.with(|r| r.replace(previous));
    result
}

/// After a successful script: removes what it replaces and applies its
/// registrations (calling their `onRegistered`), replicating both. Returns whether
/// it registered anything.
pub fn apply(ctx: &Context, plan: SessionPlan, pending: Vec<PendingRegistration>) -> bool {
    if let Some(replaced) = &plan.replaced {
        let ids = replaced.registrations().clone();
        for id in ids {
            if remove(&id, false) {
                super::persist::replicate_unregister(ctx, &id, false);
            }
        }
        sessions().retain(|s| !Arc::ptr_eq(s, replaced));
    }
    if pending.is_empty() {
        return false;
    }
    let session_id = plan.id.unwrap_or_else(random_session_id);
    let mut applied = Vec::new();
    for registration in pending {
        let saved = SavedRegistration {
            id: registration.id,
            reader: registration.args.reader,
            mode: registration.args.mode,
            description: registration.plan.description.clone(),
            session_id: session_id.clone(),
            session_description: plan.description.clone(),
        };
        let saved = SavedEntry {
            registration: saved,
            plan: registration.pickled,
        };
        super::persist::replicate_register(ctx, &saved);
        if let Some(entry) = install(saved, registration.plan, registration.args.on_registered) {
            applied.push(entry);
        }
    }
    // RedisGears distributes the registrations with an internal plan and execution,
    // which take one id of each counter.
    if let Some(engine) = state::engine() {
        engine.store.next_plan_id();
        engine.store.next_execution_id();
    }
    for entry in &applied {
        activate(entry);
    }
    true
}

/// Adds a registration to the registry and to its session (created if needed); the
/// caller calls [`activate`] when it may start working.
pub fn install(
    saved: SavedEntry,
    plan: Plan,
    on_registered: Option<Py<PyAny>>,
) -> Option<Arc<RegistrationEntry>> {
    let SavedEntry {
        registration,
        plan: pickled,
    } = saved;
    let Ok(id) = registration.id.parse::<GearsId>() else {
        crate::log::warning(&format!(
            "registration {} has no valid id; it was dropped",
            registration.id
        ));
        return None;
    };
    // Ids that come back from an RDB or a master push the counter past them.
    if let Some(engine) = state::engine() {
        engine.store.observe_plan_id(id);
    }
    let session = {
        let mut all = sessions();
        let session = match all.iter().find(|s| s.id == registration.session_id) {
            Some(session) => session.clone(),
            None => {
                let session = Arc::new(SessionRecord {
                    id: registration.session_id.clone(),
                    description: registration.session_description.clone(),
                    registrations: Mutex::new(Vec::new()),
                });
                all.push(session.clone());
                session
            }
        };
        // Under the list's lock: a session is never listed without registrations.
        session.registrations().push(id);
        session
    };
    let stream = match &registration.reader {
        ReaderArgs::Stream(args) => Some(StreamRegistration::new(args)),
        _ => None,
    };
    let model = Registration {
        id,
        reader: registration.reader.clone(),
        description: registration.description.clone(),
        mode: registration.mode,
        session_id: session.id.clone(),
        stats: Stats::default(),
    };
    let batching = match (&registration.reader, registration.mode) {
        (ReaderArgs::Keys(_), Mode::Async | Mode::AsyncLocal) => {
            Some(Arc::new(super::batching::LockBatching::default()))
        }
        _ => None,
    };
    let scope = batching
        .clone()
        .map(|batching| batching as Arc<dyn gears_executions::serial::DrainScope>);
    let plan = Arc::new(plan);
    // A sync KeysReader registration keeps its runs in a log; `commands=` ones
    // do not: their executions are linked to the command that fired them.
    let runs = match (&registration.reader, registration.mode) {
        (ReaderArgs::Keys(args), Mode::Sync) if args.commands.is_none() => {
            Some(Arc::new(RunLog::new(plan.clone())))
        }
        _ => None,
    };
    let event_steps = runs
        .as_ref()
        .and_then(|_| EventSteps::for_plan(&plan.steps));
    let payload = Registered {
        plan,
        session,
        on_registered,
        queue: SerialQueue::with_scope(
            Arc::new(|message: String| {
                crate::log::warning(&format!(
                    "internal error in a registration's execution: panic: {message}"
                ));
            }),
            scope,
        ),
        batching,
        recent: Mutex::new(Default::default()),
        runs,
        event_steps,
        aborted_below: AtomicU64::new(0),
        unregistered: AtomicBool::new(false),
        running: Mutex::new(None),
        stream,
        key_specs: OnceLock::new(),
        saved: SavedEntry {
            registration,
            plan: pickled,
        },
    };
    Some(add(model, payload))
}

/// Starts an installed registration (the Redis lock held): the key positions of the
/// commands it hooks, `onRegistered`, and a StreamReader's first scan.
pub fn activate(entry: &Arc<RegistrationEntry>) {
    let reader = entry.registration().reader.clone();
    entry.payload().key_specs.get_or_init(|| {
        crate::redis_access::with_redis(|ctx| super::hooks::key_specs(ctx, &reader))
    });
    call_on_registered(entry);
    super::streams::start(entry);
}

/// Forgets every session (loading starts from nothing).
pub fn clear() {
    sessions().clear();
}

/// 40 random hex characters, the id of a session without `ID`.
pub fn random_session_id() -> String {
    let mut bytes = [0u8; 20];
    // SAFETY: getrandom writes at most `bytes.len()` bytes into the buffer.
    let filled = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if usize::try_from(filled).ok() != Some(bytes.len()) {
        // No entropy source: fall back on the clock and the process id, which is
        // unique enough for a name.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let seed = nanos ^ (u128::from(std::process::id()) << 64);
        bytes[..16].copy_from_slice(&seed.to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
