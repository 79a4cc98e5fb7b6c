//! Registrations in bytes: the plan and `onRegistered`, pickled with `cloudpickle`
//! (behaviour.md §5.7), for the RDB and for replicas.
//!
//! A plan is pickled as the operations its builder was given, with their
//! arguments: `(reader, description, [(op, args), ...], onRegistered)`. Unpickling
//! replays them on a new builder, which rebuilds the same steps (native sugar
//! included) without taking a plan id. Functions a script defined are pickled by
//! value, as RedisGears does, so they need nothing of the session to come back.

use crate::builder::PyFlatExecution;
use crate::gears_module::GearsError;
use gears_executions::plan::Plan;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

fn cloudpickle(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    py.import("cloudpickle")
}

/// The name a failing callback is reported by.
fn callback_name(object: &Bound<'_, PyAny>) -> String {
    object
        .getattr("__name__")
        .and_then(|name| name.extract::<String>())
        .unwrap_or_else(|_| {
            object
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        })
}

/// Pickles a registration's plan. An object cloudpickle cannot serialize gives
/// RedisGears' error, naming the callback that holds it.
pub fn pickle_plan(
    py: Python<'_>,
    reader: &str,
    description: Option<&str>,
    ops: &[(&'static str, Py<PyTuple>)],
    on_registered: Option<&Py<PyAny>>,
) -> PyResult<Vec<u8>> {
    let pickle = cloudpickle(py)?;
    let op_list = PyList::empty(py);
    for (op, args) in ops {
        op_list.append((*op, args.bind(py)))?;
    }
    let on_registered = match on_registered {
        Some(function) => function.bind(py).clone(),
        None => py.None().into_bound(py),
    };
    let whole = (reader, description, &op_list, &on_registered);
    match pickle.call_method1("dumps", (whole,)) {
        Ok(bytes) => Ok(bytes.cast::<PyBytes>()?.as_bytes().to_vec()),
        Err(error) => {
            // Find the callback that cannot be pickled, for the message.
            let mut culprit = None;
            let candidates = ops
                .iter()
                .flat_map(|(_, args)| args.bind(py).iter().collect::<Vec<_>>())
                .chain(std::iter::once(on_registered.clone()));
            for candidate in candidates {
                if let Err(error) = pickle.call_method1("dumps", (&candidate,)) {
                    culprit = Some((callback_name(&candidate), error));
                    break;
                }
            }
            let (name, error) = culprit.unwrap_or_else(|| ("plan".to_owned(), error));
            Err(GearsError::new_err(format!(
                "Error occured when serialized a python callback, callback={name} error={}",
                error.value(py)
            )))
        }
    }
}

/// A registration's plan and `onRegistered`, back from [`pickle_plan`]'s bytes.
pub fn unpickle_plan(py: Python<'_>, bytes: &[u8]) -> Result<(Plan, Option<Py<PyAny>>), String> {
    let rebuild = || -> PyResult<(Plan, Option<Py<PyAny>>)> {
        let whole = cloudpickle(py)?.call_method1("loads", (PyBytes::new(py, bytes),))?;
        let (reader, description, ops, on_registered): (
            String,
            Option<String>,
            Bound<'_, PyList>,
            Bound<'_, PyAny>,
        ) = whole.extract()?;
        let builder = Bound::new(py, PyFlatExecution::without_id(reader, description))?;
        for op in ops.iter() {
            let (name, args): (String, Bound<'_, PyTuple>) = op.extract()?;
            builder.call_method1(name.as_str(), args)?;
        }
        let plan = builder.borrow().plan();
        let on_registered = (!on_registered.is_none()).then(|| on_registered.unbind());
        Ok((plan, on_registered))
    };
    rebuild().map_err(|error| {
        format!(
            "Error occured when deserialized a python callback, error={}",
            error.value(py)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::with_script_context;
    use crate::session::Session;
    use crate::test_support::python;

    /// The registrations a script makes (no host: nothing is verified, ids empty).
    fn register(script: &str) -> Result<Vec<crate::builder::PendingRegistration>, String> {
        python();
        Python::attach(|py| {
            let session = Session::new(py).map_err(|e| e.text)?;
            let (result, context) =
                with_script_context(|| session.run_script(py, script.as_bytes(), false));
            result.map_err(|e| e.text)?;
            Ok(context.registrations)
        })
    }

    /// Each step's type, name and callback repr, without the object's address (the
    /// unpickled functions are new objects).
    fn describe(plan: &Plan) -> Vec<(String, String, String)> {
        plan.steps
            .iter()
            .map(|s| {
                let arg = s.arg();
                let arg = arg.split(" at 0x").next().unwrap_or_default().to_owned();
                (s.kind.type_name().to_owned(), s.name.clone(), arg)
            })
            .collect()
    }

    #[test]
    fn a_plan_comes_back_with_the_same_steps() {
        let registrations = register(
            "def setup():\n    pass\n\
             GB('KeysReader', desc='d').map(lambda r: r['key']).filter(lambda k: k).countby().avg()\
             .aggregate(0, lambda a, r: a, lambda a, r: a).limit(3, 1).register(prefix='p:*', onRegistered=setup)",
        )
        .expect("the script registers");
        assert_eq!(registrations.len(), 1);
        let original = &registrations[0];
        python();
        Python::attach(|py| {
            let (plan, on_registered) = unpickle_plan(py, &original.pickled).expect("it unpickles");
            assert_eq!(describe(&plan), describe(&original.plan));
            assert_eq!(plan.reader, "KeysReader");
            assert_eq!(plan.description.as_deref(), Some("d"));
            let on_registered = on_registered.expect("onRegistered comes back");
            assert!(on_registered.call0(py).expect("it runs").is_none(py));
        });
    }

    #[test]
    fn what_cannot_be_pickled_is_named() {
        let error = register(
            "import threading\nlock = threading.Lock()\n\
             def holds_lock(r):\n    return lock\n\
             GB().map(holds_lock).register()",
        )
        .expect_err("the lock can not be pickled");
        assert!(
            error.contains("Error occured when serialized a python callback, callback=holds_lock error=cannot pickle '_thread.lock' object"),
            "{error}"
        );
    }

    #[test]
    fn corrupt_bytes_are_an_error() {
        python();
        Python::attach(|py| {
            let error = unpickle_plan(py, b"not a pickle").expect_err("garbage");
            assert!(
                error.starts_with("Error occured when deserialized a python callback, error="),
                "{error}"
            );
        });
    }
}
