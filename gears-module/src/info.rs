//! The module's INFO section.
//!
//! Redis prefixes module INFO with the module name: the default section is `# rg`
//! and its fields are `rg_<field>`, which is what RedisGears' users and tests read
//! (`rg_nexecutions`, `rg_nregistrations`). The callback is registered in `init`
//! (replacing redis-module's generic one) so that it runs behind `catch_unwind`.

use redis_module::raw;
use std::os::raw::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What the default section reports.
pub struct Counts {
    /// Executions held in the execution store.
    pub executions: i64,
    /// Registrations held in the registry.
    pub registrations: i64,
}

/// The current counts.
fn counts() -> Counts {
    let executions = crate::state::engine().map_or(0, |engine| engine.store.len());
    Counts {
        executions: i64::try_from(executions).unwrap_or(i64::MAX),
        registrations: i64::try_from(crate::registrations::count()).unwrap_or(i64::MAX),
    }
}

/// The `RedisModuleInfoFunc` of the module.
pub extern "C" fn info_callback(ctx: *mut raw::RedisModuleInfoCtx, _for_crash_report: c_int) {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let counts = counts();
        raw::add_info_section(ctx, None);
        raw::add_info_field_long_long(ctx, "nexecutions", counts.executions);
        raw::add_info_field_long_long(ctx, "nregistrations", counts.registrations);
    }));
    if outcome.is_err() {
        crate::log::warning("internal error while writing the INFO section");
    }
}
